"""Recognising the trigger: the primary's writer-health alarm changing state.

Two shapes carry the same news: the EventBridge "CloudWatch Alarm State Change" event
(forwarded from the primary region's default bus) and the alarm's SNS notification
delivered to Lambda. The event only decides whether to look; the facts are read afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambda_src.common.errors import LambdaCodeError

# OK means recovery: nothing to evaluate. INSUFFICIENT_DATA is what a silent (dead)
# region's alarm shows when missing data is not treated as breaching, so it is evaluated.
EVALUATED_STATES = frozenset({"ALARM", "INSUFFICIENT_DATA"})


class UnsupportedEvent(LambdaCodeError):
    """The event is neither an alarm state-change event nor an SNS alarm notification."""


@dataclass(frozen=True, kw_only=True)
class Trigger:
    source: str
    """"eventbridge" or "sns"."""
    alarm_name: str
    state: str
    previous_state: str | None = None
    alarm_region: str | None = None
    changed_at: str | None = None

    @property
    def evaluate(self) -> bool:
        return self.source == "schedule" or self.state in EVALUATED_STATES

    @property
    def quiet_when_healthy(self) -> bool:
        """A scheduled re-check that finds a healthy primary is routine: log it, notify no one."""
        return self.source == "schedule"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "alarm_name": self.alarm_name,
            "state": self.state,
            "previous_state": self.previous_state,
            "alarm_region": self.alarm_region,
            "changed_at": self.changed_at,
        }


def _region_of_arn(arn: Any) -> str | None:
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[3] if len(parts) > 3 and parts[3] else None


def _from_eventbridge(event: dict[str, Any]) -> Trigger:
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("state"), dict):
        raise UnsupportedEvent("CloudWatch Alarm State Change event without detail.state")
    previous: dict[str, Any] = (
        detail["previousState"] if isinstance(detail.get("previousState"), dict) else {}
    )
    return Trigger(
        source="eventbridge",
        alarm_name=str(detail.get("alarmName", "")),
        state=str(detail["state"].get("value", "")),
        previous_state=previous.get("value"),
        # A forwarded event keeps the region it was emitted in.
        alarm_region=event.get("region"),
        changed_at=detail["state"].get("timestamp") or event.get("time"),
    )


def _from_sns(record: dict[str, Any]) -> Trigger:
    sns: dict[str, Any] = record["Sns"] if isinstance(record.get("Sns"), dict) else {}
    try:
        message = json.loads(sns.get("Message", ""))
    except (TypeError, json.JSONDecodeError):
        raise UnsupportedEvent("SNS message is not a CloudWatch alarm notification (not JSON)") from None
    if not isinstance(message, dict) or "NewStateValue" not in message:
        raise UnsupportedEvent("SNS message is not a CloudWatch alarm notification (no NewStateValue)")
    return Trigger(
        source="sns",
        alarm_name=str(message.get("AlarmName", "")),
        state=str(message["NewStateValue"]),
        previous_state=message.get("OldStateValue"),
        # The message's "Region" is a display name ("US East (N. Virginia)"); the ARN has the code.
        alarm_region=_region_of_arn(message.get("AlarmArn")) or _region_of_arn(sns.get("TopicArn")),
        changed_at=message.get("StateChangeTime"),
    )


def parse_trigger(event: Any) -> Trigger:
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"event is a {type(event).__name__}, not an object")
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        # The alarm notification fires once; the schedule re-checks every minute, so an outage
        # that lasts longer than the alarm's window is still acted on after unhealthy_minutes.
        return Trigger(
            source="schedule",
            alarm_name="",
            state="SCHEDULED",
            alarm_region=event.get("region"),
            changed_at=event.get("time"),
        )
    if (
        event.get("source") == "aws.cloudwatch"
        and event.get("detail-type") == "CloudWatch Alarm State Change"
    ):
        return _from_eventbridge(event)
    records = event.get("Records")
    if isinstance(records, list) and records:
        triggers = [
            _from_sns(r) for r in records if isinstance(r, dict) and r.get("EventSource") == "aws:sns"
        ]
        if triggers:
            # SNS delivers one record per invocation; should there be several, any alarm wins.
            return next((t for t in triggers if t.evaluate), triggers[0])
    raise UnsupportedEvent("expected an EventBridge 'CloudWatch Alarm State Change' event or an SNS record")
