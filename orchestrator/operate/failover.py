"""Operator-driven writer moves of the global database (`infra failover --to REGION`).

Two operations (AWS_FACTS.md, "Switchover ... failover"; Aurora User Guide
``aurora-global-database-disaster-recovery``):

* **switchover** (planned, RPO 0): ``SwitchoverGlobalCluster``, called in the current writer's
  region; needs matching engine versions and a healthy, synchronised global cluster.
* **failover** (unplanned, ``AllowDataLoss``): ``FailoverGlobalCluster``, called in the target's
  region, for when the primary region is impaired. Transactions not yet replicated are lost, and
  fencing the old primary is best-effort: writers must be stopped first.

:func:`plan_failover` reads the live state and evaluates every precondition (each named, with a
message); :func:`execute_failover` sends the request, waits for the new writer with progress,
verifies it and returns a :class:`Timeline`. Clock and sleep are injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from model import naming
from model.environment import Environment
from model.naming import writer_name
from orchestrator.operate.aws import AwsSession, GlobalClusterReadError, describe_error
from orchestrator.operate.flight import LockState, read_lock_state
from orchestrator.operate.readings import (
    RECENT_WINDOW,
    REPLICATION_LAG_METRIC,
    RPO_LAG_METRIC,
    ClusterView,
    GlobalClusterView,
    LagReading,
    describe_cluster,
    describe_global_cluster,
    read_global_cluster,
    read_replication_lag,
)


class Operation(StrEnum):
    SWITCHOVER = "switchover"
    """Planned, no data loss; the current writer must be up."""
    FAILOVER = "failover"
    """Unplanned, data loss up to the replication lag; for an impaired primary region."""


API_CALLS = {Operation.SWITCHOVER: "switchover_global_cluster", Operation.FAILOVER: "failover_global_cluster"}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    message: str
    blocking: bool = True
    """A failed blocking check refuses the operation; a non-blocking one is a warning."""


@dataclass(frozen=True)
class FailoverPlan:
    env_name: str
    file_primary_region: str
    operation: Operation
    global_cluster_id: str
    target_region: str
    target_cluster_arn: str | None
    writer_region: str | None
    """The live writer's region when planned."""
    api_region: str | None
    """Where the API is called: the writer's region (switchover) or the target's (failover)."""
    api_call: str
    request: Mapping[str, Any] | None
    """Exact parameters of the API call; None when the target is unknown."""
    checks: tuple[Check, ...]
    warnings: tuple[str, ...] = ()
    lag: LagReading | None = None
    """The target's latest replication lag when planned."""
    lock: LockState | None = None
    """The flight lock and cooldown in the regions the operation would lock."""
    break_glass: bool = False

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed and c.blocking)

    @property
    def allowed(self) -> bool:
        return self.request is not None and not self.failed_checks

    @property
    def poll_region(self) -> str:
        # The target's region answers during and after either operation; the old primary's
        # region may be the one that is down.
        return self.target_region

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env_name,
            "operation": str(self.operation),
            "allowed": self.allowed,
            "global_cluster_id": self.global_cluster_id,
            "target_region": self.target_region,
            "target_cluster_arn": self.target_cluster_arn,
            "writer_region": self.writer_region,
            "api": {"call": self.api_call, "region": self.api_region, "parameters": dict(self.request or {})},
            "checks": [
                {"name": c.name, "passed": c.passed, "blocking": c.blocking, "message": c.message}
                for c in self.checks
            ],
            "failed_checks": [c.name for c in self.failed_checks],
            "warnings": list(self.warnings),
            "lag": None
            if self.lag is None
            else {
                "metric": self.lag.metric,
                "value_ms": self.lag.value_ms,
                "at": self.lag.at.isoformat() if self.lag.at else None,
                "source_region": self.lag.source_region,
            },
            "lock": None if self.lock is None else {**self.lock.to_json(), "break_glass": self.break_glass},
        }

    def render_text(self) -> str:
        what = (
            "planned switchover (no data loss)"
            if self.operation is Operation.SWITCHOVER
            else ("UNPLANNED FAILOVER (data loss allowed)")
        )
        lines = [
            f"{what} of {self.global_cluster_id} to {self.target_region}",
            f"  current writer: {self.writer_region or 'unknown'}",
            f"  API: {self.api_call} in {self.api_region or '?'} with {dict(self.request or {})}",
            "Preconditions:",
        ]
        for check in self.checks:
            mark = "ok  " if check.passed else ("FAIL" if check.blocking else "warn")
            lines.append(f"  [{mark}] {check.name}: {check.message}")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  ! {w}" for w in self.warnings)
        if self.allowed:
            lines.append("All preconditions pass.")
        else:
            names = ", ".join(c.name for c in self.failed_checks) or "target unknown"
            lines.append(f"Refused: {names}.")
        return "\n".join(lines)


