"""The failover rule table: a pure function from observed facts to a decision.

No AWS calls here, so every row of the table is tested without mocks. The rules are
ordered so that the reason reported is the most fundamental one that applies (nothing
to do, then something else in progress, then the primary, then this region).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    FAILOVER = "failover"
    REFUSE = "refuse"
    DRY_RUN = "dry_run"


class Reason(StrEnum):
    """Why a decision was taken; each refusal has its own code so alerts can tell them apart."""

    # Refusals decided from the facts.
    FACTS_UNAVAILABLE = "facts_unavailable"
    SECONDARY_NOT_MEMBER = "secondary_not_member"
    ALREADY_WRITER = "already_writer"
    GLOBAL_CLUSTER_BUSY = "global_cluster_busy"
    PRIMARY_HEALTHY = "primary_healthy"
    PRIMARY_NOT_UNHEALTHY_LONG_ENOUGH = "primary_not_unhealthy_long_enough"
    SECONDARY_UNREACHABLE = "secondary_unreachable"
    LAG_UNKNOWN = "lag_unknown"
    LAG_OVER_BUDGET = "lag_over_budget"
    COOLDOWN = "cooldown"
    LOCK_HELD = "lock_held"
    # Refusal decided when taking the lock (DynamoDB error, not a held lock).
    LOCK_UNAVAILABLE = "lock_unavailable"
    # Every guard passed: ``decide`` returns this with FAILOVER or DRY_RUN.
    CONDITIONS_MET = "conditions_met"
    # Outcomes of the failover call, reported with action FAILOVER.
    FAILOVER_STARTED = "failover_started"
    FAILOVER_REJECTED = "failover_rejected"
    FAILOVER_OUTCOME_UNKNOWN = "failover_outcome_unknown"


# Statuses of an operation that is over; anything else in FailoverState means busy. The RDS
# API Reference (FailoverState) lists pending, failing-over, cancelling and switching-over and
# leaves FailoverState empty when nothing is in progress; finished values are accepted defensively.
FINISHED_FAILOVER_STATES = frozenset({"completed", "cancelled"})


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One CloudWatch datapoint: the period's start time and its statistic."""

    timestamp: datetime
    value: float

    def as_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp.isoformat(), "value": self.value}


@dataclass(frozen=True, kw_only=True)
class GlobalClusterView:
    """What DescribeGlobalClusters says about the global cluster and this secondary."""

    status: str
    failover_status: str | None = None
    """FailoverState.Status, None when no switchover or failover is in progress."""
    secondary_is_member: bool = True
    secondary_is_writer: bool = False
    writer_arn: str | None = None


