"""Lambda entry point ``lambda_src.failover.handler.handler``: the decider of one region.

Deployed in *every* region of the environment (each may become the writer, and the
decider of the region that is the deterministic target is the one that acts). Started by
an EventBridge schedule in its own region every minute; loops every
DECIDER_INTERVAL_SECONDS for LOOP_SECONDS. Each evaluation reads the facts
(``facts``), applies the rule table (``decision.decide``), and, when every rule passes
and it is armed, takes the flight lock (``lock``), calls FailoverGlobalCluster with
AllowDataLoss in its own region, records the promotion and disarms the automation.

Environment:

* ``AWS_REGION`` (Lambda), ``ENVIRONMENT``, ``GLOBAL_CLUSTER_ID``;
* ``REGIONS``: the environment's regions, home region first (``us-east-1,us-west-2,eu-west-1``);
* ``CLUSTER_ARNS``: JSON ``{region: regional cluster ARN}``;
* ``FAILOVER_TABLES``: JSON ``{region: failover table name}``;
* ``METRIC_NAMESPACE``: of the health Lambda's WriterHealthy (the veto);
* ``NOTIFY_TOPIC_ARN``: a standard SNS topic in this region;
* ``WINDOW_SECONDS``, ``PROBE_INTERVAL_SECONDS``, ``PROBE_ATTEMPT_SECONDS``,
  ``DECIDER_INTERVAL_SECONDS``, ``RPO_BUDGET_SECONDS``, ``COOLDOWN_SECONDS``;
* ``DRY_RUN`` (default true), ``ARMED_BY_DEFAULT`` (default true), ``LOOP_SECONDS`` (default 50).

Every evaluation is one structured log line (``failover_decision``); a notification is
published in this region when the reason changes or it acts (routine states, see
``decision.QUIET_REASONS``, are logged only).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.failover.config import Settings, load_settings
from lambda_src.failover.decision import (
    QUIET_REASONS,
    Action,
    ArmView,
    Decision,
    Facts,
    Policy,
    Reason,
    Verdict,
    Veto,
    decide,
)
from lambda_src.failover.events import UnsupportedEvent, parse_trigger
from lambda_src.failover.facts import (
    ThreadVetoPrefetcher,
    VetoSource,
    read_global_view,
    read_vantages,
    veto_from_metric,
)
from lambda_src.failover.lock import (
    LockNotAcquired,
    acquire_flight,
    lock_regions,
    propagate_arm,
    read_arm,
    read_locks,
    set_arm,
)
from lambda_src.failover.store import DynamoRegionStore, RegionStore, StoreUnavailable

logger = Logger(service="aurora-failover")

# Reads in surviving regions: short timeouts, one retry; an evaluation stays within its
# decider_run budget and the next one is one interval away.
_READ_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
# The veto read in the writer's region: tight and without retries. It is prefetched, so even
# this bound never lengthens a decision.
_VETO_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"}
)
# FailoverGlobalCluster is not idempotent: sent once; a lost answer is an unknown outcome
# that still starts the cooldown and disarms.
# total_max_attempts counts the first request (botocore's max_attempts counts retries: 1 would
# send it twice).
_ACT_CONFIG = Config(
    connect_timeout=2, read_timeout=20, retries={"total_max_attempts": 1, "mode": "standard"}
)
SUBJECT_MAX = 100  # SNS Publish limit for Subject


@dataclass
class Runtime:
    settings: Settings
    rds: Any
    """RDS in this region (DescribeGlobalClusters)."""
    rds_failover: Any
    """RDS in this region without retries (FailoverGlobalCluster)."""
    sns: Any
    stores: Mapping[str, RegionStore]
    veto: VetoSource
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    last_notified: str | None = None
    propagate_due: bool = True
    """The writer's decider copies arm and cooldown records to the other regions once per invocation."""
    log: Callable[[str, dict[str, Any]], None] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


def build_runtime(settings: Settings) -> Runtime:
    stores = {
        region: DynamoRegionStore(
            client=boto3.client("dynamodb", region_name=region, config=_READ_CONFIG),
            table=settings.tables[region],
            global_cluster_id=settings.global_cluster_id,
            region=region,
        )
        for region in settings.regions
    }
    veto_clients: dict[str, Any] = {}

    def read_veto(writer_region: str, now: float) -> Veto:
        client = veto_clients.setdefault(
            writer_region, boto3.client("cloudwatch", region_name=writer_region, config=_VETO_CONFIG)
        )
        return veto_from_metric(
            client,
            namespace=settings.metric_namespace,
            environment=settings.environment,
            writer_region=writer_region,
            cluster_id=settings.cluster_id(writer_region),
            now=now,
            window_seconds=settings.timing.window_seconds,
        )

    return Runtime(
        settings=settings,
        rds=boto3.client("rds", region_name=settings.region, config=_READ_CONFIG),
        rds_failover=boto3.client("rds", region_name=settings.region, config=_ACT_CONFIG),
        sns=boto3.client("sns", region_name=settings.region, config=_READ_CONFIG),
        stores=stores,
        veto=ThreadVetoPrefetcher(read_veto),
    )