class FailoverError(Exception):
    """Base of execution errors; carries the timeline so far."""

    def __init__(self, message: str, timeline: Timeline | None = None) -> None:
        self.timeline = timeline
        super().__init__(message)


class FailoverRefusedError(FailoverError):
    def __init__(self, plan: FailoverPlan) -> None:
        self.plan = plan
        names = (
            ", ".join(f"{c.name} ({c.message})" for c in plan.failed_checks)
            or "the target cluster is unknown"
        )
        super().__init__(f"{plan.operation} to {plan.target_region} refused: {names}")


class FailoverRequestError(FailoverError):
    """RDS rejected the request (nothing started) or its outcome is unknown."""

    def __init__(self, message: str, timeline: Timeline, *, started: bool | None) -> None:
        self.started = started
        """False: RDS refused, nothing started. None: unknown (check `infra status`)."""
        super().__init__(message, timeline)


class FailoverTimeoutError(FailoverError):
    """The writer did not settle in the target region in time; AWS may still complete it."""


class FailoverVerificationError(FailoverError):
    """The operation finished but the target is not the single writer."""


# --- planning --------------------------------------------------------------------------------


def plan_failover(
    env: Environment,
    target_region: str,
    *,
    allow_data_loss: bool,
    clients: AwsSession,
    operation: Operation = Operation.SWITCHOVER,
    max_lag_ms: float | None = None,
    now: datetime | None = None,
    break_glass: bool = False,
) -> FailoverPlan:
    """Read the live state and evaluate every precondition of moving the writer to ``target_region``.

    ``operation`` picks switchover (default) or unplanned failover; a failover is refused unless
    ``allow_data_loss``. ``max_lag_ms`` bounds the target's replication lag for a switchover
    (default: the environment's replication-lag alarm threshold). The flight lock shared with the
    automated deciders (``orchestrator.operate.flight``) is a precondition too: a flight in
    progress or a promotion within the cooldown refuses; unreadable failover tables refuse
    unless ``break_glass``."""
    now = now or datetime.now(UTC)
    threshold = float(max_lag_ms if max_lag_ms is not None else env.monitoring.replication_lag_threshold_ms)
    global_id = naming.global_cluster_id(env.name)
    checks: list[Check] = []
    warnings: list[str] = []

    def plan(**kwargs: Any) -> FailoverPlan:
        base: dict[str, Any] = {
            "env_name": env.name,
            "file_primary_region": env.primary_region,
            "operation": operation,
            "global_cluster_id": global_id,
            "target_region": target_region,
            "target_cluster_arn": None,
            "writer_region": None,
            "api_region": None,
            "api_call": API_CALLS[operation],
            "request": None,
            "checks": tuple(checks),
            "warnings": tuple(warnings),
            "break_glass": break_glass,
        }
        return FailoverPlan(**{**base, **kwargs})

    in_env = target_region in env.regions
    checks.append(
        Check(
            "target_in_environment",
            in_env,
            f"{target_region} is a region of {env.name}"
            if in_env
            else f"{target_region} is not a region of {env.name} (regions: {', '.join(env.regions)})",
        )
    )
    if not env.is_global:
        checks.append(
            Check(
                "environment_is_global",
                False,
                f"{env.name} is a regional environment: there is no secondary to promote",
            )
        )
        return plan()
    if operation is Operation.FAILOVER:
        checks.append(
            Check(
                "data_loss_accepted",
                allow_data_loss,
                "data loss accepted (--allow-data-loss)"
                if allow_data_loss
                else "an unplanned failover loses the transactions not yet replicated to the target; "
                "it runs only with an explicit --allow-data-loss",
            )
        )

    regions = (
        [target_region, *(r for r in env.regions if r != target_region)] if in_env else list(env.regions)
    )
    try:
        view = read_global_cluster(clients, env, regions).view
    except GlobalClusterReadError as exc:
        checks.append(Check("global_cluster_exists", False, str(exc)))
        return plan()
    if view is None:
        checks.append(Check("global_cluster_exists", False, f"global cluster {global_id} does not exist"))
        return plan()
    checks.append(Check("global_cluster_exists", True, f"global cluster {global_id} exists"))

    target = view.member_in(target_region)
    writer = view.writer
    checks.append(
        Check(
            "target_is_member",
            target is not None,
            f"{target.cluster_id} in {target_region} is a member of {global_id}"
            if target
            else f"no cluster in {target_region} is a member of {global_id} "
            f"(members: {', '.join(m.region for m in view.members) or 'none'})",
        )
    )
    if target is not None:
        checks.append(
            Check(
                "target_not_writer",
                not target.is_writer,
                f"{target_region} is already the writer: nothing to do"
                if target.is_writer
                else f"{target_region} is a secondary (writer: {writer.region if writer else 'unknown'})",
            )
        )
    available = view.status == "available"
    checks.append(
        Check(
            "global_cluster_available",
            available,
            f"global cluster status is {view.status}",
            # An impaired primary region is what an unplanned failover is for; RDS itself refuses
            # when the state does not allow it.
            blocking=operation is Operation.SWITCHOVER,
        )
    )
    state = view.failover_state or {}
    checks.append(
        Check(
            "no_operation_in_progress",
            not view.busy,
            "no switchover or failover in progress"
            if not view.busy
            else f"a {state.get('Status')} operation is in progress (from {state.get('FromDbClusterArn')} "
            f"to {state.get('ToDbClusterArn')}); wait for it (`infra status --env {env.name}`)",
        )
    )

    lag: LagReading | None = None
    lag_error: str | None = None
    if target is not None:
        source = writer.region if writer else env.primary_region
        try:
            lag = read_replication_lag(
                clients.client("cloudwatch", target_region), target.cluster_id, source, now
            )
        except Exception as exc:  # an unknown lag is a failed check, never a crash
            lag_error = describe_error(exc)

    if operation is Operation.SWITCHOVER:
        checks.extend(
            _switchover_checks(clients, view, threshold, lag, lag_error, lag_checked=target is not None)
        )
    else:
        warnings.extend(_failover_warnings(view, target_region, lag))
    warnings.extend(_dns_and_file_notes(env, target_region))
    lock = read_lock_state(env, clients, writer.region if writer else None, now=now.timestamp())
    checks.extend(_lock_checks(env, lock, break_glass=break_glass))

    api_region = (writer.region if writer else None) if operation is Operation.SWITCHOVER else target_region
    request: dict[str, Any] | None = None
    if target is not None:
        request = {"GlobalClusterIdentifier": global_id, "TargetDbClusterIdentifier": target.arn}
        if operation is Operation.FAILOVER:
            request["AllowDataLoss"] = True
    return plan(
        target_cluster_arn=target.arn if target else None,
        writer_region=writer.region if writer else None,
        api_region=api_region,
        request=request,
        checks=tuple(checks),
        warnings=tuple(warnings),
        lag=lag,
        lock=lock,
    )


