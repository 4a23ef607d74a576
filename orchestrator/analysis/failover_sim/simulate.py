"""The discrete-event loop and the invariants checked on every run.

Each region runs, at its own phase: the real probe attempt (``lambda_src.probe.probe``)
every probe interval, the real decider evaluation (``lambda_src.failover.handler.evaluate``
with its real lock protocol) every decider interval, and a modelled health Lambda every
minute. Lambda faults in a region stop its functions. An operator's ``infra failover``
runs the real ``acquire_flight`` and the same RDS call.

Invariants (a violation is a string naming the rule and the numbers):

* ``alive_in_window``: no automated promotion while any vantage point (a probe outside the
  writer's region) saw a write commit within the window before it;
* ``more_than_one_promotion`` / ``promotion_while_disarmed``: at most one promotion per run
  (automated or operator) and no automated promotion while disarmed;
* ``loss_over_budget``: the decider's estimate, and the same estimate recomputed from the
  ground-truth attempt log, are known and within the RPO budget when it acts;
* ``missed_action`` / ``rto_over_budget`` / ``unexpected_action``: a must-act scenario is
  acted on, with the writer name answering within the computed RTO budget; a must-not-act
  scenario is not;
* ``waited_on_failed_region``: no decider outside the writer's region made a blocking call
  to the writer's region.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.failover.budget import CLOCK_SKEW_SECONDS, rto_budget
from lambda_src.failover.config import Settings
from lambda_src.failover.handler import Runtime, evaluate
from lambda_src.failover.lock import acquire_flight, lock_regions
from lambda_src.failover.store import LockNotAcquired
from lambda_src.probe.probe import run_attempt
from orchestrator.analysis.failover_sim.scenario import Scenario
from orchestrator.analysis.failover_sim.world import (
    ACCOUNT,
    GLOBAL_ID,
    FakeRds,
    FakeSns,
    SimProbeDeps,
    SimVeto,
    StoreClient,
    World,
    cluster_arn,
)

NAMESPACE = "Sim/Health"
INVOCATION_SECONDS = 60.0

# Event kinds, in the order they run when they fall on the same instant.
OPERATOR, PROBE, DECIDER, HEALTH = 0, 1, 2, 3


@dataclass
class RunResult:
    name: str
    must_act: bool
    expect: str
    acted: bool
    rto_seconds: float | None
    rpo_seconds: float | None
    violations: list[str]
    promotions: list[dict[str, Any]] = field(default_factory=list)
    budget_seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "must_act": self.must_act,
            "acted": self.acted,
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            "violations": list(self.violations),
        }


def _settings(sc: Scenario, region: str) -> Settings:
    return Settings(
        region=region,
        environment="sim",
        global_cluster_id=GLOBAL_ID,
        regions=sc.regions,
        cluster_arns={r: cluster_arn(r) for r in sc.regions},
        tables={r: "sim" for r in sc.regions},
        metric_namespace=NAMESPACE,
        notify_topic_arn=f"arn:aws:sns:{region}:{ACCOUNT}:sim",
        timing=sc.timing,
        dry_run=False,
        armed_by_default=sc.armed,
    )


def _runtime(world: World, sc: Scenario, region: str) -> Runtime:
    rds = FakeRds(world, region, caller=region)
    return Runtime(
        settings=_settings(sc, region),
        rds=rds,
        rds_failover=rds,
        sns=FakeSns(world, region, caller=region),
        stores={r: StoreClient(world, r, caller=region) for r in sc.regions},
        veto=SimVeto(
            world,
            caller=region,
            namespace=NAMESPACE,
            environment="sim",
            window_seconds=sc.timing.window_seconds,
        ),
        clock=lambda: world.t,
        log=lambda _message, _record: None,
    )


def _final_dead_run_start(attempts: list[Attempt], until: float) -> float | None:
    start = None
    for a in reversed(attempts):
        if a.at > until:
            continue
        if a.verdict is not Verdict.DEAD:
            break
        start = a.at
    return start


def simulate(sc: Scenario, *, skip_idle: bool = False) -> RunResult:
    """Run one scenario. ``skip_idle`` (random schedules): start one history span before the
    first fault and skip decider runs while no fault has been active for a whole history
    span and nothing was promoted, when every decider can only see a writer alive."""
    rng = random.Random(f"{sc.name}:{sc.seed}")  # noqa: S311 - phases of a simulation
    world = World(sc)
    timing = sc.timing
    runtimes = {r: _runtime(world, sc, r) for r in sc.regions}
    probes = {r: SimProbeDeps(world, r) for r in sc.regions}
    events: list[tuple[float, int, str]] = []
    # Attempts before the first fault only matter as the last alive ones: a few gaps suffice.
    begin = max(0.0, (sc.onset_time or 0.0) - 3 * timing.max_gap_seconds - 30) if skip_idle else 0.0
    for r in sc.regions:
        for kind, interval in (
            (PROBE, timing.probe_interval_seconds),
            (DECIDER, timing.decider_interval_seconds),
            (HEALTH, 60.0),
        ):
            t = begin + rng.uniform(0, interval)
            while t < sc.duration:
                events.append((t, kind, r))
                t += interval
    if sc.operator is not None:
        events.append((sc.operator.at, OPERATOR, sc.operator.target))
    heapq.heapify(events)
    evaluations = {r: 0 for r in sc.regions}
    invocation = {r: -1 for r in sc.regions}
    violations: list[str] = []
    reasons: dict[str, int] = {}
    vantage_log: dict[str, list[Attempt]] = {r: [] for r in sc.regions}
    published_alive: dict[str, tuple[float, str | None]] = {}
    newest_verdict: dict[str, Verdict] = {}
    armed = sc.armed
    while events:
        t, kind, region = heapq.heappop(events)
        world.advance(t)
        if kind == PROBE:
            if world.failing("lambda", region):
                continue
            attempt, _ = run_attempt(probes[region], region=region, at=t)
            world.attempt_log.append(attempt)
            vantage_log[region].append(attempt)
            try:
                StoreClient(world, region, caller=region).put_attempt(attempt)
            except Exception:  # noqa: S112 - a lost publication is a gap the decider must notice
                continue
            if attempt.verdict is Verdict.ALIVE:
                published_alive[region] = (t, attempt.writer_region)
            newest_verdict[region] = attempt.verdict
        elif kind == HEALTH:
            healthy = world.put_health(region)
            if (
                healthy
                and world.dns_at is None
                and world.promotions
                and world.promotions[0].completed_at is not None
            ):
                world.dns_at = t + sc.cloudwatch_delay_seconds + timing.dns_ttl_seconds
        elif kind == DECIDER:
            if world.failing("lambda", region):
                continue
            if skip_idle and _cannot_act(world, sc, region, t, published_alive):
                # What the skipped evaluation would still have done: prefetch the veto.
                writer = world.writer
                unwell = any(newest_verdict.get(r) is not Verdict.ALIVE for r in sc.regions if r != writer)
                if (
                    unwell
                    and region != writer
                    and world.failover is None
                    and not world.failing("rds_api", region)
                ):
                    runtimes[region].veto.request(writer, t)
                continue
            rt = runtimes[region]
            current = int(t // INVOCATION_SECONDS)
            if current != invocation[region]:
                invocation[region] = current
                rt.propagate_due = True
            calls_before = len(world.calls)
            promotions_before = len(world.promotions)
            world.actor_automated = True
            record = evaluate(rt, now=t, invocation_id=f"{region}-{evaluations[region]}")
            evaluations[region] += 1
            reasons[record["reason"]] = reasons.get(record["reason"], 0) + 1
            for call in world.calls[calls_before:]:
                violations.append(
                    f"waited_on_failed_region: decider in {call.caller} made a blocking {call.service} call to "
                    f"the writer's region {call.region} at t={call.t:.0f}"
                )
            if len(world.promotions) > promotions_before:
                promotion = world.promotions[-1]
                promotion.estimated_loss = record["details"].get("estimated_loss_seconds")
                violations.extend(_check_promotion(sc, world, promotion, vantage_log, armed))
                armed = False  # the automation disarms itself after one promotion
        elif kind == OPERATOR:
            assert sc.operator is not None
            _operator(world, sc, region)
    return _result(sc, world, violations, reasons)


def _cannot_act(
    world: World, sc: Scenario, region: str, t: float, published_alive: dict[str, tuple[float, str | None]]
) -> bool:
    """True when the decider's evaluation is certain to refuse: some vantage published a
    write that committed on the current writer within the window, and the WRITER_ALIVE row
    precedes every row that can act. The writer's own decider always runs (it propagates)."""
    writer = world.writer
    if region == writer:
        return False
    start = t - sc.timing.window_seconds
    return any(r != writer and aimed == writer and at > start for r, (at, aimed) in published_alive.items())