def failover_request(settings: Settings) -> dict[str, Any]:
    # Unplanned failover (AllowDataLoss), called in the target's own region with the target's
    # ARN (AWS_FACTS.md, "Switchover ... failover"): a switchover needs the primary alive.
    return {
        "GlobalClusterIdentifier": settings.global_cluster_id,
        "TargetDbClusterIdentifier": settings.own_cluster_arn,
        "AllowDataLoss": True,
    }


def execute_failover(
    rt: Runtime, decision: Decision, *, writer_region: str, now: float, owner: str
) -> Decision:
    """Take the flight, call the managed failover once, record it and disarm."""
    s = rt.settings
    details = dict(decision.details)
    regions = lock_regions(s.regions, writer_region)
    try:
        flight = acquire_flight(
            rt.stores, regions, owner=owner, now=now, cooldown_seconds=s.timing.cooldown_seconds
        )
    except LockNotAcquired as exc:
        details["lock_region"] = exc.region
        return Decision(action=Action.REFUSE, reason=exc.reason, details=details)
    request = failover_request(s)
    details["request"] = request
    try:
        response = rt.rds_failover.failover_global_cluster(**request)
    except ClientError as exc:
        details["error"] = f"{exc.response.get('Error', {}).get('Code')}: {exc}"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # A 4xx is a refusal by RDS (nothing started); a 5xx may have started the operation.
        reason = Reason.FAILOVER_REJECTED if 400 <= status < 500 else Reason.FAILOVER_OUTCOME_UNKNOWN
    except (BotoCoreError, OSError) as exc:
        details["error"] = f"{type(exc).__name__}: {exc}"
        reason = Reason.FAILOVER_OUTCOME_UNKNOWN
    else:
        cluster = response.get("GlobalCluster", {})
        details["response"] = {"Status": cluster.get("Status"), "FailoverState": cluster.get("FailoverState")}
        reason = Reason.FAILOVER_STARTED
    if reason is Reason.FAILOVER_REJECTED:
        flight.release(outcome=str(reason))
    else:
        details["record_failed"] = flight.record(now=now, outcome=str(reason))
        try:
            change = set_arm(
                rt.stores,
                regions,
                armed=False,
                by=owner,
                now=now,
                reason=f"automated promotion to {s.region}",
            )
            details["disarmed"] = list(change.written)
        except StoreUnavailable as exc:
            details["disarm_error"] = str(exc)
    return Decision(action=Action.FAILOVER, reason=reason, details=details)


def _propagate(rt: Runtime) -> None:
    """The writer's decider copies the newest arm record and promotion to the other regions."""
    s = rt.settings
    others = [r for r in s.regions if r != s.region]
    everywhere = [s.region, *others]
    _, record, _ = read_arm(rt.stores, everywhere, default_armed=s.armed_by_default)
    propagate_arm(rt.stores, record, others)
    lock, _ = read_locks(rt.stores, everywhere)
    if lock is not None and lock.last_failover_at is not None:
        for region in others:
            try:
                rt.stores[region].note_failover(at=lock.last_failover_at, by=f"copied by {s.region}")
            except StoreUnavailable:
                continue