@dataclass(frozen=True, kw_only=True)
class LockState:
    """The lock table's item for this global cluster (all None when it does not exist)."""

    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_failover_at: datetime | None = None
    last_outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class Facts:
    """Everything the rules look at, read fresh on every invocation (never from the event)."""

    primary_writer_health: tuple[Sample, ...] = ()
    """The primary's WriterHealthy over the last UNHEALTHY_MINUTES, one sample per minute
    that has data; minutes without data are simply absent."""
    secondary_reachable: Sample | None = None
    """This region's latest Reachable datapoint, None when there is none."""
    lag_ms: float | None = None
    """Maximum replication/RPO lag of this secondary over the last minutes, None if unknown."""
    lag_metric: str | None = None
    global_cluster: GlobalClusterView | None = None
    lock: LockState | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Fact name -> error, for facts that could not be read."""

    def as_dict(self) -> dict[str, Any]:
        gc = self.global_cluster
        lock = self.lock
        return {
            "primary_writer_health": [s.as_dict() for s in self.primary_writer_health],
            "secondary_reachable": self.secondary_reachable.as_dict() if self.secondary_reachable else None,
            "lag_ms": self.lag_ms,
            "lag_metric": self.lag_metric,
            "global_cluster_status": gc.status if gc else None,
            "failover_state": gc.failover_status if gc else None,
            "secondary_is_member": gc.secondary_is_member if gc else None,
            "secondary_is_writer": gc.secondary_is_writer if gc else None,
            "writer_arn": gc.writer_arn if gc else None,
            "lease_owner": lock.lease_owner if lock else None,
            "lease_expires_at": _iso(lock.lease_expires_at) if lock else None,
            "last_failover_at": _iso(lock.last_failover_at) if lock else None,
            "unavailable": dict(self.unavailable),
        }


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The environment's thresholds (validated in ``config``)."""

    unhealthy_minutes: int
    """How long the primary must have been unhealthy before failing over."""
    rpo_budget_seconds: float
    """Largest replication lag, i.e. data loss, the environment accepts in a failover."""
    cooldown_minutes: int
    """Minimum time between two failover actions on the same global cluster."""
    dry_run: bool = True
    """Evaluate and report only. Defaults to True."""
    period_seconds: int = 60
    """Period of the health metrics (standard resolution). Defaults to 60."""
    freshness_seconds: int = 180
    """How recent a datapoint must be (end of its period) to describe the present: health
    metrics are published once a minute and reach GetMetricData a minute or two later.
    Defaults to 180."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "unhealthy_minutes": self.unhealthy_minutes,
            "rpo_budget_seconds": self.rpo_budget_seconds,
            "cooldown_minutes": self.cooldown_minutes,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    reason: Reason
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": str(self.action), "reason": str(self.reason), "details": self.details}


def decide(facts: Facts, policy: Policy, now: datetime) -> Decision:
    """Apply the guards in order; the first that fails names the refusal."""
    observed = facts.as_dict()

    def refuse(reason: Reason, **extra: Any) -> Decision:
        return Decision(action=Action.REFUSE, reason=reason, details={"observed": observed, **extra})

    gc = facts.global_cluster
    if facts.unavailable or gc is None or facts.lock is None:
        missing = dict(facts.unavailable)
        if gc is None:
            missing.setdefault("global_cluster", "not observed")
        if facts.lock is None:
            missing.setdefault("lock", "not observed")
        return refuse(Reason.FACTS_UNAVAILABLE, unavailable=missing)

    if not gc.secondary_is_member:
        return refuse(Reason.SECONDARY_NOT_MEMBER)
    if gc.secondary_is_writer:
        return refuse(Reason.ALREADY_WRITER)
    if gc.status != "available" or (
        gc.failover_status is not None and gc.failover_status not in FINISHED_FAILOVER_STATES
    ):
        return refuse(Reason.GLOBAL_CLUSTER_BUSY)

    period = timedelta(seconds=policy.period_seconds)
    fresh_after = now - timedelta(seconds=policy.freshness_seconds)
    window_start = now - timedelta(minutes=policy.unhealthy_minutes)
    # A period that overlaps the window counts: a healthy minute straddling its start means
    # the primary has not been unhealthy for the whole window.
    in_window = [s for s in facts.primary_writer_health if s.timestamp + period > window_start]
    # Only 0 or no data is unhealthy. Missing minutes count as unhealthy on purpose: a
    # region that is down publishes nothing, so silence is the signal we fail over on.
    healthy = [s for s in in_window if s.value > 0]
    if healthy:
        newest = max(in_window, key=lambda s: s.timestamp)
        if newest.value > 0 and newest.timestamp + period >= fresh_after:
            return refuse(Reason.PRIMARY_HEALTHY)
        last_healthy_end = max(s.timestamp for s in healthy) + period
        return refuse(
            Reason.PRIMARY_NOT_UNHEALTHY_LONG_ENOUGH,
            unhealthy_for_seconds=max(0, int((now - last_healthy_end).total_seconds())),
            required_seconds=policy.unhealthy_minutes * 60,
        )

    reachable = facts.secondary_reachable
    if reachable is None or reachable.value < 1 or reachable.timestamp + period < fresh_after:
        return refuse(Reason.SECONDARY_UNREACHABLE)

    budget_ms = policy.rpo_budget_seconds * 1000
    if facts.lag_ms is None:
        return refuse(Reason.LAG_UNKNOWN, rpo_budget_ms=budget_ms)
    if facts.lag_ms > budget_ms:
        return refuse(Reason.LAG_OVER_BUDGET, rpo_budget_ms=budget_ms)

    lock = facts.lock
    cooldown = timedelta(minutes=policy.cooldown_minutes)
    if lock.last_failover_at is not None and now - lock.last_failover_at < cooldown:
        return refuse(Reason.COOLDOWN, cooldown_until=_iso(lock.last_failover_at + cooldown))
    if lock.lease_expires_at is not None and lock.lease_expires_at > now:
        return refuse(Reason.LOCK_HELD)

    action = Action.DRY_RUN if policy.dry_run else Action.FAILOVER
    return Decision(action=action, reason=Reason.CONDITIONS_MET, details={"observed": observed})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
