"""Guardrails: rules over the planned resource graph of a whole environment.

Each rule is a small function over :class:`Graph` (every stack's resources with their
engine-named inputs, as ``infra plan --json`` emits them) with an id, a severity, a one-line
rationale and its source (an AWS page or a FAILURE_CATALOG id). ``infra plan`` evaluates
them; ``infra rules`` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator import aws_rules
from orchestrator.aws_rules import RuleViolation
from orchestrator.mock_runtime import SECRET_MASK, RecordedResource

if TYPE_CHECKING:
    from orchestrator.environment import Environment
    from orchestrator.plan import Finding, Plan


@dataclass(frozen=True)
class Node:
    stack: str
    role: str
    region: str
    resource: RecordedResource

    @property
    def type(self) -> str:
        return self.resource.type

    @property
    def inputs(self) -> dict[str, Any]:
        return self.resource.inputs

    @property
    def urn(self) -> str:
        return self.resource.urn


@dataclass
class Graph:
    env: Environment
    nodes: list[Node]
    outputs: dict[str, dict[str, Any]]  # stack -> outputs
    roles: dict[str, str]  # stack -> role

    def of_type(self, *types: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.type in types)

    @classmethod
    def from_plan(cls, plan: Plan) -> Graph:
        nodes = [
            Node(stack=s.spec.name, role=s.spec.role.value, region=r.region or s.spec.region, resource=r)
            for s in plan.stacks
            for r in s.run.resources
        ]
        return cls(
            env=plan.env,
            nodes=nodes,
            outputs={s.spec.name: s.run.outputs for s in plan.stacks},
            roles={s.spec.name: s.spec.role.value for s in plan.stacks},
        )


Hit = tuple[Node | None, str]  # (resource or None, message)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    rationale: str
    source: str
    check: Callable[[Graph], Iterable[Hit]]


RULES: list[Rule] = []


def rule(rule_id: str, severity: str, rationale: str, source: str) -> Callable[[Callable[[Graph], Iterable[Hit]]], Callable[[Graph], Iterable[Hit]]]:
    def register(fn: Callable[[Graph], Iterable[Hit]]) -> Callable[[Graph], Iterable[Hit]]:
        RULES.append(Rule(rule_id, severity, rationale, source, fn))
        return fn

    return register


def evaluate(plan: Plan) -> list[Finding]:
    from orchestrator.plan import Finding

    graph = Graph.from_plan(plan)
    return evaluate_graph(graph, Finding)


def evaluate_graph(graph: Graph, finding_type: Any = None) -> list[Any]:
    if finding_type is None:
        from orchestrator.plan import Finding as finding_type
    findings = []
    for r in RULES:
        for node, message in r.check(graph):
            findings.append(
                finding_type(
                    rule=r.id,
                    severity=r.severity,
                    resource=node.urn if node else None,
                    stack=node.stack if node else None,
                    message=message,
                )
            )
    return findings


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# --- Accounts, providers, tags -------------------------------------------------------------

AWS_PROVIDER = "pulumi:providers:aws"


@rule(
    "provider-pinned-to-account",
    "error",
    "every AWS provider pins the environment's account and assumes its deploy role",
    "FC-000-3",
)
def _provider_pinned(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(AWS_PROVIDER):
        allowed = _decode(node.inputs.get("allowedAccountIds"))
        roles = _decode(node.inputs.get("assumeRoles")) or []
        if allowed != [graph.env.account_id]:
            yield node, f"allowedAccountIds is {allowed!r}; it must be [{graph.env.account_id!r}]"
        if not any(r.get("roleArn") == graph.env.deploy_role_arn for r in roles if isinstance(r, dict)):
            yield node, f"does not assume the environment's deploy role {graph.env.deploy_role_arn}"


@rule(
    "no-ambient-provider",
    "error",
    "no resource uses the ambient default provider (it would deploy into whatever account the shell has)",
    "FC-000-3",
)
def _no_default_provider(graph: Graph) -> Iterator[Hit]:
    for node in graph.nodes:
        r = node.resource
        if not r.custom or r.type.startswith("pulumi:providers:") or not r.type.startswith("aws:"):
            continue
        if not r.provider or "::default" in r.provider:
            yield node, f"{r.type} {r.name} has no explicit provider (it would use the ambient default one)"


@rule(
    "required-tags",
    "error",
    "every taggable resource carries Environment, Project, ManagedBy and CostCenter (provider default tags count)",
    "FC-004-10",
)
def _required_tags(graph: Graph) -> Iterator[Hit]:
    from components.tags import REQUIRED_TAG_KEYS

    for node in graph.of_type(AWS_PROVIDER):
        tags = (_decode(node.inputs.get("defaultTags")) or {}).get("tags", {})
        missing = [k for k in REQUIRED_TAG_KEYS if not tags.get(k)]
        if missing:
            yield node, f"provider default tags lack {', '.join(missing)}"


# --- Network ------------------------------------------------------------------------------

_OPEN = ("0.0.0.0/0", "::/0")


@rule(
    "no-open-database-port",
    "error",
    "no security group ingress from 0.0.0.0/0 or ::/0 to the database port",
    "DESIGN.md section 4 (Network); security review",
)
def _no_open_db(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        i = node.inputs
        low, high = i.get("fromPort", 0), i.get("toPort", 65535)
        opens_db = i.get("ipProtocol") in ("-1", "tcp", "6") and (low <= 3306 <= high or i.get("ipProtocol") == "-1")
        if opens_db and (i.get("cidrIpv4") in _OPEN or i.get("cidrIpv6") in _OPEN):
            yield node, f"ingress to port 3306 from {i.get('cidrIpv4') or i.get('cidrIpv6')}"
    for node in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in node.inputs.get("ingress", []) or []:
            if rule_.get("fromPort", 0) <= 3306 <= rule_.get("toPort", 0) and set(
                (rule_.get("cidrBlocks") or []) + (rule_.get("ipv6CidrBlocks") or [])
            ) & set(_OPEN):
                yield node, "inline ingress to port 3306 from the internet"


# --- Aurora --------------------------------------------------------------------------------

CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"


def _is_member(node: Node) -> bool:
    return bool(node.inputs.get("globalClusterIdentifier"))


@rule(
    "engine-version-supported",
    "error",
    "the engine version is a supported, not end-of-life Aurora MySQL release from the dated version table",
    "FC-001-3; orchestrator/data/aurora_mysql_versions.yaml",
)
def _engine_supported(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(CLUSTER, GLOBAL_CLUSTER):
        version = node.inputs.get("engineVersion")
        if node.type == CLUSTER and node.inputs.get("engine") != "aurora-mysql":
            yield node, f"engine is {node.inputs.get('engine')!r}, not aurora-mysql"
        try:
            aws_rules.check_engine_version("engineVersion", str(version), global_database=graph.env.is_global)
        except RuleViolation as exc:
            yield node, exc.render()


@rule(
    "backtrack-where-supported",
    "error",
    "backtrack is absent on global-database members (AWS rejects it) and present where the environment asks for it",
    f"FC-004-3; {aws_rules.BACKTRACK_SOURCE}",
)
def _backtrack(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(CLUSTER):
        window = node.inputs.get("backtrackWindow") or 0
        if _is_member(node) and window:
            yield node, (
                f"backtrackWindow={window} on a global-database member: AWS does not support backtrack there; "
                "use point-in-time restore"
            )
        if not _is_member(node) and graph.env.backtrack_hours and window != graph.env.backtrack_hours * 3600:
            yield node, (
                f"the environment asks for a {graph.env.backtrack_hours} h backtrack window but the cluster sets "
                f"backtrackWindow={window}"
            )
        if window > aws_rules.BACKTRACK_MAX_HOURS * 3600:
            yield node, f"backtrackWindow={window} exceeds 72 h"


@rule(
    "secondary-without-credentials",
    "error",
    "secondary clusters carry no master username, password or database name",
    "AWS_FACTS.md (aws-cdk#29880; terraform-aws-modules/rds-aurora is_primary_cluster=false)",
)
def _secondary_no_creds(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(CLUSTER):
        if graph.roles.get(node.stack) != "secondary":
            continue
        present = [
            k
            for k in ("masterUsername", "masterPassword", "masterPasswordWo", "databaseName", "manageMasterUserPassword")
            if node.inputs.get(k)
        ]
        if present:
            yield node, f"secondary cluster sets {', '.join(present)}"


@rule(
    "master-password-is-secret",
    "error",
    "master passwords are generated secret values, never literals in code or config",
    "FC-004-6",
)
def _password_secret(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(CLUSTER):
        for key in ("masterPassword", "masterPasswordWo"):
            if key in node.inputs and node.inputs[key] != SECRET_MASK:
                yield node, f"{key} is not a secret value (a literal password would land in state and logs)"
        if node.inputs.get("masterPassword"):
            yield node, "masterPassword (not write-only) would let `pulumi up` reset a rotated password"
        if graph.env.is_global and node.inputs.get("manageMasterUserPassword"):
            yield node, "RDS-managed master passwords are not supported for global database members"


@rule(
    "deletion-policy",
    "error",
    "destroyability matches the environment's deletion policy (snapshot settings, deletion protection, force_destroy)",
    "FC-001-2; RDS API DeleteDBCluster",
)
def _deletion(graph: Graph) -> Iterator[Hit]:
    protected = graph.env.protected
    for node in graph.of_type(CLUSTER):
        i = node.inputs
        skip = bool(i.get("skipFinalSnapshot"))
        final = i.get("finalSnapshotIdentifier")
        if skip and final:
            yield node, "sets both skipFinalSnapshot and finalSnapshotIdentifier (AWS rejects the combination)"
        if not skip and not final:
            yield node, "neither skipFinalSnapshot nor finalSnapshotIdentifier: the cluster could never be deleted"
        if protected and (skip or not i.get("deletionProtection")):
            yield node, "protected environment: needs deletionProtection and a final snapshot"
        if not protected and (i.get("deletionProtection") or not skip):
            yield node, "ephemeral environment: deletion protection must be off and the final snapshot skipped"
    for node in graph.of_type(GLOBAL_CLUSTER):
        if protected and (node.inputs.get("forceDestroy") or not node.inputs.get("deletionProtection")):
            yield node, "protected environment: global cluster needs deletionProtection and no forceDestroy"
        if not protected and node.inputs.get("deletionProtection"):
            yield node, "ephemeral environment: global cluster deletion protection must be off"


@rule(
    "cluster-encrypted-with-cmk",
    "error",
    "clusters encrypt storage with a customer-managed key of their own region",
    "DESIGN.md section 4; RDS API CreateDBCluster KmsKeyId",
)
def _cluster_cmk(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(CLUSTER):
        key = str(node.inputs.get("kmsKeyId") or "")
        if not node.inputs.get("storageEncrypted") or not key:
            yield node, "storage is not encrypted with a customer-managed key"
        elif f":{node.region}:" not in key:
            yield node, f"kmsKeyId {key} is not a key of the cluster's region {node.region}"


@rule(
    "tls-required",
    "error",
    "the cluster parameter group requires TLS (require_secure_transport=ON)",
    "Aurora User Guide, AuroraMySQL.Security.SSL",
)
def _tls(graph: Graph) -> Iterator[Hit]:
    groups = {
        n.inputs.get("name"): n for n in graph.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    }
    for node in graph.of_type(CLUSTER):
        group = groups.get(node.inputs.get("dbClusterParameterGroupName"))
        params = {p.get("name"): p.get("value") for p in (group.inputs.get("parameters", []) if group else [])}
        if str(params.get("require_secure_transport", "")).upper() not in ("ON", "1"):
            yield node, "its cluster parameter group does not set require_secure_transport=ON"


@rule(
    "db-identifiers-valid",
    "error",
    "cluster, instance and global cluster identifiers and group names meet AWS naming rules",
    "FC-001-1; RDS API CreateDBCluster",
)
def _identifiers(graph: Graph) -> Iterator[Hit]:
    checks = {
        CLUSTER: ("clusterIdentifier", aws_rules.check_db_identifier),
        GLOBAL_CLUSTER: ("globalClusterIdentifier", aws_rules.check_db_identifier),
        "aws:rds/clusterInstance:ClusterInstance": ("identifier", aws_rules.check_db_identifier),
        "aws:rds/clusterParameterGroup:ClusterParameterGroup": ("name", aws_rules.check_group_name),
        "aws:rds/parameterGroup:ParameterGroup": ("name", aws_rules.check_group_name),
        "aws:rds/subnetGroup:SubnetGroup": ("name", aws_rules.check_group_name),
        "aws:lambda/function:Function": ("name", aws_rules.check_function_name),
    }
    seen_clusters: dict[str, Node] = {}
    for node in graph.nodes:
        if node.type not in checks:
            continue
        key, check = checks[node.type]
        value = node.inputs.get(key)
        if value is None:
            continue
        try:
            check(key, str(value))
        except RuleViolation as exc:
            yield node, exc.render()
        if node.type == CLUSTER:
            if value in seen_clusters:
                yield node, f"cluster identifier {value} is also used in {seen_clusters[value].stack}"
            seen_clusters[str(value)] = node


@rule(
    "kms-rotation",
    "error",
    "customer-managed keys rotate automatically",
    "DESIGN.md section 4 (Encryption); KMS Developer Guide, rotate-keys",
)
def _kms_rotation(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:kms/key:Key"):
        if not node.inputs.get("enableKeyRotation"):
            yield node, "enableKeyRotation is off"


@rule(
    "secret-replicated-to-every-region",
    "error",
    "the credentials secret is replicated to every secondary region with that region's key",
    "DESIGN.md section 4 (credentials available in every region)",
)
def _secret_replicas(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:secretsmanager/secret:Secret"):
        if not str(node.inputs.get("name", "")).endswith("/master"):
            continue
        replicas = {r.get("region"): r for r in node.inputs.get("replicas", []) or []}
        for region in graph.env.secondary_regions:
            if region not in replicas:
                yield node, f"not replicated to secondary region {region}"
            elif not replicas[region].get("kmsKeyId"):
                yield node, f"replica in {region} has no customer-managed key"


# Outputs integrators need from every regional stack (FC-004-8).
REQUIRED_REGIONAL_OUTPUTS = (
    "vpc_id",
    "private_subnet_ids",
    "db_security_group_id",
    "lambda_security_group_id",
    "app_security_group_id",
    "kms_key_arn",
    "cluster_identifier",
    "cluster_arn",
    "cluster_endpoint",
    "reader_endpoint",
    "port",
    "master_secret_arn",
)


@rule(
    "regional-outputs-complete",
    "error",
    "every regional stack exports what integrators need (network, keys, endpoints, secret, functions)",
    "FC-004-8",
)
def _outputs(graph: Graph) -> Iterator[Hit]:
    for stack, outputs in graph.outputs.items():
        if graph.roles[stack] == "dns":
            continue
        missing = [o for o in REQUIRED_REGIONAL_OUTPUTS if o not in outputs]
        if missing:
            yield None, f"stack {stack} does not export {', '.join(missing)}"
        for key, value in outputs.items():
            if key.endswith(("_endpoint", "_address")) and value is not None and not isinstance(value, str):
                yield None, f"stack {stack} output {key} is {type(value).__name__}, not a plain string (FC-004-2)"