def evaluate(rt: Runtime, *, now: float, invocation_id: str) -> dict[str, Any]:
    """Gather, decide, act unless refused or dry-run, and report. Never raises for AWS errors."""
    s = rt.settings
    policy = Policy(timing=s.timing, dry_run=s.dry_run)
    unavailable: dict[str, str] = {}
    try:
        view = read_global_view(rt.rds, s.global_cluster_id)
    # Deliberately broad: an unreadable global cluster refuses, whatever the cause.
    except Exception as exc:
        view = None
        unavailable["global_cluster"] = f"{type(exc).__name__}: {exc}"
    writer = view.writer_region if view is not None else None
    vantages = {}
    veto = Veto()
    if writer is not None and writer != s.region:
        vantages = read_vantages(rt.stores, lock_regions(s.regions, writer), now=now, timing=s.timing)
        veto = rt.veto.latest(writer, now, s.timing.window_seconds)
    facts = Facts(
        region=s.region,
        regions=s.regions,
        global_view=view,
        vantages=vantages,
        veto=veto,
        arm=ArmView(armed=None, detail="not read"),
        lock=None,
        unavailable=unavailable,
    )
    decision = decide(facts, policy, now)
    unwell = any(not v.attempts or v.attempts[-1].verdict is not Verdict.ALIVE for v in vantages.values())
    if writer is not None and writer != s.region and (unwell or decision.reason not in QUIET_REASONS):
        # Never waits: the answer is used by a later evaluation. Started as soon as one vantage
        # stops seeing the writer alive; the window spans many evaluations, so every
        # evaluation that could act has an answer at most one interval old.
        rt.veto.request(writer, now)
    if "target" in decision.details and writer is not None:
        # Every fact rule passed: only now read the control state (saves reads on every loop).
        regions = lock_regions(s.regions, writer)
        arm_view, _, _ = read_arm(rt.stores, regions, default_armed=s.armed_by_default)
        lock_view, _ = read_locks(rt.stores, regions)
        decision = decide(replace(facts, arm=arm_view, lock=lock_view), policy, now)
    if decision.action is Action.DRY_RUN:
        decision = replace(decision, details={**decision.details, "would_request": failover_request(s)})
    elif decision.action is Action.FAILOVER and writer is not None:
        decision = execute_failover(rt, decision, writer_region=writer, now=now, owner=invocation_id)
    if decision.reason is Reason.ALREADY_WRITER and rt.propagate_due:
        rt.propagate_due = False
        _propagate(rt)
    record: dict[str, Any] = {
        **decision.as_dict(),
        "environment": s.environment,
        "global_cluster_id": s.global_cluster_id,
        "region": s.region,
        "dry_run": s.dry_run,
        "invocation_id": invocation_id,
        "evaluated_at": now,
    }
    _report(rt, decision, record)
    return record


def _report(rt: Runtime, decision: Decision, record: dict[str, Any]) -> None:
    if rt.log is not None:
        rt.log("failover_decision", record)
    else:
        (logger.warning if decision.action is Action.FAILOVER else logger.info)(
            "failover_decision", extra=record
        )
    changed = str(decision.reason) != rt.last_notified
    if decision.action is not Action.REFUSE or (changed and decision.reason not in QUIET_REASONS):
        record["notified"] = notify(rt, record)
    else:
        record["notified"] = False
    rt.last_notified = str(decision.reason)


def notify(rt: Runtime, record: dict[str, Any]) -> bool:
    s = rt.settings
    subject = f"[{s.environment}] Aurora failover {record['action']}: {record['reason']} ({s.region})"
    try:
        rt.sns.publish(
            TopicArn=s.notify_topic_arn,
            Subject=subject[:SUBJECT_MAX],
            Message=json.dumps(record, indent=2, sort_keys=True, default=str),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": str(record[name])}
                for name in ("action", "reason", "environment", "region")
            },
        )
    except (ClientError, BotoCoreError) as exc:
        logger.error("failover_notification_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
    return True


def run(rt: Runtime, *, loop: bool, request_id: str, budget_seconds: float) -> dict[str, Any]:
    """Evaluate once, or every decider interval until ``budget_seconds`` would be exceeded."""
    s = rt.settings
    started = rt.clock()
    rt.propagate_due = True
    evaluations: list[dict[str, Any]] = []
    while True:
        now = rt.clock()
        evaluations.append(evaluate(rt, now=now, invocation_id=f"{request_id}#{len(evaluations)}"))
        if not loop or evaluations[-1]["action"] == str(Action.FAILOVER):
            break
        if rt.clock() - started + s.timing.decider_interval_seconds > budget_seconds:
            break
        rt.sleep(max(0.0, now + s.timing.decider_interval_seconds - rt.clock()))
    return {"evaluations": len(evaluations), "last": evaluations[-1]}


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(load_settings(os.environ))
    return _runtime


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = get_runtime()
    try:
        trigger = parse_trigger(event)
    except UnsupportedEvent as exc:
        logger.warning("failover_trigger_ignored", extra={"why": str(exc)})
        return {"action": "ignored", "reason": "unsupported_event", "error": str(exc)}
    # Leave one evaluation's worth of the function's own timeout unused.
    remaining = context.get_remaining_time_in_millis() / 1000 - rt.settings.timing.decider_run_seconds - 2
    budget = min(rt.settings.loop_seconds, remaining)
    return run(rt, loop=trigger.loop, request_id=context.aws_request_id, budget_seconds=budget)
