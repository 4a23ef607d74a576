"""Guardrail rules: Route 53 health checks and the writer records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from model.naming import writer_name
from orchestrator.analysis.guardrails.core import Graph, Hit, Node, rule
from orchestrator.analysis.guardrails.rules_encryption import _R53_STATISTICS
from orchestrator.analysis.writer_dns import Alarm, WriterDns, WriterDnsError, alarms_with_writer


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
    checks = list(graph.of_type("aws:route53/healthCheck:HealthCheck"))
    check_ids = {n.resource.id for n in checks}
    for node in checks:
        kind = node.inputs.get("type")
        if kind == "CALCULATED":
            # A calculated check only combines other checks, each judged on its own here (the
            # writer name's "writer here and nowhere else").
            children = list(node.inputs.get("childHealthchecks") or [])
            strangers = [c for c in children if c not in check_ids]
            if not children or strangers:
                yield node, f"calculated check combines {strangers or 'no'} checks that are not planned here"
            elif int(node.inputs.get("childHealthThreshold") or 0) > len(children):
                yield (
                    node,
                    "calculated check needs more healthy children than it has: it can never be healthy",
                )
            continue
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
    "a global environment's writer name answers with the writer in every region, moves off a region that "
    "publishes nothing, and falls back on Aurora's global writer endpoint when no region claims the writer",
    "FC-P-9, FC-P-1; DESIGN.md section 4 (DNS failover); Route 53 Developer Guide, "
    "health-checks-how-route-53-chooses-records",
    cross_stack=True,
)
def _failover_records(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    if not env.is_global:
        return
    dns = WriterDns(
        n.resource for n in graph.nodes if graph.roles.get(n.stack) == "dns" or n.stack.endswith(".dns")
    )
    name = writer_name(env.dns.zone_name)
    endpoints = dns.region_endpoints()
    missing = [r for r in env.regions if r not in endpoints]
    if missing:
        yield (
            None,
            f"{name} has no record for {', '.join(missing)}: a failover there leaves the name on a dead or read-only region",
        )
        return
    try:
        for writer in env.regions:
            got = dns.resolve(name, alarms_with_writer(env.regions, writer)).endpoint
            if got != endpoints[writer]:
                yield None, f"with the writer in {writer}, {name} answers with {got}, not {endpoints[writer]}"
            # Every other region silent (its region down, or its CloudWatch unreachable) and stuck
            # on its last status: the name must still leave it.
            silent = {r: (Alarm.OK if r == writer else Alarm.NO_DATA) for r in env.regions}
            for other in env.regions:
                if (
                    other != writer
                    and dns.resolve(name, silent, last_known={other: True}).endpoint == endpoints[other]
                ):
                    yield (
                        None,
                        f"with the writer in {writer} and {other} silent (last seen as writer), {name} still "
                        f"answers with {other}'s endpoint",
                    )
            # Two regions claiming the writer (an old writer that still accepts writes behind a
            # partition): no region's record may win; the name falls back on Aurora's endpoint.
            for other in env.regions:
                if other != writer:
                    both = alarms_with_writer(env.regions, writer) | {other: Alarm.OK}
                    got = dns.resolve(name, both).endpoint
                    if got in (endpoints[writer], endpoints[other]):
                        yield (
                            None,
                            f"with {writer} and {other} both claiming the writer, {name} answers with {got}; "
                            "it must fall back on Aurora's global writer endpoint",
                        )
        got = dns.resolve(name, {r: Alarm.NO_DATA for r in env.regions}).endpoint
        if got in endpoints.values():
            yield (
                None,
                f"with no region claiming the writer, {name} answers with {got}: it needs a fallback record "
                "without a health check (Aurora's global writer endpoint)",
            )
    except WriterDnsError as exc:
        yield None, f"{name}: {exc}"


# --- Migration sets -----------------------------------------------------------------------------