def _operator(world: World, sc: Scenario, target: str) -> None:
    assert sc.operator is not None
    stores = {r: StoreClient(world, r, caller="operator") for r in sc.regions}
    try:
        flight = acquire_flight(
            stores,
            lock_regions(sc.regions, world.writer),
            owner="operator",
            now=world.t,
            cooldown_seconds=sc.timing.cooldown_seconds,
            break_glass=sc.operator.break_glass,
        )
    except LockNotAcquired:
        world.refusals["operator"] = world.refusals.get("operator", 0) + 1
        return
    world.actor_automated = False
    try:
        FakeRds(world, target, caller="operator").failover_global_cluster(
            GlobalClusterIdentifier=GLOBAL_ID,
            TargetDbClusterIdentifier=cluster_arn(target),
            AllowDataLoss=True,
        )
    except Exception:
        flight.release(outcome="rejected")
        return
    finally:
        world.actor_automated = True
    flight.record(now=world.t, outcome="operator_failover")


def _check_promotion(
    sc: Scenario, world: World, promotion: Any, vantage_log: dict[str, list[Attempt]], armed: bool
) -> list[str]:
    found: list[str] = []
    t, writer, window = promotion.at, promotion.writer_before, sc.timing.window_seconds
    if not promotion.automated:
        return found
    for region, attempts in vantage_log.items():
        if region == writer:
            continue
        alive = [a.at for a in attempts if a.verdict is Verdict.ALIVE and t - window < a.at <= t]
        if alive:
            found.append(
                f"alive_in_window: automated promotion at t={t:.0f} while {region} saw a write commit at "
                f"t={max(alive):.0f} (window {window}s)"
            )
    if not armed:
        found.append(f"promotion_while_disarmed: automated promotion at t={t:.0f}")
    budget = sc.timing.rpo_budget_seconds
    if promotion.estimated_loss is None or promotion.estimated_loss > budget:
        found.append(f"loss_over_budget: decider's estimate {promotion.estimated_loss} s, budget {budget} s")
    starts = [_final_dead_run_start(a, t) for r, a in vantage_log.items() if r != writer]
    newest = world.replica_newest(promotion.target)
    if any(s is None for s in starts) or newest is None:
        found.append(f"loss_over_budget: ground-truth estimate unknown at t={t:.0f}")
    else:
        truth = max(s for s in starts if s is not None) - newest + CLOCK_SKEW_SECONDS
        if truth > budget:
            found.append(
                f"loss_over_budget: ground-truth estimate {truth:.1f} s over budget {budget} s at t={t:.0f}"
            )
    return found


