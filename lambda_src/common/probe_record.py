"""A probe attempt as it is published: shared by the probe (writer) and the decider (reader).

The probe writes one item per attempt into its *own* region's failover table; the decider
of any region reads it from there (``lambda_src.failover.store``). Item layout:
``pk=attempt#<global cluster>#<region>``, ``sk=<epoch ms, 15 digits>``, attributes ``at``
(epoch ms), ``verdict``, ``reason``, ``writer_region``, ``local_ok``, ``replica_newest``
(epoch ms of the newest heartbeat in the local replica) and ``expires_at`` (TTL).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Attempts older than this are never read again (the longest window is far shorter).
ATTEMPT_RETENTION_SECONDS = 6 * 3600


class Verdict(StrEnum):
    ALIVE = "alive"
    """The heartbeat write committed on the writer."""
    DEAD = "dead"
    """The writer refused or did not answer, and this vantage's own side worked."""
    INCONCLUSIVE = "inconclusive"
    """The probe could not tell (own secret, auth, TLS, own region, local errors)."""


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One probe attempt as its region published it."""

    region: str
    """The probe's (vantage's) region."""
    at: float
    """Start of the attempt, epoch seconds."""
    verdict: Verdict
    reason: str
    writer_region: str | None
    """The writer the probe aimed at (None when it could not find one)."""
    local_ok: bool = False
    """The probe read its own region's replica of the heartbeat table."""
    replica_newest: float | None = None
    """Newest heartbeat commit time (writer clock) in that local replica, None if unread/empty."""


def ms(value: float) -> int:
    return round(value * 1000)


def number(item: dict[str, Any], name: str) -> float | None:
    raw = item.get(name, {}).get("N")
    return int(raw) / 1000 if raw is not None else None


def attempt_item(global_cluster_id: str, attempt: Attempt) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": f"attempt#{global_cluster_id}#{attempt.region}"},
        "sk": {"S": f"{ms(attempt.at):015d}"},
        "at": {"N": str(ms(attempt.at))},
        "verdict": {"S": str(attempt.verdict)},
        "reason": {"S": attempt.reason},
        "local_ok": {"BOOL": attempt.local_ok},
        "expires_at": {"N": str(int(attempt.at) + ATTEMPT_RETENTION_SECONDS)},
    }
    if attempt.writer_region:
        item["writer_region"] = {"S": attempt.writer_region}
    if attempt.replica_newest is not None:
        item["replica_newest"] = {"N": str(ms(attempt.replica_newest))}
    return item


def parse_attempt(region: str, item: dict[str, Any]) -> Attempt:
    """An item back into an Attempt; anything malformed is an inconclusive attempt."""
    at = number(item, "at") or 0.0
    try:
        verdict = Verdict(item.get("verdict", {}).get("S", ""))
    except ValueError:
        return Attempt(
            region=region, at=at, verdict=Verdict.INCONCLUSIVE, reason="malformed_record", writer_region=None
        )
    return Attempt(
        region=region,
        at=at,
        verdict=verdict,
        reason=item.get("reason", {}).get("S", ""),
        writer_region=item.get("writer_region", {}).get("S"),
        local_ok=bool(item.get("local_ok", {}).get("BOOL", False)),
        replica_newest=number(item, "replica_newest"),
    )
