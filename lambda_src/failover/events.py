"""Recognising what started the decider: its own region's schedule, or an operator's test call.

The decider is never triggered by an alarm or a topic of the writer's region (issue 13,
"where it runs"): a dead region sends nothing. An EventBridge schedule in its own region
starts it every minute and it loops at DECIDER_INTERVAL_SECONDS; ``{"action": "evaluate"}``
runs one evaluation (for a drill or a test invoke).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_src.common.errors import LambdaCodeError


class UnsupportedEvent(LambdaCodeError):
    """The event is neither a scheduled event nor a direct evaluate request."""


@dataclass(frozen=True, kw_only=True)
class Trigger:
    source: str
    """"schedule" (loop until the invocation's budget) or "direct" (one evaluation)."""
    region: str | None = None
    time: str | None = None

    @property
    def loop(self) -> bool:
        return self.source == "schedule"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "region": self.region, "time": self.time}


def parse_trigger(event: Any) -> Trigger:
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"event is a {type(event).__name__}, not an object")
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return Trigger(source="schedule", region=event.get("region"), time=event.get("time"))
    if event.get("action") == "evaluate":
        return Trigger(source="direct")
    raise UnsupportedEvent('expected an EventBridge "Scheduled Event" or {"action": "evaluate"}')
