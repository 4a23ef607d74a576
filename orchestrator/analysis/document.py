"""The plan document: planned stacks, findings, the public ``--json`` contract and the text view.

``plan_document`` is the public ``--json`` contract (README, "infra plan --json"): extend it,
never break it.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from model.environment import Environment
from model.topology import StackSpec
from orchestrator.analysis.mock_runtime import StackRun

PLAN_FORMAT_VERSION = 1


@dataclass
class PlannedStack:
    spec: StackSpec
    account_id: str
    config: dict[str, Any]
    run: StackRun

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "role": self.spec.role.value,
            "region": self.spec.region,
            "account_id": self.account_id,
            "depends_on": list(self.spec.depends_on),
            "config": self.config,
            "resources": [r.to_json() for r in self.run.resources],
            "outputs": self.run.outputs,
            "secret_outputs": sorted(self.run.secret_outputs),
        }


@dataclass
class Finding:
    rule: str
    severity: str  # "error" | "warning"
    resource: str | None
    message: str
    stack: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "resource": self.resource,
            "stack": self.stack,
            "message": self.message,
        }


@dataclass
class Plan:
    env: Environment
    stacks: list[PlannedStack]
    findings: list[Finding] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    """Further top-level sections of the document (e.g. the RTO budget)."""
    today: datetime.date | None = None
    """The date the plan was made for (engine support depends on it); None: not evaluated."""

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def plan_document(plan: Plan) -> dict[str, Any]:
    counts = Counter(f.severity for f in plan.findings)
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "env": plan.env.name,
        "account_id": plan.env.account_id,
        "primary_region": plan.env.primary_region,
        "secondary_regions": list(plan.env.secondary_regions),
        # Only where `infra rehome` recorded it: other documents stay byte-identical.
        **({"secrets_region": plan.env.secrets_region} if plan.env.secrets_region else {}),
        "deletion_policy": plan.env.deletion_policy.value,
        "stacks": [s.to_json() for s in plan.stacks],
        "findings": [f.to_json() for f in plan.findings],
        "summary": {
            "stacks": len(plan.stacks),
            "resources": sum(len(s.run.resources) for s in plan.stacks),
            "errors": counts.get("error", 0),
            "warnings": counts.get("warning", 0),
        },
        **plan.extras,
    }


# Key properties shown in the text summary, per resource type.
_KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType"),
    "aws:rds/globalCluster:GlobalCluster": ("globalClusterIdentifier", "engineVersion", "deletionProtection"),
    "aws:rds/cluster:Cluster": (
        "clusterIdentifier",
        "globalClusterIdentifier",
        "engineVersion",
        "backtrackWindow",
        "deletionProtection",
        "skipFinalSnapshot",
        "finalSnapshotIdentifier",
    ),
    "aws:rds/clusterInstance:ClusterInstance": ("identifier", "instanceClass", "availabilityZone"),
    "aws:kms/key:Key": ("multiRegion", "enableKeyRotation"),
    "aws:secretsmanager/secret:Secret": ("name", "replicas"),
    "aws:lambda/function:Function": ("name", "runtime", "handler"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", "metricName", "period", "evaluationPeriods"),
    "aws:route53/healthCheck:HealthCheck": ("type", "cloudwatchAlarmName", "cloudwatchAlarmRegion"),
    "aws:route53/record:Record": ("name", "type", "setIdentifier"),
    "aws:route53/zone:Zone": ("name",),
}


def _short(value: Any) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "[" + ", ".join(str(v.get("region", v)) for v in value) + "]"
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def render_text(plan: Plan) -> str:
    env = plan.env
    lines = [
        f"Offline plan of environment {env.name!r} (account {env.account_id}, "
        f"{'global' if env.is_global else 'regional'}, deletion policy {env.deletion_policy.value})",
        "No AWS account and no Pulumi CLI were used: programs ran under Pulumi mocks.",
        "",
    ]
    for index, stack in enumerate(plan.stacks, start=1):
        spec = stack.spec
        deps = ", ".join(spec.depends_on) or "nothing"
        lines.append(f"{index}. {spec.name}  [{spec.role.value}, {spec.region}]  after: {deps}")
        fed = {k: v for k, v in stack.config.items() if k not in ("aurora:environment",)}
        for key, value in fed.items():
            shown = value if not isinstance(value, dict) else ", ".join(sorted(value))
            lines.append(f"     config {key} = {shown}")
        counts = Counter(r.type for r in stack.run.resources if not r.type.startswith("aurora:"))
        lines.append(f"     {sum(counts.values())} resources:")
        for typ, count in sorted(counts.items()):
            lines.append(f"       {count:3d} x {typ}")
        for resource in stack.run.resources:
            keys = _KEY_PROPERTIES.get(resource.type)
            if not keys:
                continue
            props = ", ".join(f"{k}={_short(resource.inputs[k])}" for k in keys if k in resource.inputs)
            lines.append(f"       - {resource.name}: {props}")
        outputs = ", ".join(sorted(stack.run.outputs))
        lines.append(f"     outputs: {outputs}")
        lines.append("")
    rto = plan.extras.get("rto_budget")
    if rto:
        lines.append(f"RTO budget (primary outage -> DNS answers with a secondary): {rto['summary']}")
        paths = rto.get("paths") or {}
        if paths:
            figures = ", ".join(
                f"{name.replace('_', ' ')} {path['total_seconds']}s" for name, path in paths.items()
            )
            acts = "" if not rto.get("manual_promotion") else " (once failover.automated is on)"
            lines.append(f"  automated failover paths{acts}: {figures}")
        bound = rto.get("rpo_bound")
        if bound:
            lines.append(f"  RPO bound when it acts: {bound['bound_seconds']:g}s ({bound['covers']})")
        lines.append("")
    support = plan.extras.get("engine_support")
    if support:
        lines.append(
            f"Engine support on {support['today']}: {support['engine_version']} is {support['status']}, "
            f"standard support until {support['end_of_standard_support']} "
            f"({support['days_left']} days; warning horizon {support['horizon_days']}); newest supported "
            f"target {support['newest_supported_target']}"
        )
        lines.append(f"  Past the end: {support['past_end_of_standard_support']}.")
        lines.append("")
    errors = [f for f in plan.findings if f.severity == "error"]
    warnings = [f for f in plan.findings if f.severity == "warning"]
    lines.append(f"Findings: {len(errors)} error(s), {len(warnings)} warning(s)")
    for finding in errors + warnings:
        where = f" [{finding.resource}]" if finding.resource else ""
        lines.append(f"  {finding.severity.upper()} {finding.rule}{where}: {finding.message}")
    return "\n".join(lines)