def _lock_checks(env: Environment, lock: LockState, *, break_glass: bool) -> list[Check]:
    checks: list[Check] = []
    regions = ", ".join(lock.regions)
    if lock.errors:
        unread = "; ".join(lock.errors.values())
        checks.append(
            Check(
                "flight_lock_readable",
                False,
                f"break-glass: the lock will be taken only where it answers (unreadable: {unread})"
                if break_glass
                else f"the flight lock shared with the automated deciders cannot be read: {unread}. Deploy "
                "or repair the failover stack, or pass --break-glass to lock only the regions that answer",
                blocking=not break_glass,
            )
        )
    else:
        checks.append(Check("flight_lock_readable", True, f"the failover tables answer in {regions}"))
    problem = lock.problem(env)
    checks.append(
        Check(
            "no_flight_or_cooldown",
            problem is None,
            problem or "no flight in progress and no promotion within the cooldown",
        )
    )
    return checks


def _switchover_checks(
    clients: AwsSession,
    view: GlobalClusterView,
    threshold: float,
    lag: LagReading | None,
    lag_error: str | None,
    *,
    lag_checked: bool,
) -> list[Check]:
    checks: list[Check] = []
    writer = view.writer
    clusters: dict[str, ClusterView | None] = {}
    errors: dict[str, str] = {}
    for member in view.members:
        try:
            clusters[member.arn] = describe_cluster(clients.client("rds", member.region), member.arn)
        except (BotoCoreError, ClientError) as exc:
            errors[member.arn] = describe_error(exc)

    if writer is None:
        checks.append(Check("writer_reachable", False, "the global cluster has no single writer member"))
    elif writer.arn in errors or clusters.get(writer.arn) is None:
        reason = errors.get(writer.arn, "cluster not found")
        checks.append(
            Check(
                "writer_reachable",
                False,
                f"the writer {writer.cluster_id} in {writer.region} cannot be read ({reason}); a switchover "
                "is called in the writer's region and needs it up. If that region is down, use an unplanned "
                "failover (--unplanned --allow-data-loss)",
            )
        )
    else:
        cluster = clusters[writer.arn]
        checks.append(
            Check(
                "writer_reachable",
                True,
                f"writer {writer.cluster_id} in {writer.region} answers "
                f"(status {cluster.status if cluster else '?'})",
            )
        )

    versions = {
        m.arn: (c.engine_version if c else None) for m, c in ((m, clusters.get(m.arn)) for m in view.members)
    }
    reference_member = writer or (view.members[0] if view.members else None)
    reference = versions.get(reference_member.arn) if reference_member else None
    unknown = [m for m in view.members if versions.get(m.arn) is None]
    mismatched = [m for m in view.members if versions.get(m.arn) not in (None, reference)]
    if unknown:
        names = ", ".join(f"{m.cluster_id} ({m.region}: {errors.get(m.arn, 'not found')})" for m in unknown)
        checks.append(Check("engine_versions_match", False, f"engine version unknown for {names}"))
    elif mismatched and reference_member is not None:
        names = ", ".join(f"{m.cluster_id} ({m.region}) runs {versions[m.arn]}" for m in mismatched)
        checks.append(
            Check(
                "engine_versions_match",
                False,
                f"{names}, but {reference_member.cluster_id} ({reference_member.region}) runs {reference}; a "
                "switchover needs the same engine version on every member: upgrade the secondaries first",
            )
        )
    else:
        checks.append(Check("engine_versions_match", True, f"every member runs {reference}"))

    unsynced = [m for m in view.members if not m.is_writer and m.synchronization_status != "connected"]
    checks.append(
        Check(
            "members_synchronized",
            not unsynced,
            "every secondary is connected"
            if not unsynced
            else "not connected: "
            + ", ".join(
                f"{m.cluster_id} ({m.region}) is {m.synchronization_status or 'not reported'}"
                for m in unsynced
            ),
        )
    )

    if not lag_checked:
        pass  # no target member: target_is_member already refuses
    elif lag_error is not None:
        checks.append(
            Check("target_lag_known", False, f"cannot read the target's replication lag: {lag_error}")
        )
    elif lag is None or lag.value_ms is None:
        checks.append(
            Check(
                "target_lag_known",
                False,
                f"no {RPO_LAG_METRIC} or {REPLICATION_LAG_METRIC} datapoint for the target in the last "
                f"{int(RECENT_WINDOW.total_seconds() // 60)} minutes: replication health is unknown",
            )
        )
    else:
        checks.append(Check("target_lag_known", True, f"{lag.metric} {lag.value_ms:.0f} ms"))
        within = lag.value_ms <= threshold
        comparison = "<=" if within else ">"
        checks.append(
            Check(
                "target_lag_within_threshold",
                within,
                f"replication lag {lag.value_ms:.0f} ms {comparison} {threshold:.0f} ms",
            )
        )
    return checks


