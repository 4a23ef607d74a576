"""The failover rule table: a pure function from facts to a decision.

No AWS calls and no clock here: ``decide(facts, policy, now)`` is what every decider in
every region evaluates, and what the simulator drives. Times are epoch seconds (floats).

The quorum (issue 13): promote only when

* every *vantage point* (the probe of every region other than the writer's) has judged the
  writer dead for the whole window: each of its attempts in the window is ``dead``, they
  cover the window without a gap longer than ``max_gap_seconds``, the newest is fresh, and
  every attempt was aimed at the writer the global cluster names;
* no source saw the writer alive in the window (an ``alive`` attempt anywhere, a heartbeat
  committed in the window and replicated to the target, or the writer region's own health
  metric when it can be read: a *veto*, never a requirement);
* the estimated loss at the onset is known and within ``rpo_budget_seconds``;
* the target is healthy and is the deterministic choice: the first region of the
  environment's order (home region first, then secondary_regions) other than the writer
  whose cluster is a member, whose own local read worked and whose estimated loss is within
  budget. Every decider evaluates the same rule; only the chosen region's decider acts;
* the automation is armed, no flight holds the lock and the cooldown has passed.

A probe that could not decide is ``inconclusive``: it breaks the window, it is never dead.
Rows are ordered so the reason reported is the most fundamental that applies.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.failover.budget import CLOCK_SKEW_SECONDS, Timing

__all__ = ["Attempt", "Verdict"]  # re-exported: the rule table's inputs


class Action(StrEnum):
    FAILOVER = "failover"
    REFUSE = "refuse"
    DRY_RUN = "dry_run"


class Reason(StrEnum):
    """Why; each refusal has its own code so alerts and the simulator can tell them apart."""

    FACTS_UNAVAILABLE = "facts_unavailable"
    NOT_MEMBER = "not_member"
    ALREADY_WRITER = "already_writer"
    GLOBAL_CLUSTER_BUSY = "global_cluster_busy"
    VANTAGE_UNREADABLE = "vantage_unreadable"
    WRITER_ALIVE = "writer_alive"
    VANTAGE_INCONCLUSIVE = "vantage_inconclusive"
    WINDOW_INCOMPLETE = "window_incomplete"
    REPLICATION_NOT_STALLED = "replication_not_stalled"
    WRITER_REGION_VETO = "writer_region_veto"
    TARGET_UNHEALTHY = "target_unhealthy"
    LOSS_UNKNOWN = "loss_unknown"
    LOSS_OVER_BUDGET = "loss_over_budget"
    NOT_TARGET = "not_target"
    DISARMED = "disarmed"
    COOLDOWN = "cooldown"
    LOCK_HELD = "lock_held"
    LOCK_UNAVAILABLE = "lock_unavailable"
    CONDITIONS_MET = "conditions_met"
    FAILOVER_STARTED = "failover_started"
    FAILOVER_REJECTED = "failover_rejected"
    FAILOVER_OUTCOME_UNKNOWN = "failover_outcome_unknown"


# Routine states of a healthy system: logged, never notified.
QUIET_REASONS = frozenset({Reason.WRITER_ALIVE, Reason.ALREADY_WRITER})

# FailoverState.Status of an operation that is over; anything else means busy (RDS API
# Reference, FailoverState: pending, failing-over, cancelling, switching-over; empty when idle).
FINISHED_FAILOVER_STATES = frozenset({"completed", "cancelled"})


@dataclass(frozen=True, kw_only=True)
class VantageView:
    region: str
    attempts: tuple[Attempt, ...] | None
    """Oldest first; None when the region's facts could not be read."""
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class GlobalView:
    """DescribeGlobalClusters in the decider's own region."""

    status: str
    failover_status: str | None
    writer_region: str | None
    member_regions: frozenset[str]


class VetoState(StrEnum):
    ALIVE_SEEN = "alive_seen"
    NOT_SEEN = "not_seen"
    UNKNOWN = "unknown"
    """Not readable (timeout, error, not fetched yet): never a veto, never a requirement."""


