"""Lambda entry point: re-check the facts, decide, maybe fail over, always report.

Handler string: ``lambda_src.failover.handler.handler``. Every decision (act, refuse,
dry run) is one structured log line and one SNS notification; only triggers that ask
for nothing (an alarm back to OK, an unknown event) are logged without a notification.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.failover.config import Settings, load_settings
from lambda_src.failover.decision import Action, Decision, Reason, decide
from lambda_src.failover.events import Trigger, UnsupportedEvent, parse_trigger
from lambda_src.failover.facts import FactClients, gather_facts
from lambda_src.failover.lock import FailoverLock, LockNotAcquired

logger = Logger(service="aurora-failover")

_READ_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
# FailoverGlobalCluster is not idempotent: a retry after a lost answer would either start
# a second operation or be rejected for a first one that worked. Sent once; a lost answer
# is reported as an unknown outcome and still starts the cooldown.
_ACT_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 1, "mode": "standard"})
SUBJECT_MAX = 100  # SNS Publish limit for Subject


@dataclass(frozen=True, kw_only=True)
class Clients:
    facts: FactClients
    rds_failover: Any
    """RDS in this region without retries; the managed failover is called in the secondary's region."""
    sns: Any
    """SNS in the notification topic's region."""


_settings: Settings | None = None
_clients: Clients | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings(os.environ)
    return _settings


def get_clients(settings: Settings) -> Clients:
    global _clients
    if _clients is None:
        _clients = Clients(
            facts=FactClients(
                cloudwatch_primary=boto3.client(
                    "cloudwatch", region_name=settings.primary_region, config=_READ_CONFIG
                ),
                cloudwatch_local=boto3.client("cloudwatch", region_name=settings.region, config=_READ_CONFIG),
                rds=boto3.client("rds", region_name=settings.region, config=_READ_CONFIG),
                dynamodb=boto3.client("dynamodb", region_name=settings.region, config=_READ_CONFIG),
            ),
            rds_failover=boto3.client("rds", region_name=settings.region, config=_ACT_CONFIG),
            sns=boto3.client("sns", region_name=settings.notify_topic_region, config=_READ_CONFIG),
        )
    return _clients


def failover_request(settings: Settings) -> dict[str, Any]:
    # An unplanned failover (AllowDataLoss), not a switchover: this runs because the
    # primary region is unhealthy, and a switchover needs the primary available and is
    # called in the primary's region. Failover is called in the secondary's region, with
    # the target's ARN so RDS can locate it (AWS_FACTS.md, "Switchover ... failover").
    return {
        "GlobalClusterIdentifier": settings.global_cluster_id,
        "TargetDbClusterIdentifier": settings.secondary_cluster_arn,
        "AllowDataLoss": True,
    }


def execute_failover(
    decision: Decision, *, settings: Settings, clients: Clients, now: datetime, owner: str
) -> Decision:
    """Take the lease, call the managed failover, record the outcome."""
    lock = FailoverLock(clients.facts.dynamodb, settings.lock_table, settings.global_cluster_id)
    cooldown = timedelta(minutes=settings.policy.cooldown_minutes)
    details = dict(decision.details)
    try:
        lock.acquire(owner=owner, now=now, cooldown=cooldown)
    except LockNotAcquired as exc:
        details["lock_at_acquire"] = {
            "lease_owner": exc.state.lease_owner,
            "lease_expires_at": _iso(exc.state.lease_expires_at),
            "last_failover_at": _iso(exc.state.last_failover_at),
        }
        return Decision(action=Action.REFUSE, reason=exc.reason, details=details)
    except (ClientError, BotoCoreError) as exc:
        details["error"] = f"{type(exc).__name__}: {exc}"
        return Decision(action=Action.REFUSE, reason=Reason.LOCK_UNAVAILABLE, details=details)

    request = failover_request(settings)
    details["request"] = request
    try:
        response = clients.rds_failover.failover_global_cluster(**request)
    except ClientError as exc:
        details["error"] = f"{exc.response.get('Error', {}).get('Code')}: {exc}"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # A 4xx is a refusal by RDS (nothing started); a 5xx may have started the operation.
        reason = Reason.FAILOVER_REJECTED if 400 <= status < 500 else Reason.FAILOVER_OUTCOME_UNKNOWN
    except BotoCoreError as exc:
        details["error"] = f"{type(exc).__name__}: {exc}"
        reason = Reason.FAILOVER_OUTCOME_UNKNOWN
    else:
        cluster = response.get("GlobalCluster", {})
        details["response"] = {"Status": cluster.get("Status"), "FailoverState": cluster.get("FailoverState")}
        reason = Reason.FAILOVER_STARTED

    try:
        if reason is Reason.FAILOVER_REJECTED:
            lock.release(owner=owner, outcome=str(reason))
        else:
            lock.record_failover(owner=owner, now=now, outcome=str(reason), cooldown=cooldown)
    except (ClientError, BotoCoreError) as exc:
        # The lease stays until it expires, which still blocks a second attempt meanwhile.
        details["lock_record_error"] = f"{type(exc).__name__}: {exc}"
    return Decision(action=Action.FAILOVER, reason=reason, details=details)