def _failover_warnings(view: GlobalClusterView, target_region: str, lag: LagReading | None) -> list[str]:
    writer = view.writer
    old = f"{writer.cluster_id} in {writer.region}" if writer else "the old primary"
    if lag is not None and lag.value_ms is not None:
        loss = f"the latest replication lag of {target_region} was {lag.value_ms:.0f} ms ({lag.metric})"
    else:
        loss = f"the replication lag of {target_region} is unknown, so is the amount"
    return [
        f"Stop every writer of {old} BEFORE failing over: Aurora fences the old primary only on a "
        "best-effort basis, and writes it still accepts are lost.",
        f"Data loss: transactions not yet replicated to {target_region} are lost; {loss}.",
        "Aurora keeps an rds:unplanned-global-failover-... snapshot of the old primary when it can and "
        "re-adds it as a secondary when its region recovers.",
    ]


def _dns_and_file_notes(env: Environment, target_region: str) -> list[str]:
    notes = []
    if target_region != env.primary_region:
        notes.append(
            f"Afterwards the writer is away from its home region {env.primary_region}: nothing to change "
            f"(environments/{env.name}.yaml stays as it is, `infra up` has nothing to do); "
            f"{writer_name(env.dns.zone_name)} moves to {target_region} by itself. Fail back with "
            f"`infra failover --env {env.name} --to {env.primary_region}` when you want to."
        )
    return notes


