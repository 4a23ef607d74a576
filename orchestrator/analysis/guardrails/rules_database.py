"""Guardrail rules: The Aurora clusters: engine, backtrack, credentials, deletion, encryption, TLS, names, keys."""

from __future__ import annotations

from collections.abc import Iterator

from model import aws_rules
from model.aws_rules import RuleViolation
from orchestrator.analysis import engine_support
from orchestrator.analysis.guardrails.core import Graph, Hit, Node, rule
from orchestrator.analysis.mock_runtime import SECRET_MASK

CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"


def _is_member(node: Node) -> bool:
    return bool(node.inputs.get("globalClusterIdentifier"))


@rule(
    "engine-version-supported",
    "error",
    "the engine version is a supported, not end-of-life Aurora MySQL release from the dated version table",
    "FC-001-3; model/data/aurora_mysql_versions.yaml",
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
            yield (
                node,
                (
                    f"backtrackWindow={window} on a global-database member: AWS does not support backtrack there; "
                    "use point-in-time restore"
                ),
            )
        if not _is_member(node) and graph.env.backtrack_hours and window != graph.env.backtrack_hours * 3600:
            yield (
                node,
                (
                    f"the environment asks for a {graph.env.backtrack_hours} h backtrack window but the cluster sets "
                    f"backtrackWindow={window}"
                ),
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
            for k in (
                "masterUsername",
                "masterPassword",
                "masterPasswordWo",
                "databaseName",
                "manageMasterUserPassword",
            )
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
            yield (
                node,
                "sets both skipFinalSnapshot and finalSnapshotIdentifier (AWS rejects the combination)",
            )
        if not skip and not final:
            yield (
                node,
                "neither skipFinalSnapshot nor finalSnapshotIdentifier: the cluster could never be deleted",
            )
        if protected and (skip or not i.get("deletionProtection")):
            yield node, "protected environment: needs deletionProtection and a final snapshot"
        if not protected and (i.get("deletionProtection") or not skip):
            yield (
                node,
                "ephemeral environment: deletion protection must be off and the final snapshot skipped",
            )
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
        params = {
            p.get("name"): p.get("value") for p in (group.inputs.get("parameters", []) if group else [])
        }
        if str(params.get("require_secure_transport", "")).upper() not in ("ON", "1"):
            yield node, "its cluster parameter group does not set require_secure_transport=ON"


@rule(
    "db-identifiers-valid",
    "error",
    "physical identifiers (clusters, instances, global cluster, groups, functions, secrets, alarms) meet AWS "
    "naming rules and length limits, and cluster identifiers are unique across regions",
    "FC-001-1; RDS API CreateDBCluster",
)
def _identifiers(graph: Graph) -> Iterator[Hit]:
    checks = {
        CLUSTER: ("clusterIdentifier", aws_rules.check_db_identifier),
        GLOBAL_CLUSTER: ("globalClusterIdentifier", aws_rules.check_db_identifier),
        "aws:rds/clusterInstance:ClusterInstance": ("identifier", aws_rules.check_db_identifier),
        "aws:rds/clusterParameterGroup:ClusterParameterGroup": ("name", aws_rules.check_group_name),
        "aws:rds/parameterGroup:ParameterGroup": ("name", aws_rules.check_group_name),
        "aws:rds/subnetGroup:SubnetGroup": ("name", aws_rules.check_subnet_group_name),
        "aws:lambda/function:Function": ("name", aws_rules.check_function_name),
        "aws:secretsmanager/secret:Secret": ("name", aws_rules.check_secret_name),
        "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", aws_rules.check_alarm_name),
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


def _engine_support(graph: Graph) -> engine_support.EngineSupport | None:
    if graph.today is None:
        return None
    return engine_support.engine_support(graph.env, graph.today)


@rule(
    "engine-standard-support-ending",
    "warning",
    "the engine version's end of standard support is within database.support_horizon_days of the plan's date",
    "model/data/aurora_mysql_versions.yaml (Aurora MySQL release calendars)",
    cross_stack=True,
)
def _support_ending(graph: Graph) -> Iterator[Hit]:
    support = _engine_support(graph)
    if support is not None and support.status == engine_support.Status.ENDING:
        yield None, support.message()


@rule(
    "engine-standard-support-ended",
    "error",
    "the engine version is past its end of standard support on the plan's date (AWS upgrades it, or bills "
    "Extended Support)",
    "model/data/aurora_mysql_versions.yaml (Aurora MySQL release calendars); Aurora User Guide, extended-support",
    cross_stack=True,
)
def _support_ended(graph: Graph) -> Iterator[Hit]:
    support = _engine_support(graph)
    if support is not None and support.status == engine_support.Status.ENDED:
        yield None, support.message()


@rule(
    "extended-support-on-members",
    "error",
    "Extended Support enrolment is set on every cluster as the environment states it (the global cluster's "
    "setting applies to Aurora PostgreSQL only)",
    aws_rules.ENGINE_LIFECYCLE_SOURCE,
)
def _lifecycle_on_members(graph: Graph) -> Iterator[Hit]:
    wanted = graph.env.database.engine_lifecycle_support
    for node in graph.of_type(CLUSTER):
        actual = node.inputs.get("engineLifecycleSupport")
        if actual != wanted:
            yield node, f"engineLifecycleSupport is {actual!r}, the environment states {wanted!r}"