# Refusals a scheduled re-check reports only in its log: the normal state of a healthy system.
QUIET_REASONS = frozenset({Reason.PRIMARY_HEALTHY, Reason.ALREADY_WRITER})


def notify(sns: Any, settings: Settings, record: dict[str, Any]) -> bool:
    subject = f"[{settings.environment}] Aurora failover {record['action']}: {record['reason']}"
    try:
        sns.publish(
            TopicArn=settings.notify_topic_arn,
            Subject=subject[:SUBJECT_MAX],
            Message=json.dumps(record, indent=2, sort_keys=True, default=str),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": str(record[name])}
                for name in ("action", "reason", "environment")
            },
        )
    except (ClientError, BotoCoreError) as exc:
        logger.error("failover_notification_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
    return True


def evaluate(
    *, settings: Settings, clients: Clients, trigger: Trigger, now: datetime, invocation_id: str
) -> dict[str, Any]:
    """Gather the facts, decide, act unless refused or dry-run, and report. Never raises for AWS errors."""
    facts = gather_facts(clients.facts, settings, now)
    decision = decide(facts, settings.policy, now)
    if decision.action is Action.DRY_RUN:
        decision = replace(
            decision, details={**decision.details, "would_request": failover_request(settings)}
        )
    elif decision.action is Action.FAILOVER:
        decision = execute_failover(
            decision, settings=settings, clients=clients, now=now, owner=invocation_id
        )
    record: dict[str, Any] = {
        **decision.as_dict(),
        "environment": settings.environment,
        "global_cluster_id": settings.global_cluster_id,
        "secondary_cluster_id": settings.secondary_cluster_id,
        "region": settings.region,
        "primary_region": settings.primary_region,
        "dry_run": settings.policy.dry_run,
        "policy": settings.policy.as_dict(),
        "trigger": trigger.as_dict(),
        "invocation_id": invocation_id,
        "evaluated_at": now.isoformat(),
    }
    log = logger.warning if decision.action is Action.FAILOVER else logger.info
    log("failover_decision", extra=record)
    if trigger.quiet_when_healthy and decision.reason in QUIET_REASONS:
        record["notified"] = False
    else:
        record["notified"] = notify(clients.sns, settings, record)
    return record


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    try:
        trigger = parse_trigger(event)
    except UnsupportedEvent as exc:
        logger.warning("failover_trigger_ignored", extra={"why": str(exc)})
        return {"action": "ignored", "reason": "unsupported_event", "error": str(exc)}
    if not trigger.evaluate:
        logger.info(
            "failover_trigger_ignored",
            extra={"why": f"alarm state {trigger.state}", "trigger": trigger.as_dict()},
        )
        return {"action": "ignored", "reason": "alarm_not_in_alarm", "trigger": trigger.as_dict()}
    return evaluate(
        settings=settings,
        clients=get_clients(settings),
        trigger=trigger,
        now=datetime.now(UTC),
        invocation_id=context.aws_request_id,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