# --- execution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    event: str
    """requested | accepted | rejected | outcome-unknown | status | writer-moved | poll-failed |
    completed | timed-out | verified | verification-failed."""
    detail: str


@dataclass
class Timeline:
    env_name: str
    operation: Operation
    global_cluster_id: str
    target_region: str
    file_primary_region: str
    events: list[TimelineEvent] = field(default_factory=list)
    outcome: str = "running"
    """running | verified | rejected | unknown | timed-out | verification-failed."""

    def add(self, at: datetime, event: str, detail: str) -> TimelineEvent:
        entry = TimelineEvent(at=at, event=event, detail=detail)
        self.events.append(entry)
        return entry

    @property
    def seconds(self) -> float:
        if not self.events:
            return 0.0
        return (self.events[-1].at - self.events[0].at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env_name,
            "operation": str(self.operation),
            "global_cluster_id": self.global_cluster_id,
            "target_region": self.target_region,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "events": [{"at": e.at.isoformat(), "event": e.event, "detail": e.detail} for e in self.events],
        }

    def render_text(self) -> str:
        lines = [
            f"{self.operation} of {self.global_cluster_id} to {self.target_region}: "
            f"{self.outcome} after {_duration(self.seconds)}"
        ]
        start = self.events[0].at if self.events else None
        for e in self.events:
            offset = f"+{_duration((e.at - start).total_seconds())}" if start else ""
            lines.append(
                f"  {offset:>8}  {e.at.astimezone(UTC).strftime('%H:%M:%SZ')}  {e.event:<19} {e.detail}"
            )
        if self.outcome == "verified" and self.target_region != self.file_primary_region:
            lines.append(
                f"The writer is away from its home region {self.file_primary_region}: nothing to change "
                f"(README, 'After a failover'). Fail back with `infra failover --env {self.env_name} "
                f"--to {self.file_primary_region}` when you want to."
            )
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _describe_state(view: GlobalClusterView) -> str:
    writer = view.writer
    state = (view.failover_state or {}).get("Status") or "none"
    return f"Status={view.status}, FailoverState={state}, writer={writer.region if writer else 'none'}"