@dataclass(frozen=True, kw_only=True)
class Veto:
    state: VetoState = VetoState.UNKNOWN
    seen_alive_at: float | None = None
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class ArmView:
    armed: bool | None
    """None: no region's arm state could be read."""
    generation: int = 0
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class LockView:
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    last_failover_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class Facts:
    region: str
    """The decider's own region."""
    regions: tuple[str, ...]
    """The environment's order: home region first, then secondary_regions."""
    global_view: GlobalView | None
    vantages: Mapping[str, VantageView] = field(default_factory=dict)
    veto: Veto = field(default_factory=Veto)
    arm: ArmView = field(default_factory=lambda: ArmView(armed=None))
    lock: LockView | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Policy:
    timing: Timing
    dry_run: bool = True


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    reason: Reason
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def estimated_loss_seconds(self) -> float | None:
        value = self.details.get("estimated_loss_seconds")
        return float(value) if value is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {"action": str(self.action), "reason": str(self.reason), "details": self.details}


class Judgement(StrEnum):
    DEAD = "dead"
    ALIVE = "alive"
    INCONCLUSIVE = "inconclusive"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True, kw_only=True)
class VantageJudgement:
    region: str
    judgement: Judgement
    first_dead_at: float | None = None
    """Start of the final run of dead attempts (the onset bound this vantage gives)."""
    detail: str = ""


def judge_vantage(view: VantageView, writer_region: str, now: float, timing: Timing) -> VantageJudgement:
    """Has this vantage judged the writer dead for the whole window ending ``now``?"""
    attempts = view.attempts or ()
    start = now - timing.window_seconds
    in_window = [a for a in attempts if start < a.at <= now]
    if any(a.verdict is Verdict.ALIVE for a in in_window):
        return VantageJudgement(
            region=view.region, judgement=Judgement.ALIVE, detail="a write committed in the window"
        )
    odd = [a for a in in_window if a.verdict is Verdict.INCONCLUSIVE or a.writer_region != writer_region]
    if odd:
        a = odd[-1]
        why = a.reason if a.verdict is Verdict.INCONCLUSIVE else f"aimed at {a.writer_region}"
        return VantageJudgement(
            region=view.region, judgement=Judgement.INCONCLUSIVE, detail=f"{why} at {a.at:.0f}"
        )
    gap = timing.max_gap_seconds
    if len(in_window) < timing.minimum_attempts:
        return VantageJudgement(
            region=view.region,
            judgement=Judgement.INCOMPLETE,
            detail=f"{len(in_window)} dead attempts in the window, {timing.minimum_attempts} needed",
        )
    if in_window[0].at > start + gap or now - in_window[-1].at > timing.freshness_seconds:
        return VantageJudgement(
            region=view.region, judgement=Judgement.INCOMPLETE, detail="window not covered"
        )
    for before, after in itertools.pairwise(in_window):
        if after.at - before.at > gap:
            return VantageJudgement(
                region=view.region,
                judgement=Judgement.INCOMPLETE,
                detail=f"gap of {after.at - before.at:.0f}s",
            )
    # The dead run may have begun before the window: walk back over contiguous dead attempts.
    earlier = [a for a in attempts if a.at <= start]
    first = in_window[0]
    for a in reversed(earlier):
        if a.verdict is not Verdict.DEAD or a.writer_region != writer_region or first.at - a.at > gap:
            break
        first = a
    return VantageJudgement(region=view.region, judgement=Judgement.DEAD, first_dead_at=first.at)


def _newest(view: VantageView | None) -> Attempt | None:
    if view is None or not view.attempts:
        return None
    return view.attempts[-1]