def _result(sc: Scenario, world: World, violations: list[str], reasons: dict[str, int]) -> RunResult:
    automated = [p for p in world.promotions if p.automated]
    if len(world.promotions) > 1:
        violations.append(
            "more_than_one_promotion: "
            + ", ".join(
                f"{'automated' if p.automated else 'operator'} to {p.target} at t={p.at:.0f}"
                for p in world.promotions
            )
        )
    budget = rto_budget(sc.timing, sc.path).total_seconds
    onset = sc.onset_time
    rto = None
    if automated and world.dns_at is not None and onset is not None:
        rto = round(world.dns_at - onset, 1)
    if sc.expect == "act":
        if not automated:
            violations.append(
                f"missed_action: must act, did not (reasons seen: {dict(sorted(reasons.items()))})"
            )
        elif rto is None:
            violations.append(
                "rto_over_budget: promoted but the writer name never answered with the new writer"
            )
        elif rto > budget:
            violations.append(f"rto_over_budget: {rto} s over the {sc.path} budget of {budget:g} s")
    if sc.expect == "no_act" and automated:
        violations.append(
            f"unexpected_action: must not act, promoted {automated[0].target} at t={automated[0].at:.0f}"
        )
    rpo = world.rpo_seconds()
    return RunResult(
        name=sc.name,
        must_act=sc.must_act,
        expect=sc.expect,
        acted=bool(automated),
        rto_seconds=rto,
        rpo_seconds=None if rpo is None else round(rpo, 1),
        violations=violations,
        promotions=[
            {
                "at": p.at,
                "by": p.by,
                "target": p.target,
                "automated": p.automated,
                "estimated_loss": p.estimated_loss,
            }
            for p in world.promotions
        ],
        budget_seconds=budget,
        reasons={**reasons, **{f"{actor}_refused": n for actor, n in world.refusals.items()}},
    )