def execute_failover(
    plan: FailoverPlan,
    clients: AwsSession,
    *,
    clock: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 1800,
    poll_s: float = 15,
    on_progress: Callable[[TimelineEvent], None] | None = None,
) -> Timeline:
    """Send the plan's request, wait until the target is the writer and the global cluster is
    available, verify, and return the timeline. Raises FailoverRefusedError (plan not allowed),
    FailoverRequestError, FailoverTimeoutError or FailoverVerificationError, each with the timeline."""
    if not plan.allowed or plan.request is None or plan.api_region is None:
        raise FailoverRefusedError(plan)
    timeline = Timeline(
        env_name=plan.env_name,
        operation=plan.operation,
        global_cluster_id=plan.global_cluster_id,
        target_region=plan.target_region,
        file_primary_region=plan.file_primary_region,
    )

    def record(event: str, detail: str) -> None:
        entry = timeline.add(clock(), event, detail)
        if on_progress is not None:
            on_progress(entry)

    record("requested", f"{plan.api_call} in {plan.api_region} with {dict(plan.request)}")
    try:
        answer = getattr(clients.action_client("rds", plan.api_region), plan.api_call)(**plan.request)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if 400 <= status < 500:
            timeline.outcome = "rejected"
            record("rejected", describe_error(exc))
            raise FailoverRequestError(
                f"RDS rejected the {plan.operation}: {describe_error(exc)}. Nothing was started.",
                timeline,
                started=False,
            ) from exc
        return _unknown_outcome(plan, timeline, record, exc)
    except BotoCoreError as exc:
        return _unknown_outcome(plan, timeline, record, exc)
    cluster = answer.get("GlobalCluster", {})
    record(
        "accepted",
        f"Status={cluster.get('Status')}, "
        f"FailoverState={(cluster.get('FailoverState') or {}).get('Status') or 'none'}",
    )

    poll = clients.client("rds", plan.poll_region)
    deadline = timeline.events[0].at + timedelta(seconds=timeout_s)
    last_seen: str | None = None
    last_writer = plan.writer_region
    last_error: str | None = None
    while True:
        remaining = (deadline - clock()).total_seconds()
        if remaining <= 0:
            timeline.outcome = "timed-out"
            record("timed-out", f"no settled writer in {plan.target_region} after {timeout_s:g}s")
            raise FailoverTimeoutError(
                f"the {plan.operation} of {plan.global_cluster_id} to {plan.target_region} did not complete "
                f"within {timeout_s:g}s. RDS accepted it and may still complete it: check `infra status "
                f"--env {plan.env_name}` (writer region and FailoverState) and the RDS console before doing "
                "anything else, and do not start another operation while one is in progress.",
                timeline,
            )
        sleep(min(poll_s, remaining))
        try:
            view = describe_global_cluster(poll, plan.global_cluster_id)
        except (BotoCoreError, ClientError) as exc:
            text = describe_error(exc)
            if text != last_error:  # one event per distinct error, not one per poll
                record("poll-failed", f"{plan.poll_region}: {text}")
            last_error = text
            continue
        last_error = None
        if view is None:
            timeline.outcome = "verification-failed"
            record("verification-failed", f"global cluster {plan.global_cluster_id} no longer exists")
            raise FailoverVerificationError(f"global cluster {plan.global_cluster_id} disappeared", timeline)
        seen = _describe_state(view)
        writer = view.writer
        if writer is not None and writer.region != last_writer:
            record("writer-moved", f"{last_writer or 'unknown'} -> {writer.region} ({writer.cluster_id})")
            last_writer = writer.region
        if seen != last_seen:
            record("status", seen)
            last_seen = seen
        if (
            writer is not None
            and writer.region == plan.target_region
            and view.status == "available"
            and not view.busy
        ):
            record("completed", f"{plan.target_region} is the writer and the global cluster is available")
            break

    return _verify(plan, poll, timeline, record)


def _unknown_outcome(
    plan: FailoverPlan, timeline: Timeline, record: Callable[[str, str], None], exc: BaseException
) -> Timeline:
    timeline.outcome = "unknown"
    record("outcome-unknown", describe_error(exc))
    raise FailoverRequestError(
        f"the {plan.operation} request got no clear answer ({describe_error(exc)}); it may have started. "
        f"Check `infra status --env {plan.env_name}` before retrying.",
        timeline,
        started=None,
    ) from exc


def _verify(
    plan: FailoverPlan, poll: Any, timeline: Timeline, record: Callable[[str, str], None]
) -> Timeline:
    try:
        view = describe_global_cluster(poll, plan.global_cluster_id)
    except (BotoCoreError, ClientError) as exc:
        view = None
        problem = f"cannot read the global cluster: {describe_error(exc)}"
    else:
        problem = f"global cluster {plan.global_cluster_id} not found"
    if view is not None:
        target = view.member_in(plan.target_region)
        writers = [m for m in view.members if m.is_writer]
        if target is not None and target.is_writer and len(writers) == 1:
            timeline.outcome = "verified"
            record("verified", f"{target.arn} is the only writer (IsWriter) of {plan.global_cluster_id}")
            return timeline
        problem = (
            f"expected {plan.target_cluster_arn} to be the only writer, found "
            f"{', '.join(m.arn for m in writers) or 'no writer'}"
        )
    timeline.outcome = "verification-failed"
    record("verification-failed", problem)
    raise FailoverVerificationError(
        f"the {plan.operation} finished but could not be verified: {problem}. Check `infra status --env "
        f"{plan.env_name}`.",
        timeline,
    )