def decide(facts: Facts, policy: Policy, now: float) -> Decision:
    """Apply the rows in order; the first that fails names the refusal."""
    timing = policy.timing
    details: dict[str, Any] = {"region": facts.region}

    def refuse(reason: Reason, **extra: Any) -> Decision:
        return Decision(action=Action.REFUSE, reason=reason, details={**details, **extra})

    gv = facts.global_view
    if gv is None or gv.writer_region is None:
        return refuse(
            Reason.FACTS_UNAVAILABLE, unavailable=dict(facts.unavailable) or {"global_cluster": "no writer"}
        )
    writer = gv.writer_region
    details["writer_region"] = writer
    if facts.region == writer:
        return refuse(Reason.ALREADY_WRITER)
    if facts.region not in gv.member_regions:
        return refuse(Reason.NOT_MEMBER)
    if gv.status != "available" or (
        gv.failover_status is not None and gv.failover_status not in FINISHED_FAILOVER_STATES
    ):
        return refuse(Reason.GLOBAL_CLUSTER_BUSY, status=gv.status, failover_status=gv.failover_status)

    others = [r for r in facts.regions if r != writer]
    unreadable = {
        r: facts.vantages[r].error if r in facts.vantages else "not read"
        for r in others
        if r not in facts.vantages or facts.vantages[r].attempts is None
    }
    if unreadable:
        return refuse(Reason.VANTAGE_UNREADABLE, unreadable=unreadable)

    judgements = [judge_vantage(facts.vantages[r], writer, now, timing) for r in others]
    for kind, reason in (
        (Judgement.ALIVE, Reason.WRITER_ALIVE),
        (Judgement.INCONCLUSIVE, Reason.VANTAGE_INCONCLUSIVE),
        (Judgement.INCOMPLETE, Reason.WINDOW_INCOMPLETE),
    ):
        hits = {j.region: j.detail for j in judgements if j.judgement is kind}
        if hits:
            return refuse(reason, vantages=hits)
    onset = max(j.first_dead_at for j in judgements if j.first_dead_at is not None)
    details["onset_bound"] = onset

    window_start = now - timing.window_seconds
    replicated = {r: a.replica_newest for r in others if (a := _newest(facts.vantages[r])) is not None}
    fresh_heartbeats = {r: v for r, v in replicated.items() if v is not None and v > window_start}
    if fresh_heartbeats:
        return refuse(Reason.REPLICATION_NOT_STALLED, heartbeats_in_window=fresh_heartbeats)

    veto = facts.veto
    if veto.state is VetoState.ALIVE_SEEN and (
        veto.seen_alive_at is None or veto.seen_alive_at > window_start
    ):
        return refuse(
            Reason.WRITER_REGION_VETO, veto=facts.veto.detail, seen_alive_at=facts.veto.seen_alive_at
        )

    def eligibility(region: str) -> tuple[Reason | None, float | None]:
        newest = _newest(facts.vantages[region])
        if region not in gv.member_regions or newest is None or not newest.local_ok:
            return Reason.TARGET_UNHEALTHY, None
        if now - newest.at > timing.freshness_seconds:
            return Reason.TARGET_UNHEALTHY, None
        if newest.replica_newest is None:
            return Reason.LOSS_UNKNOWN, None
        loss = max(0.0, onset - newest.replica_newest) + CLOCK_SKEW_SECONDS
        if loss > timing.rpo_budget_seconds:
            return Reason.LOSS_OVER_BUDGET, loss
        return None, loss

    verdicts = {r: eligibility(r) for r in others}
    details["candidates"] = {
        r: {"ineligible": str(why) if why else None, "estimated_loss_seconds": loss}
        for r, (why, loss) in verdicts.items()
    }
    target = next((r for r in others if verdicts[r][0] is None), None)
    own_reason, own_loss = verdicts[facts.region]
    details["estimated_loss_seconds"] = own_loss
    if target is None:
        assert own_reason is not None
        return refuse(own_reason, rpo_budget_seconds=timing.rpo_budget_seconds)
    if target != facts.region:
        return refuse(Reason.NOT_TARGET, chosen_target=target)
    details["target"] = target

    if facts.arm.armed is not True:
        return refuse(
            Reason.DISARMED, arm=facts.arm.detail or ("unknown" if facts.arm.armed is None else "disarmed")
        )
    lock = facts.lock
    if lock is None:
        return refuse(Reason.LOCK_UNAVAILABLE)
    if lock.last_failover_at is not None and now - lock.last_failover_at < timing.cooldown_seconds:
        return refuse(Reason.COOLDOWN, cooldown_until=lock.last_failover_at + timing.cooldown_seconds)
    if lock.lease_expires_at is not None and lock.lease_expires_at > now:
        return refuse(Reason.LOCK_HELD, lease_owner=lock.lease_owner)
    action = Action.DRY_RUN if policy.dry_run else Action.FAILOVER
    return Decision(action=action, reason=Reason.CONDITIONS_MET, details=details)


def deterministic_order(home_region: str, secondary_regions: Sequence[str]) -> tuple[str, ...]:
    """The order every decider ranks targets by: home region first, then secondary_regions."""
    return (home_region, *[r for r in secondary_regions if r != home_region])
