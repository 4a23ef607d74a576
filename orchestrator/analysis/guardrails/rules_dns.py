"""Guardrail rules: Route 53 health checks and the writer records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orchestrator.analysis.guardrails.core import Graph, Hit, Node, rule
from orchestrator.analysis.guardrails.rules_encryption import _R53_STATISTICS


@rule(
    "health-checks-on-standard-alarms",
    "error",
    "Route 53 health checks are CLOUDWATCH_METRIC checks on an alarm that exists in the named region, on a "
    "standard-resolution metric with a supported statistic",
    "FC-004-5; Route 53 API Reference, AlarmIdentifier",
    cross_stack=True,
)
def _health_checks(graph: Graph) -> Iterator[Hit]:
    alarms: dict[tuple[Any, Any], Node] = {
        (n.region, n.inputs.get("name")): n for n in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    for node in graph.of_type("aws:route53/healthCheck:HealthCheck"):
        kind = node.inputs.get("type")
        if kind != "CLOUDWATCH_METRIC":
            yield (
                node,
                (
                    f"health check of type {kind}: a MySQL endpoint serves no HTTP(S), and private endpoints can't "
                    "be probed by Route 53; use CLOUDWATCH_METRIC on the writer-health alarm"
                ),
            )
            continue
        region, name = node.inputs.get("cloudwatchAlarmRegion"), node.inputs.get("cloudwatchAlarmName")
        alarm = alarms.get((region, name))
        if alarm is None:
            yield node, f"alarm {name!r} does not exist in {region} (the health check would never be healthy)"
            continue
        period = int(alarm.inputs.get("period") or 0)
        if period < 60 or period % 60:
            yield (
                node,
                f"alarm {name} has period {period}: Route 53 supports standard-resolution metrics only",
            )
        if alarm.inputs.get("extendedStatistic") or alarm.inputs.get("metricQueries"):
            yield (
                node,
                f"alarm {name} uses extended statistics or metric math, which Route 53 doesn't support",
            )
        elif alarm.inputs.get("statistic") not in _R53_STATISTICS:
            yield (
                node,
                f"alarm {name} statistic {alarm.inputs.get('statistic')!r} is not supported by Route 53",
            )


@rule(
    "writer-failover-records",
    "error",
    "a global environment's writer name has a PRIMARY and a SECONDARY failover record, each with a health check",
    "DESIGN.md section 4 (DNS failover)",
    cross_stack=True,
)
def _failover_records(graph: Graph) -> Iterator[Hit]:
    if not graph.env.is_global:
        return
    roles: dict[str, Node] = {}
    for node in graph.of_type("aws:route53/record:Record"):
        for policy in node.inputs.get("failoverRoutingPolicies") or []:
            roles[str(policy.get("type"))] = node
            if not node.inputs.get("healthCheckId"):
                yield node, f"{policy.get('type')} record has no health check"
    for role in ("PRIMARY", "SECONDARY"):
        if role not in roles:
            yield None, f"no {role} failover record for the writer name"


# --- Migration sets -----------------------------------------------------------------------------
