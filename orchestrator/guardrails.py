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

UNKNOWN = "<unknown>"
"""What the policy adapter puts where a preview doesn't know a value yet."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    rationale: str
    source: str
    check: Callable[[Graph], Iterable[Hit]]
    cross_stack: bool = False
    """Needs every stack of the environment (or their outputs): evaluated by `infra plan` only,
    not by the per-stack policy pack."""


RULES: list[Rule] = []


CheckFn = Callable[[Graph], Iterable[Hit]]


def rule(
    rule_id: str, severity: str, rationale: str, source: str, *, cross_stack: bool = False
) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        RULES.append(Rule(rule_id, severity, rationale, source, fn, cross_stack))
        return fn

    return register


def evaluate(plan: Plan) -> list[Finding]:
    from orchestrator.plan import Finding

    graph = Graph.from_plan(plan)
    return evaluate_graph(graph, Finding)


def evaluate_graph(graph: Graph, finding_type: Any = None, rules: Iterable[Rule] | None = None) -> list[Any]:
    if finding_type is None:
        from orchestrator.plan import Finding as finding_type
    findings = []
    for r in RULES if rules is None else rules:
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
        opens_db = i.get("ipProtocol") in ("-1", "tcp", "6") and (
            low <= 3306 <= high or i.get("ipProtocol") == "-1"
        )
        if opens_db and (i.get("cidrIpv4") in _OPEN or i.get("cidrIpv6") in _OPEN):
            yield node, f"ingress to port 3306 from {i.get('cidrIpv4') or i.get('cidrIpv6')}"
    for node in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in node.inputs.get("ingress", []) or []:
            all_traffic = str(rule_.get("protocol")) in ("-1", "all")
            covers = all_traffic or rule_.get("fromPort", 0) <= 3306 <= rule_.get("toPort", 0)
            sources = {*list(rule_.get("cidrBlocks") or []), *list(rule_.get("ipv6CidrBlocks") or [])}
            if covers and sources & set(_OPEN):
                yield node, f"inline ingress to port 3306 from {', '.join(sorted(sources & set(_OPEN)))}"


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
    "health_function_arn",
    "alarm_topic_arn",
    "writer_health_alarm_name",
)


@rule(
    "regional-outputs-complete",
    "error",
    "every regional stack exports what integrators need (network, keys, endpoints, secret, functions)",
    "FC-004-8",
    cross_stack=True,
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
                yield (
                    None,
                    f"stack {stack} output {key} is {type(value).__name__}, not a plain string (FC-004-2)",
                )


# --- Lambda ----------------------------------------------------------------------------------

FUNCTION = "aws:lambda/function:Function"


def _subpackage(handler: str) -> str | None:
    parts = handler.split(".")
    return parts[1] if len(parts) >= 4 and parts[0] == "lambda_src" else None


@rule(
    "lambda-imports-satisfied",
    "error",
    "every import of a Lambda's code is satisfied by the runtime, its package or its layers",
    "FC-000-1, FC-001-4",
)
def _lambda_imports(graph: Graph) -> Iterator[Hit]:
    from components import lambda_packaging

    for node in graph.of_type(FUNCTION):
        sub = _subpackage(str(node.inputs.get("handler", "")))
        if sub is None:
            yield (
                node,
                f"handler {node.inputs.get('handler')!r} is not in lambda_src (its imports can't be checked)",
            )
            continue
        try:
            missing = lambda_packaging.unsatisfied_imports([sub])
        except lambda_packaging.PackagingError as exc:
            yield node, str(exc)
            continue
        needs_layer = (
            lambda_packaging.imported_top_level_modules([sub]) & lambda_packaging.layer_top_level_modules()
        )
        if missing:
            yield (
                node,
                f"imports {', '.join(sorted(missing))}, which neither the runtime nor the layer provides",
            )
        if needs_layer and not node.inputs.get("layers"):
            yield node, f"imports {', '.join(sorted(needs_layer))} from the layer but has no layer attached"


# boto3 service name -> VPC endpoint service name.
_ENDPOINT_FOR_SERVICE = {"cloudwatch": "monitoring", "logs": "logs", "secretsmanager": "secretsmanager",
                         "s3": "s3", "ssm": "ssm", "rds": "rds", "sns": "sns", "dynamodb": "dynamodb",
                         "sts": "sts", "kms": "kms", "lambda": "lambda"}  # fmt: skip


_CLIENT_FACTORIES = {"client", "aws", "_client", "make_client"}


def services_called(subpackage: str) -> set[str]:
    """AWS services a Lambda's code creates boto3 clients for (read from its sources): the first,
    literal argument of ``boto3.client(...)`` or of a client factory (``aws("ssm")``)."""
    import ast

    from components import lambda_packaging

    services: set[str] = set()
    for arcname, path in lambda_packaging.function_sources([subpackage]):
        if not arcname.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if name in _CLIENT_FACTORIES and isinstance(first, ast.Constant) and isinstance(first.value, str):
                services.add(first.value)
    return services


@rule(
    "lambda-apis-reachable",
    "error",
    "every AWS API an in-VPC Lambda calls is reachable: an endpoint for that service in its VPC, or a NAT gateway",
    "FC-000-2",
)
def _lambda_reachability(graph: Graph) -> Iterator[Hit]:
    from components import lambda_packaging

    for node in graph.of_type(FUNCTION):
        vpc = node.inputs.get("vpcConfig") or {}
        if not vpc.get("subnetIds"):
            continue
        sub = _subpackage(str(node.inputs.get("handler", "")))
        if sub is None:
            continue
        stack_nodes = [n for n in graph.nodes if n.stack == node.stack]
        if any(n.type == "aws:ec2/natGateway:NatGateway" for n in stack_nodes):
            continue
        try:
            called = services_called(sub)
        except lambda_packaging.PackagingError:
            continue  # lambda-imports-satisfied reports a handler whose code doesn't exist
        endpoints = {
            str(n.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
            for n in stack_nodes
            if n.type == "aws:ec2/vpcEndpoint:VpcEndpoint"
        }
        for service in sorted(called):
            endpoint = _ENDPOINT_FOR_SERVICE.get(service, service)
            if endpoint not in endpoints:
                yield (
                    node,
                    (
                        f"calls {service} from private subnets but the VPC has no {endpoint} endpoint and no NAT "
                        "gateway: the call would time out"
                    ),
                )


@rule(
    "lambda-environment-plain-strings",
    "error",
    "Lambda environment variables are plain strings (an endpoint is its address, not an object)",
    "FC-004-2",
)
def _lambda_env(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(FUNCTION):
        variables = (node.inputs.get("environment") or {}).get("variables") or {}
        for key, value in variables.items():
            if not isinstance(value, str):
                yield node, f"environment variable {key} is a {type(value).__name__}, not a string"
            elif key.endswith("_HOST") and (not value or "{" in value or " " in value):
                yield node, f"environment variable {key}={value!r} is not a host name"


# --- IAM --------------------------------------------------------------------------------------

# Actions AWS defines no resource-level permissions for: Resource "*" is required there.
WILDCARD_RESOURCE_ALLOWED = frozenset(
    {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "secretsmanager:GetRandomPassword",
    }
)


def _statements(policy: Any) -> list[dict[str, Any]]:
    doc = _decode(policy)
    if not isinstance(doc, dict):
        return []
    statements = doc.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@rule(
    "iam-least-privilege",
    "error",
    'IAM statements name exact actions, and use Resource "*" only where AWS requires it',
    "FC-002-7",
)
def _iam(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        for statement in _statements(node.inputs.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(a) for a in _as_list(statement.get("Action", []))]
            for action in actions:
                if "*" in action or "?" in action:
                    yield node, f"statement {statement.get('Sid', '?')} allows the wildcard action {action}"
            if "*" in _as_list(statement.get("Resource", [])):
                broad = [a for a in actions if a not in WILDCARD_RESOURCE_ALLOWED]
                if broad:
                    yield (
                        node,
                        (
                            f'statement {statement.get("Sid", "?")} grants {", ".join(broad)} on Resource "*"; '
                            "name the resources"
                        ),
                    )
    for node in graph.of_type("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey"):
        for statement in _statements(node.inputs.get("policy")):
            principal = statement.get("Principal", {})
            aws_principal = principal.get("AWS") if isinstance(principal, dict) else principal
            if statement.get("Effect") == "Allow" and aws_principal == "*" and not statement.get("Condition"):
                yield (
                    node,
                    f"key policy statement {statement.get('Sid', '?')} allows any principal unconditionally",
                )


# --- Encryption, rotation ----------------------------------------------------------------------


@rule(
    "customer-managed-encryption",
    "error",
    "secrets, topics, log groups, buckets and tables are encrypted with customer-managed keys",
    "DESIGN.md section 4 (Encryption)",
)
def _cmk(graph: Graph) -> Iterator[Hit]:
    checks = {
        "aws:secretsmanager/secret:Secret": "kmsKeyId",
        "aws:sns/topic:Topic": "kmsMasterKeyId",
        "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
    }
    for node in graph.nodes:
        key = checks.get(node.type)
        if not key:
            continue
        value = str(node.inputs.get(key) or "")
        if not value:
            yield node, f"{node.type} {node.resource.name} has no {key}"
        elif "alias/aws/" in value:
            yield (
                node,
                f"{node.type} {node.resource.name} uses the AWS-managed key {value}, not a customer-managed one",
            )
    for node in graph.of_type("aws:dynamodb/table:Table"):
        sse = node.inputs.get("serverSideEncryption") or {}
        if not (sse.get("enabled") and sse.get("kmsKeyArn")):
            yield node, "table is not encrypted with a customer-managed key"
    buckets = {n.inputs.get("bucket") for n in graph.of_type("aws:s3/bucket:Bucket")}
    encrypted = {
        n.inputs.get("bucket")
        for n in graph.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if any(
            (r.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
            for r in n.inputs.get("rules", [])
        )
    }
    for node in graph.of_type("aws:s3/bucket:Bucket"):
        if node.resource.id not in encrypted and node.inputs.get("bucket") not in encrypted:
            yield node, f"bucket {node.inputs.get('bucket')} has no KMS default encryption"
    del buckets


@rule(
    "secrets-rotate",
    "error",
    "every database secret rotates on a schedule",
    "FC-000-5",
)
def _rotation(graph: Graph) -> Iterator[Hit]:
    rotated = {
        str(n.inputs.get("secretId"))
        for n in graph.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    }
    for node in graph.of_type("aws:secretsmanager/secret:Secret"):
        if node.resource.id not in rotated:
            yield node, f"secret {node.inputs.get('name')} has no rotation schedule"


# --- DNS and health checks ---------------------------------------------------------------------

_R53_STATISTICS = {"Average", "Minimum", "Maximum", "Sum", "SampleCount"}


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


def _bucket_refs(node: Node) -> set[str]:
    return {str(node.inputs.get("bucket")), node.resource.id} - {"None", ""}


def _denies_insecure_transport(policy: Any) -> bool:
    for statement in _statements(policy):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            return True
    return False


@rule(
    "migration-sets-private",
    "error",
    "buckets holding migration sets are private, versioned and TLS-only, and a role reads only its own "
    "environment's prefix (no environment reaches another's migrations)",
    "S3 User Guide, security best practices; DESIGN.md section 4 (pull model)",
)
def _migration_sets(graph: Graph) -> Iterator[Hit]:
    for bucket in graph.of_type("aws:s3/bucket:Bucket"):
        refs = _bucket_refs(bucket)
        related = [n for n in graph.nodes if n.stack == bucket.stack and str(n.inputs.get("bucket")) in refs]
        blocks = [n for n in related if n.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(b.inputs.get(f) is True for f in flags) for b in blocks):
            yield bucket, f"bucket {bucket.inputs.get('bucket')} does not block every kind of public access"
        versioning = [n for n in related if n.type == "aws:s3/bucketVersioning:BucketVersioning"]
        if not any(
            (v.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled" for v in versioning
        ):
            yield bucket, f"bucket {bucket.inputs.get('bucket')} is not versioned"
        policies = [n for n in related if n.type == "aws:s3/bucketPolicy:BucketPolicy"]
        if not any(_denies_insecure_transport(p.inputs.get("policy")) for p in policies):
            yield (
                bucket,
                f"bucket {bucket.inputs.get('bucket')} has no policy denying aws:SecureTransport=false",
            )
    own_prefix = f"/migrations/{graph.env.name}/"
    for node in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in _statements(node.inputs.get("policy")):
            actions = {str(a) for a in _as_list(statement.get("Action", []))}
            if statement.get("Effect") != "Allow" or not actions & {"s3:GetObject", "s3:GetObjectVersion"}:
                continue
            for resource in _as_list(statement.get("Resource", [])):
                if own_prefix not in str(resource):
                    yield (
                        node,
                        (
                            f"statement {statement.get('Sid', '?')} reads {resource}, outside this environment's "
                            f"prefix migrations/{graph.env.name}/"
                        ),
                    )
