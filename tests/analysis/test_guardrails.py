"""Every guardrail rule, proven both ways on minimal resource graphs, and on real planned graphs.

For each rule there is at least one case: a small graph built by a function that takes ``bad``.
With ``bad=False`` the graph is clean (no finding of any rule); with ``bad=True`` exactly one
thing changes and exactly that rule fires, naming the resource and the offending field/value.
The companions every minimal graph needs (pinned providers, a global environment's failover
records) are described in ``tests/support/graphs.py``; ``test_baseline_graphs_are_clean``
proves they trigger nothing on their own.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from components import lambda_packaging
from model import naming
from model.environment import checked_in_environment_names
from orchestrator.analysis import guardrails
from orchestrator.analysis.guardrails import Node
from orchestrator.analysis.mock_runtime import SECRET_MASK
from tests.support.graphs import (
    ALARM,
    BUCKET,
    BUCKET_SSE,
    CLUSTER,
    ENDPOINT_SERVICES,
    FUNCTION,
    HEALTH_CHECK,
    INGRESS_RULE,
    KMS_KEY,
    LOG_GROUP,
    NAT_GATEWAY,
    RECORD,
    ROLE_POLICY,
    SECRET_ROTATION,
    SECURITY_GROUP,
    SUBNET_GROUP,
    TABLE,
    TOPIC,
    VPC_ENDPOINT,
    GraphBuilder,
    evaluate,
    find,
    iam_policy,
    planned,
    planned_graph,
)

RULE_IDS = [r.id for r in guardrails.RULES]


@dataclass(frozen=True)
class Case:
    rule: str
    variant: str
    env: str
    build: Callable[[GraphBuilder, bool], Node | None]
    """Adds the resources; returns the node the finding must name (None: a stack-level finding)."""
    expect: tuple[str, ...]
    """Fragments the finding messages must contain (field, value, resource)."""

    def __str__(self) -> str:
        return f"{self.rule}[{self.variant}]"


CASES: list[Case] = []


def case(rule: str, variant: str, *, env: str = "dev", expect: tuple[str, ...]) -> Callable[..., object]:
    def register(
        fn: Callable[[GraphBuilder, bool], Node | None],
    ) -> Callable[[GraphBuilder, bool], Node | None]:
        CASES.append(Case(rule, variant, env, fn, expect))
        return fn

    return register


# --- accounts, providers, tags ----------------------------------------------------------------


@case(
    "provider-pinned-to-account",
    "foreign account",
    expect=("allowedAccountIds", "999999999999", "111111111111"),
)
def _provider_foreign_account(b: GraphBuilder, bad: bool) -> Node:
    provider = b.provider(b.primary)
    if bad:
        provider.inputs["allowedAccountIds"] = json.dumps(["999999999999"])
    return provider


@case(
    "provider-pinned-to-account",
    "role of another account",
    env="prod",
    expect=("does not assume", "arn:aws:iam::333333333333:role/aurora-deploy"),
)
def _provider_wrong_role(b: GraphBuilder, bad: bool) -> Node:
    provider = b.provider(b.secondary)
    if bad:
        provider.inputs["assumeRoles"] = json.dumps(
            [{"roleArn": "arn:aws:iam::222222222222:role/aurora-deploy", "sessionName": "infra-prod"}]
        )
    return provider


@case(
    "no-ambient-provider",
    "no provider",
    expect=("aws:ec2/vpc:Vpc", "dev-use1-network-vpc", "no explicit provider"),
)
def _ambient_provider(b: GraphBuilder, bad: bool) -> Node:
    return b.add(
        "aws:ec2/vpc:Vpc",
        "dev-use1-network-vpc",
        {"cidrBlock": "10.10.0.0/16", "enableDnsSupport": True, "enableDnsHostnames": True},
        **({"provider": None} if bad else {}),
    )


@case("no-ambient-provider", "default provider", expect=("aws:sns/topic:Topic", "no explicit provider"))
def _default_provider(b: GraphBuilder, bad: bool) -> Node:
    default = "urn:pulumi:dev.us-east-1::aurora-global::pulumi:providers:aws::default_6_83_0"
    return b.add(
        TOPIC,
        "dev-use1-alarms-topic",
        {"name": "dev-aurora-use1-alarms", "kmsMasterKeyId": b.kms_key_arn("us-east-1")},
        **({"provider": default} if bad else {}),
    )


@case("required-tags", "no CostCenter", expect=("CostCenter",))
def _tags_missing_cost_center(b: GraphBuilder, bad: bool) -> Node:
    provider = b.provider(b.primary)
    if bad:
        tags = {k: v for k, v in b.env.base_tags().items() if k != "CostCenter"}
        provider.inputs["defaultTags"] = json.dumps({"tags": tags})
    return provider


@case("required-tags", "only a Name tag", expect=("Environment", "Project", "ManagedBy", "CostCenter"))
def _tags_only_name(b: GraphBuilder, bad: bool) -> Node:
    provider = b.provider(b.primary)
    if bad:  # FC-004-10: the earlier templates tagged resources with Name only
        provider.inputs["defaultTags"] = json.dumps({"tags": {"Name": "aurora"}})
    return provider


# --- network ------------------------------------------------------------------------------------


def _db_ingress(b: GraphBuilder, **source: object) -> Node:
    return b.add(
        INGRESS_RULE,
        "dev-use1-network-db-ingress",
        {
            "description": "MySQL",
            "securityGroupId": "sg-0db",
            "ipProtocol": "tcp",
            "fromPort": 3306.0,
            "toPort": 3306.0,
            **source,
        },
    )


@case("no-open-database-port", "IPv4 anywhere", expect=("3306", "0.0.0.0/0"))
def _open_ipv4(b: GraphBuilder, bad: bool) -> Node:
    return _db_ingress(
        b, **({"cidrIpv4": "0.0.0.0/0"} if bad else {"referencedSecurityGroupId": "sg-0lambda"})
    )


@case("no-open-database-port", "IPv6 anywhere", expect=("3306", "::/0"))
def _open_ipv6(b: GraphBuilder, bad: bool) -> Node:
    return _db_ingress(b, cidrIpv6="::/0" if bad else "fd00:10::/56")


@case("no-open-database-port", "all protocols", expect=("3306", "0.0.0.0/0"))
def _open_all_traffic(b: GraphBuilder, bad: bool) -> Node:
    return b.add(
        INGRESS_RULE,
        "dev-use1-network-db-all",
        {"securityGroupId": "sg-0db", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0" if bad else "10.10.0.0/16"},
    )


@case("no-open-database-port", "inline rule", expect=("inline ingress to port 3306",))
def _open_inline(b: GraphBuilder, bad: bool) -> Node:
    return b.add(
        SECURITY_GROUP,
        "dev-use1-network-db-sg",
        {
            "vpcId": "vpc-0123456789abcdef0",
            "description": "Aurora cluster",
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 3306.0,
                    "toPort": 3306.0,
                    "cidrBlocks": ["0.0.0.0/0"] if bad else ["10.10.0.0/16"],
                }
            ],
        },
    )


# --- Aurora -------------------------------------------------------------------------------------


@case(
    "engine-version-supported",
    "end-of-life 5.7",
    expect=("engineVersion", "5.7.mysql_aurora.2.11.2", "end-of-life", "FC-001-3"),
)
def _engine_eol(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"engineVersion": "5.7.mysql_aurora.2.11.2"} if bad else {}))


@case(
    "engine-version-supported",
    "version not in the table",
    env="prod",
    expect=("8.0.mysql_aurora.3.99.0", "aurora_mysql_versions.yaml"),
)
def _engine_unlisted(b: GraphBuilder, bad: bool) -> Node:
    return b.global_cluster(**({"engineVersion": "8.0.mysql_aurora.3.99.0"} if bad else {}))


@case("engine-version-supported", "not aurora-mysql", expect=("'mysql'", "not aurora-mysql"))
def _engine_not_aurora(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"engine": "mysql"} if bad else {}))


@case(
    "backtrack-where-supported",
    "on a global-database member",
    env="prod",
    expect=("backtrackWindow=86400", "global-database member", "point-in-time restore"),
)
def _backtrack_on_member(b: GraphBuilder, bad: bool) -> Node:
    # FC-004-3: the "fix" that adds the required backtrack to a global primary fails at deploy time.
    return b.aurora_cluster(**({"backtrackWindow": 86400.0} if bad else {}))


@case("backtrack-where-supported", "missing where asked", expect=("24 h", "backtrackWindow=0"))
def _backtrack_missing(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"backtrackWindow": None} if bad else {}))


@case("backtrack-where-supported", "over 72 hours", expect=("backtrackWindow=288000", "exceeds 72 h"))
def _backtrack_too_long(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"backtrackWindow": 80 * 3600.0} if bad else {}))


@case(
    "secondary-without-credentials",
    "master username",
    env="prod",
    expect=("secondary cluster sets masterUsername",),
)
def _secondary_username(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(b.secondary, **({"masterUsername": "dbadmin"} if bad else {}))


@case("secondary-without-credentials", "database name", env="staging", expect=("databaseName",))
def _secondary_database(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(b.secondary, **({"databaseName": "app"} if bad else {}))


LITERAL_PASSWORD = "correct-horse-battery"


@case("master-password-is-secret", "literal password", expect=("masterPasswordWo is not a secret value",))
def _password_literal(b: GraphBuilder, bad: bool) -> Node:
    # FC-004-6: a password in configuration
    return b.aurora_cluster(**({"masterPasswordWo": LITERAL_PASSWORD} if bad else {}))


@case("master-password-is-secret", "not write-only", expect=("masterPassword (not write-only)",))
def _password_not_write_only(b: GraphBuilder, bad: bool) -> Node:
    overrides = {"masterPasswordWo": None, "masterPasswordWoVersion": None, "masterPassword": SECRET_MASK}
    return b.aurora_cluster(**(overrides if bad else {}))


@case("master-password-is-secret", "RDS-managed in a global database", env="prod", expect=("RDS-managed",))
def _password_rds_managed(b: GraphBuilder, bad: bool) -> Node:
    overrides = {"masterPasswordWo": None, "masterPasswordWoVersion": None, "manageMasterUserPassword": True}
    return b.aurora_cluster(**(overrides if bad else {}))


@case(
    "deletion-policy",
    "no snapshot setting at all",
    expect=("neither skipFinalSnapshot nor finalSnapshotIdentifier", "could never be deleted"),
)
def _deletion_no_setting(b: GraphBuilder, bad: bool) -> Node:
    # FC-001-2: deletion protection off, no snapshot setting
    return b.aurora_cluster(**({"skipFinalSnapshot": None} if bad else {}))


@case(
    "deletion-policy",
    "protected without final snapshot",
    env="prod",
    expect=("protected environment", "final snapshot"),
)
def _deletion_protected_skips(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"skipFinalSnapshot": True, "finalSnapshotIdentifier": None} if bad else {}))


@case("deletion-policy", "protected without deletion protection", env="prod", expect=("deletionProtection",))
def _deletion_protected_unprotected(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(b.secondary, **({"deletionProtection": False} if bad else {}))


@case(
    "deletion-policy",
    "ephemeral with deletion protection",
    expect=("ephemeral environment", "deletion protection"),
)
def _deletion_ephemeral_protected(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"deletionProtection": True} if bad else {}))


@case(
    "deletion-policy", "both snapshot settings", env="test", expect=("sets both", "finalSnapshotIdentifier")
)
def _deletion_both(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"finalSnapshotIdentifier": "test-aurora-use1-final"} if bad else {}))


@case(
    "deletion-policy", "global cluster force-destroyed", env="prod", expect=("global cluster", "forceDestroy")
)
def _deletion_global_force(b: GraphBuilder, bad: bool) -> Node:
    return b.global_cluster(**({"forceDestroy": True} if bad else {}))


@case("cluster-encrypted-with-cmk", "unencrypted", expect=("not encrypted with a customer-managed key",))
def _cmk_unencrypted(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"storageEncrypted": False, "kmsKeyId": None} if bad else {}))


@case(
    "cluster-encrypted-with-cmk",
    "key of another region",
    env="prod",
    expect=("arn:aws:kms:us-east-1:333333333333:key/prod-data-mock", "us-west-2"),
)
def _cmk_wrong_region(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(b.secondary, **({"kmsKeyId": b.kms_key_arn("us-east-1")} if bad else {}))


@case("tls-required", "require_secure_transport OFF", expect=("require_secure_transport=ON",))
def _tls_off(b: GraphBuilder, bad: bool) -> Node:
    value = "OFF" if bad else "ON"
    return b.aurora_cluster(params={"parameters": [{"name": "require_secure_transport", "value": value}]})


@case("tls-required", "default parameter group", env="prod", expect=("require_secure_transport=ON",))
def _tls_default_group(b: GraphBuilder, bad: bool) -> Node:
    return b.aurora_cluster(**({"dbClusterParameterGroupName": "default.aurora-mysql8.0"} if bad else {}))


@case(
    "db-identifiers-valid",
    "space in a cluster identifier",
    expect=("clusterIdentifier", "'dev aurora'", "FC-001-1"),
)
def _identifier_space(b: GraphBuilder, bad: bool) -> Node:
    # FC-001-1: "SchemaSync Lambda"
    return b.aurora_cluster(**({"clusterIdentifier": "dev aurora"} if bad else {}))


@case(
    "db-identifiers-valid",
    "cluster identifier reused across regions",
    env="prod",
    expect=("prod-aurora-use1", "prod.us-east-1"),
)
def _identifier_duplicate(b: GraphBuilder, bad: bool) -> Node:
    b.aurora_cluster()
    return b.aurora_cluster(b.secondary, **({"clusterIdentifier": "prod-aurora-use1"} if bad else {}))


@case("db-identifiers-valid", "function name too long", expect=("name", "1-64", "x" * 65))
def _identifier_function(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints()
    return b.lambda_function("health", **({"name": "x" * 65} if bad else {}))


@case("db-identifiers-valid", "underscore in a parameter group name", expect=("'dev_aurora_instance'",))
def _identifier_parameter_group(b: GraphBuilder, bad: bool) -> Node:
    return b.add(
        "aws:rds/parameterGroup:ParameterGroup",
        "dev-use1-aurora-instance-params",
        {
            "family": "aurora-mysql8.0",
            "name": "dev_aurora_instance" if bad else "dev-aurora-instance",
            "parameters": [],
        },
    )


@case(
    "db-identifiers-valid", "space in a secret name", expect=("'aurora/dev/master password'", "secret names")
)
def _identifier_secret(b: GraphBuilder, bad: bool) -> Node:
    return b.secret("aurora/dev/master password" if bad else "aurora/dev/master")


@case("db-identifiers-valid", "control character in an alarm name", expect=("alarm names",))
def _identifier_alarm(b: GraphBuilder, bad: bool) -> Node:
    return b.writer_alarm(**({"name": "dev-aurora-use1\nwriter-health"} if bad else {}))


KEY_POLICY_STATEMENTS = (
    {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "kms:*",
        "Resource": "*",
    },
)


@case("kms-rotation", "rotation off", expect=("enableKeyRotation is off",))
def _kms_rotation(b: GraphBuilder, bad: bool) -> Node:
    return b.add(
        KMS_KEY,
        "dev-use1-kms-key",
        {
            "description": "dev data key",
            "enableKeyRotation": not bad,
            "policy": iam_policy(*KEY_POLICY_STATEMENTS),
        },
    )


@case("secret-replicated-to-every-region", "region missing", env="prod", expect=("eu-west-1",))
def _replica_missing(b: GraphBuilder, bad: bool) -> Node:
    replicas = [{"region": "us-west-2", "kmsKeyId": b.kms_key_arn("us-west-2", "secrets")}]
    if not bad:
        replicas.append({"region": "eu-west-1", "kmsKeyId": b.kms_key_arn("eu-west-1", "secrets")})
    return b.secret("aurora/prod/master", replicas=replicas)


@case(
    "secret-replicated-to-every-region",
    "replica without a key",
    env="staging",
    expect=("us-west-2", "customer-managed key"),
)
def _replica_no_key(b: GraphBuilder, bad: bool) -> Node:
    replica = (
        {"region": "us-west-2"} if bad else {"region": "us-west-2", "kmsKeyId": b.kms_key_arn("us-west-2")}
    )
    return b.secret("aurora/staging/master", replicas=[replica])


@case("regional-outputs-complete", "no KMS key output", expect=("dev.us-east-1", "kms_key_arn"))
def _outputs_missing(b: GraphBuilder, bad: bool) -> None:
    # FC-004-8: integrators had to look up the key, subnets and function ARNs by hand
    b.regional_outputs(**({"kms_key_arn": None} if bad else {}))


@case("regional-outputs-complete", "endpoint object", expect=("cluster_endpoint", "dict", "FC-004-2"))
def _outputs_endpoint_object(b: GraphBuilder, bad: bool) -> None:
    outputs = b.regional_outputs()
    if bad:
        outputs["cluster_endpoint"] = {"Address": outputs["cluster_endpoint"], "Port": "3306"}


@case(
    "regional-outputs-complete",
    "secondary without its function",
    env="prod",
    expect=("prod.us-west-2", "health_function_arn"),
)
def _outputs_secondary(b: GraphBuilder, bad: bool) -> None:
    b.regional_outputs()
    b.regional_outputs(b.secondary, **({"health_function_arn": None} if bad else {}))


# --- Lambda -------------------------------------------------------------------------------------


@case(
    "lambda-imports-satisfied",
    "no layer attached",
    expect=("aws_lambda_powertools", "pymysql", "no layer attached"),
)
def _imports_no_layer(b: GraphBuilder, bad: bool) -> Node:
    # FC-000-1: pymysql imported, no layer
    b.vpc_endpoints()
    return b.lambda_function("health", **({"layers": None} if bad else {}))


@case("lambda-imports-satisfied", "handler outside lambda_src", expect=("'index.handler'", "lambda_src"))
def _imports_foreign_handler(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints()
    # The rotation function runs outside the VPC, as the component declares it.
    rotation = b.writer_followers()["dev-aurora-use1-rotation"]
    if bad:
        rotation.inputs["handler"] = "index.handler"
    return rotation


@case("lambda-imports-satisfied", "unknown subpackage", expect=("'nosuch'", "not a package"))
def _imports_unknown_subpackage(b: GraphBuilder, bad: bool) -> Node:
    bootstrap = b.writer_followers()["dev-aurora-use1-bootstrap"]
    if bad:
        bootstrap.inputs["handler"] = "lambda_src.nosuch.handler.handler"
    return bootstrap


@case(
    "lambda-apis-reachable",
    "no secretsmanager endpoint",
    expect=("calls secretsmanager", "no secretsmanager endpoint", "no NAT gateway"),
)
def _reach_secrets(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints(services=[s for s in ENDPOINT_SERVICES if not (bad and s == "secretsmanager")])
    return b.lambda_function("health")


@case(
    "lambda-apis-reachable",
    "no monitoring endpoint",
    env="prod",
    expect=("calls cloudwatch", "no monitoring endpoint"),
)
def _reach_cloudwatch(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints(b.secondary, services=[s for s in ENDPOINT_SERVICES if not (bad and s == "monitoring")])
    return b.lambda_function("failover", b.secondary)


@case(
    "lambda-apis-reachable", "neither endpoints nor NAT", expect=("calls cloudwatch", "calls secretsmanager")
)
def _reach_nat(b: GraphBuilder, bad: bool) -> Node:
    # FC-000-2: private subnets, no NAT, no endpoints. A NAT gateway alone is enough.
    if not bad:
        b.add(
            NAT_GATEWAY, "dev-use1-network-nat", {"subnetId": "subnet-0public", "allocationId": "eipalloc-0"}
        )
    return b.lambda_function("health")


@case("lambda-environment-plain-strings", "endpoint object", expect=("DB_HOST", "dict"))
def _env_endpoint_object(b: GraphBuilder, bad: bool) -> Node:
    # FC-004-2: Fn::GetAtt [Cluster, Endpoint] is an object; Endpoint.Address is the string
    b.vpc_endpoints()
    function = b.lambda_function("health")
    if bad:
        variables = function.inputs["environment"]["variables"]
        variables["DB_HOST"] = {"Address": variables["DB_HOST"], "Port": "3306"}
    return function


@case("lambda-environment-plain-strings", "number", expect=("DB_PORT", "float"))
def _env_number(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints()
    function = b.lambda_function("health")
    if bad:
        function.inputs["environment"]["variables"]["DB_PORT"] = 3306.0
    return function


@case(
    "lambda-environment-plain-strings", "host that is not a host name", expect=("DB_HOST=", "not a host name")
)
def _env_bad_host(b: GraphBuilder, bad: bool) -> Node:
    b.vpc_endpoints()
    function = b.lambda_function("migrator_worker")
    if bad:
        function.inputs["environment"]["variables"]["DB_HOST"] = "{'Address': 'dev-aurora-use1.cluster'}"
    return function


# --- IAM ----------------------------------------------------------------------------------------

GOOD_STATEMENTS = (
    {
        "Sid": "ReadCredentialsSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": "arn:aws:secretsmanager:us-east-1:111111111111:secret:aurora/dev/master-a1b2c3",
    },
    {
        "Sid": "PublishHealthMetrics",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "AuroraGlobal/Health"}},
    },
    {
        "Sid": "ManageVpcNetworkInterfaces",
        "Effect": "Allow",
        "Action": [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
        ],
        "Resource": "*",
    },
    {"Sid": "NeverDeleteTheCluster", "Effect": "Deny", "Action": "rds:*", "Resource": "*"},
)


def _role_policy(b: GraphBuilder, *extra: dict[str, object]) -> Node:
    return b.add(
        ROLE_POLICY,
        "dev-use1-lambdas-health-policy",
        {"role": "dev-use1-lambdas-health-role", "policy": iam_policy(*GOOD_STATEMENTS, *extra)},
    )


@case("iam-least-privilege", "service wildcard action", expect=("ReadMigrations", "wildcard action s3:*"))
def _iam_service_wildcard(b: GraphBuilder, bad: bool) -> Node:
    return _role_policy(
        b,
        {
            "Sid": "ReadMigrations",
            "Effect": "Allow",
            "Action": ["s3:*" if bad else "s3:GetObject"],
            "Resource": "arn:aws:s3:::dev-aurora-migrations-111111111111/migrations/dev/*",
        },
    )


@case("iam-least-privilege", "star action", expect=("Everything", "wildcard action *"))
def _iam_star(b: GraphBuilder, bad: bool) -> Node:
    action = "*" if bad else "sns:Publish"
    return _role_policy(
        b,
        {
            "Sid": "Everything",
            "Effect": "Allow",
            "Action": action,
            "Resource": "arn:aws:sns:us-east-1:111111111111:dev-aurora-use1-alarms",
        },
    )


@case(
    "iam-least-privilege",
    "wildcard resource where AWS has resource-level permissions",
    expect=("ReadAnySecret", "secretsmanager:GetSecretValue", 'Resource "*"'),
)
def _iam_resource_wildcard(b: GraphBuilder, bad: bool) -> Node:
    resource = (
        "*" if bad else "arn:aws:secretsmanager:us-east-1:111111111111:secret:aurora/dev/users/app-a1b2c3"
    )
    return _role_policy(
        b,
        {
            "Sid": "ReadAnySecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [resource],
        },
    )


@case("iam-least-privilege", "key policy open to anyone", expect=("AnyoneMayDecrypt", "any principal"))
def _iam_open_key(b: GraphBuilder, bad: bool) -> Node:
    statement: dict[str, object] = {
        "Sid": "AnyoneMayDecrypt",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Decrypt"],
        "Resource": "*",
    }
    if not bad:  # any principal, but only callers of this account through Secrets Manager
        statement["Condition"] = {
            "StringEquals": {
                "kms:CallerAccount": "111111111111",
                "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com",
            }
        }
    return b.add(
        KMS_KEY,
        "dev-secrets-kms-key",
        {"enableKeyRotation": True, "policy": iam_policy(*KEY_POLICY_STATEMENTS, statement)},
    )


# --- encryption, rotation -----------------------------------------------------------------------


@case(
    "customer-managed-encryption",
    "topic",
    expect=("aws:sns/topic:Topic", "dev-use1-alarms-topic", "kmsMasterKeyId"),
)
def _cmk_topic(b: GraphBuilder, bad: bool) -> Node:
    key = None if bad else b.kms_key_arn("us-east-1")
    return b.add(
        TOPIC,
        "dev-use1-alarms-topic",
        {"name": "dev-aurora-use1-alarms", **({"kmsMasterKeyId": key} if key else {})},
    )


@case("customer-managed-encryption", "log group", expect=("aws:cloudwatch/logGroup:LogGroup", "kmsKeyId"))
def _cmk_log_group(b: GraphBuilder, bad: bool) -> Node:
    inputs: dict[str, object] = {"name": "/aws/lambda/dev-aurora-use1-health", "retentionInDays": 30.0}
    if not bad:
        inputs["kmsKeyId"] = b.kms_key_arn("us-east-1")
    return b.add(LOG_GROUP, "dev-use1-lambdas-health-logs", inputs)


@case("customer-managed-encryption", "secret", expect=("aws:secretsmanager/secret:Secret", "kmsKeyId"))
def _cmk_secret(b: GraphBuilder, bad: bool) -> Node:
    return b.secret("aurora/dev/users/app", **({"kmsKeyId": None} if bad else {}))


@case(
    "customer-managed-encryption",
    "table with the AWS-owned key",
    env="prod",
    expect=("table is not encrypted",),
)
def _cmk_table(b: GraphBuilder, bad: bool) -> Node:
    sse = {"enabled": True} if bad else {"enabled": True, "kmsKeyArn": b.kms_key_arn("us-west-2")}
    return b.add(
        TABLE,
        "prod-usw2-lambdas-failover-lock",
        {
            "name": "prod-aurora-usw2-failover-lock",
            "billingMode": "PAY_PER_REQUEST",
            "hashKey": "global_cluster_id",
            "attributes": [{"type": "S", "name": "global_cluster_id"}],
            "serverSideEncryption": sse,
        },
        stack=b.secondary,
    )


@case(
    "customer-managed-encryption",
    "bucket with SSE-S3",
    expect=("dev-aurora-migrations-111111111111", "no KMS default encryption"),
)
def _cmk_bucket(b: GraphBuilder, bad: bool) -> Node:
    bucket = b.add(
        BUCKET,
        "dev-use1-database-migrations",
        {"bucket": "dev-aurora-migrations-111111111111", "forceDestroy": True},
    )
    default = (
        {"sseAlgorithm": "AES256"}
        if bad
        else {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": b.kms_key_arn("us-east-1")}
    )
    b.add(
        BUCKET_SSE,
        "dev-use1-database-migrations-encryption",
        {
            "bucket": "dev-aurora-migrations-111111111111",
            "rules": [{"applyServerSideEncryptionByDefault": default}],
        },
    )
    _lock_down(b, "dev-aurora-migrations-111111111111")
    return bucket


def _lock_down(b: GraphBuilder, bucket: str, *, skip: str = "") -> None:
    """The companions migration-sets-private wants: public access blocked, versioning, TLS only."""
    if skip != "public":
        b.add(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{bucket}-private",
            {"bucket": bucket, "blockPublicAcls": True, "blockPublicPolicy": True,
             "ignorePublicAcls": True, "restrictPublicBuckets": True},
        )  # fmt: skip
    if skip != "versioning":
        b.add(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{bucket}-versioning",
            {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}},
        )
    if skip != "tls":
        b.add(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{bucket}-tls-only",
            {"bucket": bucket, "policy": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})},
        )  # fmt: skip


def _sealed_bucket(b: GraphBuilder, bad: bool, missing: str) -> Node:
    name = "dev-aurora-migrations-111111111111"
    bucket = b.add(BUCKET, "dev-use1-database-migrations", {"bucket": name, "forceDestroy": True})
    b.add(
        BUCKET_SSE,
        "dev-use1-database-migrations-encryption",
        {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms", "kmsMasterKeyId": b.kms_key_arn("us-east-1")}}]},
    )  # fmt: skip
    _lock_down(b, name, skip=missing if bad else "")
    return bucket


@case(
    "migration-sets-private",
    "public access not blocked",
    expect=("does not block every kind of public access",),
)
def _bucket_public(b: GraphBuilder, bad: bool) -> Node:
    return _sealed_bucket(b, bad, "public")


@case(
    "migration-sets-private", "not versioned", expect=("dev-aurora-migrations-111111111111 is not versioned",)
)
def _bucket_versioning(b: GraphBuilder, bad: bool) -> Node:
    return _sealed_bucket(b, bad, "versioning")


@case("migration-sets-private", "plain HTTP allowed", expect=("aws:SecureTransport=false",))
def _bucket_tls(b: GraphBuilder, bad: bool) -> Node:
    return _sealed_bucket(b, bad, "tls")


@case("migration-sets-private", "another environment's prefix", expect=("migrations/staging/*", "outside"))
def _migrator_prefix(b: GraphBuilder, bad: bool) -> Node:
    prefix = "staging" if bad else "dev"
    return _role_policy(
        b,
        {
            "Sid": "ReadOwnMigrationSet",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"arn:aws:s3:::dev-aurora-migrations-111111111111/migrations/{prefix}/*",
        },
    )


@case("secrets-rotate", "never rotated", expect=("aurora/dev/users/app", "no rotation schedule"))
def _rotation_missing(b: GraphBuilder, bad: bool) -> Node:
    # FC-000-5: secrets generated but never rotated
    return b.secret("aurora/dev/users/app", rotate=not bad)


@case("secrets-rotate", "rotation of another secret", env="prod", expect=("aurora/prod/users/readonly",))
def _rotation_other_secret(b: GraphBuilder, bad: bool) -> Node:
    b.secret("aurora/prod/users/app")
    return b.secret("aurora/prod/users/readonly", rotate=not bad)


def _rotation_function(b: GraphBuilder, *key_arns: str) -> Node:
    """The rotation function the schedules of ``b.secret`` name, with a role allowed these keys."""
    function = b.lambda_function("rotation", name="rotation", vpcConfig=None)
    b.add(
        ROLE_POLICY,
        "rotation-policy",
        {
            "role": "rotation-role",
            "policy": iam_policy(
                {
                    "Sid": "EncryptSecretVersionsAndReplicas",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": list(key_arns),
                }
            ),
        },
    )
    return function


@case(
    "rotation-encrypts-every-replica",
    "home key only",
    env="prod",
    expect=("aurora/prod/master", "kms:Encrypt, kms:GenerateDataKey", "replica key in us-west-2"),
)
def _rotation_replica_keys(b: GraphBuilder, bad: bool) -> Node:
    # Issue 12: the rotation role held rights on the home key only, so rotated versions
    # never reached the replicas encrypted with their own region's key.
    b.secret("aurora/prod/master")
    home = b.kms_key_arn(b.env.primary_region, "secrets")
    replicas = [b.kms_key_arn(r, "secrets-replica") for r in b.env.secondary_regions]
    function = _rotation_function(b, home, *([] if bad else replicas))
    function.inputs["role"] = f"arn:aws:iam::{b.env.account_id}:role/rotation-role"
    return function


# --- DNS and health checks ------------------------------------------------------------------------


@case(
    "health-checks-on-standard-alarms", "HTTPS on 443", env="prod", expect=("type HTTPS", "CLOUDWATCH_METRIC")
)
def _hc_https(b: GraphBuilder, bad: bool) -> Node:
    # FC-004-5: HTTPS checks on 443 aimed at a MySQL endpoint
    b.writer_alarm()
    https = {
        "type": "HTTPS",
        "port": 443.0,
        "fqdn": "prod-aurora-use1.cluster-c0ffee.us-east-1.rds.amazonaws.com",
        "resourcePath": "/",
        "failureThreshold": 3.0,
        "cloudwatchAlarmRegion": None,
        "cloudwatchAlarmName": None,
        "insufficientDataHealthStatus": None,
    }
    return b.health_check("us-east-1", **(https if bad else {}))


@case("health-checks-on-standard-alarms", "TCP on the database port", env="prod", expect=("type TCP",))
def _hc_tcp(b: GraphBuilder, bad: bool) -> Node:
    b.writer_alarm()
    tcp = {"type": "TCP", "port": 3306.0, "ipAddress": "10.30.1.10", "cloudwatchAlarmName": None}
    return b.health_check("us-east-1", **(tcp if bad else {}))


@case(
    "health-checks-on-standard-alarms",
    "alarm in another region",
    env="prod",
    expect=("prod-aurora-use1-writer-health", "us-west-2"),
)
def _hc_wrong_region(b: GraphBuilder, bad: bool) -> Node:
    b.writer_alarm()
    return b.health_check("us-east-1", **({"cloudwatchAlarmRegion": "us-west-2"} if bad else {}))


@case(
    "health-checks-on-standard-alarms",
    "high-resolution alarm",
    env="prod",
    expect=("period 10", "standard-resolution"),
)
def _hc_high_resolution(b: GraphBuilder, bad: bool) -> Node:
    b.writer_alarm(**({"period": 10.0} if bad else {}))
    return b.health_check("us-east-1")


@case("health-checks-on-standard-alarms", "percentile statistic", env="prod", expect=("extended statistics",))
def _hc_percentile(b: GraphBuilder, bad: bool) -> Node:
    b.writer_alarm(**({"statistic": None, "extendedStatistic": "p99"} if bad else {}))
    return b.health_check("us-east-1")


def _writer_record(b: GraphBuilder, region: str) -> Node:
    return find(
        b.graph(), lambda n: n.type == RECORD and n.resource.name == f"{b.env.name}-writer-{region}-tree"
    )


@case(
    "writer-failover-records",
    "a region without a record",
    env="prod",
    expect=("has no record for eu-west-1",),
)
def _records_missing_region(b: GraphBuilder, bad: bool) -> None:
    if bad:  # FC-P-9: the old PRIMARY/SECONDARY pair covered two regions of three
        b.nodes.remove(_writer_record(b, "eu-west-1"))


@case(
    "writer-failover-records",
    "another region's claim does not override",
    env="prod",
    expect=("with us-east-1 and us-west-2 both claiming the writer", "answers with prod-aurora-use1"),
)
def _records_not_inverted(b: GraphBuilder, bad: bool) -> None:
    if bad:  # the home record's calculated check ignores the other regions' claims
        home = find(b.graph(), lambda n: n.resource.name == "prod-writer-alone-us-east-1-tree")
        own = find(b.graph(), lambda n: n.resource.name == "prod-writer-health-us-east-1-tree")
        home.inputs["childHealthchecks"] = [own.resource.id]
        home.inputs["childHealthThreshold"] = 1.0


@case(
    "writer-failover-records",
    "a silent old writer keeps the name",
    env="prod",
    expect=("us-east-1 silent (last seen as writer)",),
)
def _records_stuck_on_last_status(b: GraphBuilder, bad: bool) -> None:
    if bad:  # the home record carries its own alarm's check only, stuck on its last status
        home = _writer_record(b, "us-east-1")
        alarm_check = find(b.graph(), lambda n: n.resource.name == "prod-writer-health-us-east-1-tree")
        alarm_check.inputs["insufficientDataHealthStatus"] = "LastKnownStatus"
        home.inputs["healthCheckId"] = alarm_check.resource.id


@case(
    "writer-failover-records",
    "no fallback record",
    env="prod",
    expect=("needs a fallback record without a health check",),
)
def _records_without_fallback(b: GraphBuilder, bad: bool) -> None:
    if bad:
        fallback = find(
            b.graph(), lambda n: n.type == RECORD and n.resource.name == "prod-writer-fallback-tree"
        )
        fallback.inputs["records"] = _writer_record(b, "eu-west-1").inputs["records"]


@case(
    "failover-timing",
    "an RPO budget below the estimate's floor",
    env="prod",
    expect=("rpo_budget_seconds", "27"),
)
def _failover_timing(b: GraphBuilder, bad: bool) -> None:
    failover = b.env.failover.model_copy(update={"automated": True, "rpo_budget_seconds": 5 if bad else 30})
    b.env = b.env.model_copy(update={"failover": failover})
    b.decider()


@case(
    "automated-failover-deployed",
    "automated failover asked for, none deployed",
    env="prod",
    expect=("failover.automated is true for prod, but no automated failover is deployed",),
)
def _no_decider(b: GraphBuilder, bad: bool) -> None:
    b.env = b.env.model_copy(update={"failover": b.env.failover.model_copy(update={"automated": True})})
    if not bad:
        b.decider()


def _automated(b: GraphBuilder) -> None:
    b.env = b.env.model_copy(update={"failover": b.env.failover.model_copy(update={"automated": True})})


@case(
    "failover-mesh-complete",
    "a missing route back",
    env="prod",
    expect=(
        "eu-west-1 has no route to us-west-2 (10.31.0.0/16) over the peering in route table(s) rtb-eu-west-1",
    ),
)
def _mesh_route_missing(b: GraphBuilder, bad: bool) -> Node:
    _automated(b)
    b.mesh(skip=("prod-mesh-eu-west-1-rt0-to-us-west-2",) if bad else ())
    b.decider()
    [peering] = [n for n in b.nodes if n.resource.name == "prod-mesh-us-west-2-eu-west-1"]
    return peering


@case(
    "failover-functions-placed",
    "a probe outside the VPC",
    env="prod",
    expect=("the write probe prod-aurora-euw1-probe must run in the region's private subnets",),
)
def _probe_outside_vpc(b: GraphBuilder, bad: bool) -> Node:
    _automated(b)
    b.decider()
    [probe] = [n for n in b.nodes if n.inputs.get("name") == "prod-aurora-euw1-probe"]
    if bad:
        probe.inputs["vpcConfig"] = None
    return probe


@case(
    "failover-functions-placed",
    "a decider without its schedule",
    env="prod",
    expect=("the decider prod-aurora-use1-failover has no 'rate(1 minute)' schedule",),
)
def _decider_unscheduled(b: GraphBuilder, bad: bool) -> Node:
    _automated(b)
    decider = b.decider(b.primary)
    if bad:
        [rule] = [n for n in b.nodes if n.inputs.get("name") == "prod-aurora-use1-failover-schedule"]
        rule.inputs["scheduleExpression"] = "rate(5 minutes)"
    return decider


@case(
    "failover-decider-scope",
    "a decider that may fail over another environment's global cluster",
    env="prod",
    expect=(
        "allows rds:FailoverGlobalCluster on arn:aws:rds::333333333333:global-cluster:staging-aurora-global",
    ),
)
def _decider_scope(b: GraphBuilder, bad: bool) -> Node:
    account = b.env.account_id
    own = f"arn:aws:rds::{account}:global-cluster:prod-aurora-global"
    other = f"arn:aws:rds::{account}:global-cluster:staging-aurora-global"
    cluster = f"arn:aws:rds:us-west-2:{account}:cluster:prod-aurora-usw2"
    statement = {
        "Sid": "PromoteOwnCluster",
        "Effect": "Allow",
        "Action": ["rds:FailoverGlobalCluster"],
        "Resource": [other if bad else own, cluster],
    }
    return b.add(
        "aws:iam/rolePolicy:RolePolicy",
        "prod-usw2-failover-decider-policy",
        {"role": "decider-role", "policy": iam_policy(statement)},
        stack=b.secondary,
    )


@case(
    "failover-tables-scoped",
    "a role reaching another environment's failover table",
    env="prod",
    expect=("reaches failover tables outside prod's own", "table/staging-aurora-usw2-failover"),
)
def _tables_scoped(b: GraphBuilder, bad: bool) -> Node:
    account = b.env.account_id
    table = "staging-aurora-usw2-failover" if bad else "prod-aurora-usw2-failover"
    statement = {
        "Sid": "FailoverTables",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
        "Resource": [f"arn:aws:dynamodb:us-west-2:{account}:table/{table}"],
    }
    return b.add(
        "aws:iam/rolePolicy:RolePolicy",
        "prod-usw2-failover-decider-policy",
        {"role": "decider-role", "policy": iam_policy(statement)},
        stack=b.secondary,
    )


@case(
    "programs-writer-agnostic",
    "a program looks the writer up",
    env="prod",
    expect=("stack prod.us-east-1 looks up the writer",),
)
def _program_reads_writer(b: GraphBuilder, bad: bool) -> None:
    if bad:
        b.writer_lookups[b.primary] = ["aws:rds/getGlobalCluster:getGlobalCluster"]


# --- engine lifecycle -------------------------------------------------------------------------------


@case(
    "engine-standard-support-ending",
    "within the horizon",
    expect=(
        "8.0.mysql_aurora.3.10.5",
        "ends on 2028-04-30 (in 120 days, horizon 180)",
        "Newest supported target",
    ),
)
def _support_ending(b: GraphBuilder, bad: bool) -> None:
    b.aurora_cluster()
    b.today = datetime.date(2028, 1, 1) if bad else datetime.date(2026, 12, 2)


@case(
    "engine-standard-support-ended",
    "past the end",
    expect=("8.0.mysql_aurora.3.10.5", "ended on 2028-04-30 (1 days ago)", "Extended Support"),
)
def _support_ended(b: GraphBuilder, bad: bool) -> None:
    b.aurora_cluster()
    b.today = datetime.date(2028, 5, 1) if bad else datetime.date(2026, 12, 2)


@case(
    "extended-support-on-members",
    "member enrolled against the file",
    env="prod",
    expect=(
        "engineLifecycleSupport is 'open-source-rds-extended-support'",
        "open-source-rds-extended-support-disabled",
    ),
)
def _lifecycle_on_members(b: GraphBuilder, bad: bool) -> Node:
    b.global_cluster()
    b.aurora_cluster()
    overrides = {"engineLifecycleSupport": "open-source-rds-extended-support"} if bad else {}
    return b.aurora_cluster(b.secondary, **overrides)


# --- the tests ------------------------------------------------------------------------------------


# --- following the writer ------------------------------------------------------------------


@case(
    "writer-workers-placed",
    "a region without a bootstrap worker",
    env="prod",
    expect=(
        "prod's bootstrap function follows the writer but region eu-west-1 has no worker "
        "prod-aurora-euw1-bootstrap-worker",
        "deploy the prod.eu-west-1 stack",
    ),
)
def _no_bootstrap_worker(b: GraphBuilder, bad: bool) -> None:
    b.writer_followers()
    if bad:
        b.nodes = [n for n in b.nodes if n.inputs.get("name") != "prod-aurora-euw1-bootstrap-worker"]
    return None


@case(
    "writer-workers-placed",
    "a bootstrap role that may not invoke one region's worker",
    env="prod",
    expect=(
        "the bootstrap function prod-aurora-use1-bootstrap may not invoke "
        "arn:aws:lambda:us-west-2:333333333333:function:prod-aurora-usw2-bootstrap-worker",
        "model.naming.bootstrap_worker_arns",
    ),
)
def _bootstrap_cannot_invoke(b: GraphBuilder, bad: bool) -> Node:
    nodes = b.writer_followers()
    if bad:
        [policy] = [n for n in b.nodes if n.urn.endswith("::prod-aurora-use1-bootstrap-policy")]
        document = json.loads(policy.inputs["policy"])
        document["Statement"][0]["Resource"] = [
            r for r in document["Statement"][0]["Resource"] if ":us-west-2:" not in r
        ]
        policy.inputs["policy"] = json.dumps(document)
    return nodes["prod-aurora-use1-bootstrap"]


@case(
    "writer-workers-placed",
    "a rotation SQL worker outside the VPC",
    env="staging",
    expect=("the worker staging-aurora-usw2-rotation-sql must run in the region's private subnets",),
)
def _worker_outside_vpc(b: GraphBuilder, bad: bool) -> Node:
    nodes = b.writer_followers()
    worker = nodes["staging-aurora-usw2-rotation-sql"]
    if bad:
        worker.inputs["vpcConfig"] = None
    return worker


@case(
    "writer-workers-placed",
    "a migrator inside the home VPC",
    env="prod",
    expect=(
        "the migrator function prod-aurora-use1-migrator must run outside any VPC (vpcConfig)",
        "which no endpoint in us-east-1 serves",
    ),
)
def _migrator_in_vpc(b: GraphBuilder, bad: bool) -> Node:
    nodes = b.writer_followers()
    migrator = nodes["prod-aurora-use1-migrator"]
    if bad:
        # Even with this region's Lambda endpoint: it serves none of the other regions' workers.
        b.vpc_endpoints(services=[*ENDPOINT_SERVICES, "lambda"])
        migrator.inputs["vpcConfig"] = {"subnetIds": ["subnet-0a"], "securityGroupIds": ["sg-0lambda"]}
    return migrator


@case(
    "writer-workers-placed",
    "a region without a migrator worker",
    env="staging",
    expect=(
        "staging's migrator function follows the writer but region us-west-2 has no worker "
        "staging-aurora-usw2-migrator-worker",
    ),
)
def _no_migrator_worker(b: GraphBuilder, bad: bool) -> None:
    b.writer_followers()
    if bad:
        b.nodes = [n for n in b.nodes if n.inputs.get("name") != "staging-aurora-usw2-migrator-worker"]
    return None


def test_the_planned_prod_migrator_may_invoke_exactly_every_regions_migrator_worker():
    graph = planned_graph("prod")
    [policy] = [
        n
        for n in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if any(s.get("Sid") == "InvokeMigratorWorkers" for s in json.loads(n.inputs["policy"])["Statement"])
    ]
    document = json.loads(policy.inputs["policy"])
    [invoke] = [s for s in document["Statement"] if s.get("Sid") == "InvokeMigratorWorkers"]
    dropped = invoke["Resource"].pop()  # the last region's worker
    policy.inputs["policy"] = json.dumps(document)

    messages = [f.message for f in evaluate(graph) if f.rule == "writer-workers-placed"]

    assert messages == [
        f"the migrator function prod-aurora-use1-migrator may not invoke {dropped} (lambda:InvokeFunction): "
        f"with the writer in {dropped.split(':')[3]} it would fail; name every region's worker "
        "(model.naming.migrator_worker_arns)"
    ]


def test_the_planned_prod_bootstrap_is_caught_without_a_regions_worker():
    graph = planned_graph("prod")
    graph.nodes = [n for n in graph.nodes if n.inputs.get("name") != "prod-aurora-usw2-bootstrap-worker"]

    findings = [f for f in evaluate(graph) if f.rule == "writer-workers-placed"]

    assert [f.message for f in findings] == [
        "prod's bootstrap function follows the writer but region us-west-2 has no worker "
        "prod-aurora-usw2-bootstrap-worker: with the writer there it would fail; deploy the prod.us-west-2 stack"
    ]


def test_the_planned_prod_bootstrap_is_caught_inside_the_vpc():
    graph = planned_graph("prod")
    [bootstrap] = [n for n in graph.nodes if n.inputs.get("name") == "prod-aurora-use1-bootstrap"]
    bootstrap.inputs["vpcConfig"] = {"subnetIds": ["subnet-x"], "securityGroupIds": ["sg-x"]}

    messages = [f.message for f in evaluate(graph) if f.rule == "writer-workers-placed"]

    assert messages == [
        "the bootstrap function prod-aurora-use1-bootstrap must run outside any VPC (vpcConfig): it invokes "
        "the worker of whichever region holds the writer through that region's Lambda API, which no endpoint "
        "in us-east-1 serves"
    ]


def test_every_rule_has_a_violating_and_a_passing_case():
    covered = {c.rule for c in CASES}
    assert covered <= set(RULE_IDS), f"cases for rules that don't exist: {covered - set(RULE_IDS)}"
    missing = [r for r in RULE_IDS if r not in covered]
    assert missing == [], f"rules without minimal-graph cases in tests/analysis/test_guardrails.py: {missing}"


def test_rules_are_uniquely_named_and_cite_a_source():
    assert len(RULE_IDS) == len(set(RULE_IDS))
    for rule in guardrails.RULES:
        assert rule.severity in ("error", "warning"), rule.id
        assert rule.rationale and rule.source, rule.id


@pytest.mark.parametrize("case", CASES, ids=str)
def test_violation_fires_exactly_its_rule_naming_the_resource(case: Case):
    builder = GraphBuilder(case.env)
    node = case.build(builder, True)

    findings = evaluate(builder.graph())

    assert findings, f"{case}: nothing fired"
    assert {f.rule for f in findings} == {case.rule}, [(f.rule, f.message) for f in findings]
    assert {(f.resource, f.stack) for f in findings} == {(node.urn, node.stack) if node else (None, None)}
    assert {f.severity for f in findings} == {guardrails.RULES[RULE_IDS.index(case.rule)].severity}
    messages = " | ".join(f.message for f in findings)
    for fragment in case.expect:
        assert fragment in messages, f"{fragment!r} not in {messages!r}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_same_graph_done_right_passes(case: Case):
    builder = GraphBuilder(case.env)
    case.build(builder, False)

    findings = evaluate(builder.graph())

    assert [(f.rule, f.message) for f in findings] == []


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod", "test"])
def test_baseline_graphs_are_clean(env_name: str):
    """The companions (pinned providers, failover records) and the realistic helpers fire nothing."""
    b = GraphBuilder(env_name)
    b.aurora_cluster()
    b.vpc_endpoints()
    b.lambda_function("health")
    # Rotation, bootstrap and the migrator outside the VPC (they reach the writer region's
    # worker), a worker of each in every region's VPC.
    b.writer_followers()
    b.secret(f"aurora/{env_name}/master")
    b.regional_outputs()
    if b.env.is_global:
        b.global_cluster()
        b.aurora_cluster(b.secondary)
        b.writer_alarm()
        b.writer_alarm(b.secondary)
        b.health_check(b.env.primary_region)
        b.health_check(b.env.secondary_regions[0])
        b.regional_outputs(b.secondary)

    findings = evaluate(b.graph())

    assert [(f.rule, f.message) for f in findings] == []
    judged = {
        CLUSTER,
        FUNCTION,
        VPC_ENDPOINT,
        SECRET_ROTATION,
        "aws:secretsmanager/secret:Secret",
        "pulumi:providers:aws",
    }
    assert judged <= {n.type for n in b.nodes}


def test_a_regional_environment_needs_no_failover_records():
    b = GraphBuilder("dev")
    b.aurora_cluster()
    assert not [n for n in b.nodes if n.type == RECORD]
    assert evaluate(b.graph()) == []


def test_a_global_environment_without_a_writer_tree_names_every_region():
    b = GraphBuilder("prod", failover_records=False)
    b.global_cluster()

    findings = evaluate(b.graph())

    assert [f.message for f in findings] == [
        "writer.prod.db.internal has no record for us-east-1, us-west-2, eu-west-1: a failover there leaves "
        "the name on a dead or read-only region"
    ]
    assert {f.rule for f in findings} == {"writer-failover-records"}


def test_literal_password_is_reported_without_echoing_it():
    b = GraphBuilder("dev")
    _password_literal(b, True)

    [finding] = evaluate(b.graph())

    assert LITERAL_PASSWORD not in finding.message


def test_layer_without_pymysql_is_an_unsatisfied_import(monkeypatch):
    """FC-000-1: the layer that should ship pymysql doesn't."""
    real = lambda_packaging.layer_top_level_modules
    monkeypatch.setattr(lambda_packaging, "layer_top_level_modules", lambda *a: real(*a) - {"pymysql"})
    b = GraphBuilder("dev")
    b.vpc_endpoints()
    function = b.lambda_function("health")

    findings = evaluate(b.graph())

    assert [(f.rule, f.resource) for f in findings] == [("lambda-imports-satisfied", function.urn)]
    assert "imports pymysql, which neither the runtime nor the layer provides" in findings[0].message


# --- rule bugs (xfail strict: they start passing when the rule is fixed) ---------------------------


def test_inline_all_traffic_ingress_from_anywhere_is_caught():
    b = GraphBuilder("dev")
    sg = b.add(
        SECURITY_GROUP,
        "dev-use1-network-db-sg",
        {
            "vpcId": "vpc-0123456789abcdef0",
            "description": "Aurora cluster",
            "ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
    )

    assert [(f.rule, f.resource) for f in evaluate(b.graph())] == [("no-open-database-port", sg.urn)]


def test_partial_wildcard_action_is_caught():
    b = GraphBuilder("dev")
    policy = _role_policy(
        b,
        {
            "Sid": "ReadMigrations",
            "Effect": "Allow",
            "Action": ["s3:Get*"],
            "Resource": "arn:aws:s3:::dev-bucket/*",
        },
    )

    assert [(f.rule, f.resource) for f in evaluate(b.graph())] == [("iam-least-privilege", policy.urn)]


def test_aws_managed_key_alias_is_not_customer_managed():
    b = GraphBuilder("dev")
    topic = b.add(
        TOPIC, "dev-use1-alarms-topic", {"name": "dev-aurora-use1-alarms", "kmsMasterKeyId": "alias/aws/sns"}
    )

    assert [(f.rule, f.resource) for f in evaluate(b.graph())] == [("customer-managed-encryption", topic.urn)]


def test_subnet_group_name_with_underscore_and_period_is_valid():
    b = GraphBuilder("dev")
    b.add(
        SUBNET_GROUP,
        "dev-use1-db-subnets",
        {"name": "dev_aurora.db subnets", "subnetIds": ["subnet-0a", "subnet-0b"]},
    )

    assert evaluate(b.graph()) == []


def test_subnet_group_named_default_is_rejected():
    b = GraphBuilder("dev")
    group = b.add(
        SUBNET_GROUP, "dev-use1-db-subnets", {"name": "default", "subnetIds": ["subnet-0a", "subnet-0b"]}
    )

    assert [(f.rule, f.resource) for f in evaluate(b.graph())] == [("db-identifiers-valid", group.urn)]


def test_in_vpc_function_with_unknown_subpackage_is_reported_not_raised():
    b = GraphBuilder("dev")
    b.vpc_endpoints()
    function = b.lambda_function("health", handler="lambda_src.nosuch.handler.handler")

    findings = evaluate(b.graph())

    assert [(f.rule, f.resource) for f in findings] == [("lambda-imports-satisfied", function.urn)]


# --- the checked-in environments, and mutations of their real planned graphs ----------------------


@pytest.mark.parametrize("env_name", checked_in_environment_names())
def test_checked_in_environment_plans_without_error_findings(env_name: str):
    plan = planned(env_name)

    assert [f.to_json() for f in plan.findings if f.severity == "error"] == []
    assert not plan.has_errors
    types = {r.type for s in plan.stacks for r in s.run.resources}
    assert {CLUSTER, FUNCTION, "pulumi:providers:aws"} <= types  # the rules had something to judge


def _function_named(graph: guardrails.Graph, stack: str, subpackage: str, region: str | None = None) -> Node:
    """The stack's function of ``subpackage`` (of ``region``'s, in a stack deploying to several)."""
    short = f"-{naming.short_region(region)}-" if region else ""
    return find(
        graph,
        lambda n: (
            n.stack == stack
            and n.type == FUNCTION
            and n.inputs["handler"].startswith(f"lambda_src.{subpackage}.")
            and short in n.inputs["name"]
        ),
    )


def _drop_endpoint(graph: guardrails.Graph, stack: str, service: str) -> None:
    endpoint = find(
        graph,
        lambda n: (
            n.stack == stack and n.type == VPC_ENDPOINT and n.inputs["serviceName"].endswith(f".{service}")
        ),
    )
    graph.nodes.remove(endpoint)


def test_prod_primary_without_secretsmanager_endpoint_is_caught_on_its_callers():
    graph = planned_graph("prod")
    _drop_endpoint(graph, "prod.us-east-1", "secretsmanager")

    findings = evaluate(graph)

    assert {f.rule for f in findings} == {"lambda-apis-reachable"}
    flagged = {f.resource for f in findings}
    assert _function_named(graph, "prod.us-east-1", "health").urn in flagged
    # The failover stack's write probe in us-east-1's VPC reads its secret there too.
    assert _function_named(graph, "prod.failover", "probe", region="us-east-1").urn in flagged
    # The rotation, bootstrap and migrator functions run outside the VPC (they reach other
    # regions' Lambda APIs); their in-VPC workers call no AWS API.
    for sub in ("rotation", "bootstrap", "migrator", "rotation_sql", "bootstrap_worker", "migrator_worker"):
        assert _function_named(graph, "prod.us-east-1", sub).urn not in flagged
    assert all("secretsmanager" in f.message for f in findings)
    assert {f.stack for f in findings} == {"prod.us-east-1", "prod.failover"}


def test_prod_primary_without_ssm_endpoint_strands_nothing_the_migrator_publishes_from_outside_the_vpc():
    graph = planned_graph("prod")
    _drop_endpoint(graph, "prod.us-east-1", "ssm")
    migrator = _function_named(graph, "prod.us-east-1", "migrator")
    assert not migrator.inputs.get("vpcConfig")

    assert [(f.rule, f.message) for f in evaluate(graph)] == []


def test_backtrack_added_to_a_prod_member_is_refused():
    graph = planned_graph("prod")
    cluster = find(graph, lambda n: n.stack == "prod.us-west-2" and n.type == CLUSTER)
    cluster.inputs["backtrackWindow"] = 86400.0

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("backtrack-where-supported", cluster.urn)]
    assert "global-database member" in findings[0].message


def test_backtrack_removed_from_dev_is_reported():
    graph = planned_graph("dev")
    cluster = find(graph, lambda n: n.type == CLUSTER)
    del cluster.inputs["backtrackWindow"]

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("backtrack-where-supported", cluster.urn)]
    assert "24 h" in findings[0].message


def test_https_health_check_in_prod_dns_is_refused():
    graph = planned_graph("prod")
    check = find(
        graph, lambda n: n.type == HEALTH_CHECK and n.resource.name == "prod-writer-health-us-west-2"
    )
    for key in ("cloudwatchAlarmName", "cloudwatchAlarmRegion", "insufficientDataHealthStatus"):
        del check.inputs[key]
    check.inputs.update(
        type="HTTPS", port=443.0, fqdn="prod-aurora-usw2.cluster-x.us-west-2.rds.amazonaws.com"
    )

    findings = evaluate(graph)

    # The check itself is refused, and the writer name's tree that relies on it no longer holds.
    assert [(f.rule, f.resource) for f in findings if f.rule == "health-checks-on-standard-alarms"] == [
        ("health-checks-on-standard-alarms", check.urn)
    ]
    assert "HTTPS" in findings[0].message
    assert {f.rule for f in findings} == {"health-checks-on-standard-alarms", "writer-failover-records"}


def test_health_check_on_a_deleted_alarm_is_refused():
    graph = planned_graph("prod")
    alarm = find(graph, lambda n: n.type == ALARM and n.inputs["name"] == "prod-aurora-euw1-writer-health")
    graph.nodes.remove(alarm)

    findings = evaluate(graph)

    assert {f.rule for f in findings} == {"health-checks-on-standard-alarms"}
    assert "prod-aurora-euw1-writer-health" in findings[0].message


def test_database_port_opened_to_the_internet_in_prod_is_refused():
    graph = planned_graph("prod")
    ingress = find(
        graph,
        lambda n: (
            n.stack == "prod.eu-west-1"
            and n.type == INGRESS_RULE
            and n.resource.name.endswith("db-from-lambda")
        ),
    )
    del ingress.inputs["referencedSecurityGroupId"]
    ingress.inputs["cidrIpv4"] = "0.0.0.0/0"

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("no-open-database-port", ingress.urn)]


def test_prod_rotation_role_without_a_replica_key_is_refused():
    graph = planned_graph("prod")
    policy = find(
        graph,
        lambda n: n.type == ROLE_POLICY and "EncryptSecretVersionsAndReplicas" in str(n.inputs["policy"]),
    )
    document = json.loads(policy.inputs["policy"])
    for statement in document["Statement"]:
        if statement["Sid"] == "EncryptSecretVersionsAndReplicas":
            statement["Resource"] = [r for r in statement["Resource"] if ":eu-west-1:" not in r]
    policy.inputs["policy"] = json.dumps(document)
    rotation = _function_named(graph, "prod.us-east-1", "rotation")

    findings = evaluate(graph)

    # Every secret the function rotates (master, three users, the failover probe's user) is
    # named, for eu-west-1 only.
    assert {(f.rule, f.resource) for f in findings} == {("rotation-encrypts-every-replica", rotation.urn)}
    assert len(findings) == 5
    assert all("replica key in eu-west-1" in f.message for f in findings)


def test_user_secret_without_rotation_in_prod_is_reported():
    graph = planned_graph("prod")
    secret = find(
        graph,
        lambda n: (
            n.type == "aws:secretsmanager/secret:Secret" and n.inputs["name"] == "aurora/prod/users/app"
        ),
    )
    graph.nodes.remove(
        find(graph, lambda n: n.type == SECRET_ROTATION and n.inputs["secretId"] == secret.resource.id)
    )

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("secrets-rotate", secret.urn)]


def test_endpoint_object_output_of_a_prod_secondary_is_reported():
    graph = planned_graph("prod")
    outputs = graph.outputs["prod.us-west-2"]
    outputs["reader_endpoint"] = {"Address": outputs["reader_endpoint"], "Port": 3306}

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("regional-outputs-complete", None)]
    assert "prod.us-west-2 output reader_endpoint is dict" in findings[0].message


def test_prod_provider_pinned_to_another_account_is_refused():
    graph = planned_graph("prod")
    provider = find(graph, lambda n: n.stack == "prod.eu-west-1" and n.type == "pulumi:providers:aws")
    provider.inputs["allowedAccountIds"] = json.dumps(["222222222222"])

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("provider-pinned-to-account", provider.urn)]
    assert "222222222222" in findings[0].message


def test_prod_secondary_given_master_credentials_is_refused():
    graph = planned_graph("prod")
    cluster = find(graph, lambda n: n.stack == "prod.eu-west-1" and n.type == CLUSTER)
    cluster.inputs.update(masterUsername="dbadmin", masterPasswordWo=SECRET_MASK)

    findings = evaluate(graph)

    assert [(f.rule, f.resource) for f in findings] == [("secondary-without-credentials", cluster.urn)]
    assert "masterUsername" in findings[0].message and "masterPasswordWo" in findings[0].message


# --- failover-mesh-complete: on prod's real plan (automated) ------------------------------------


def _mesh_findings(graph: guardrails.Graph) -> list[str]:
    return [f.message for f in evaluate(graph) if f.rule == "failover-mesh-complete"]


def test_prod_mesh_is_complete() -> None:
    assert _mesh_findings(planned_graph("prod")) == []


def test_a_missing_route_to_one_peer_is_caught_naming_the_route_table() -> None:
    graph = planned_graph("prod")
    route = find(
        graph,
        lambda n: (
            n.type == "aws:ec2/route:Route" and n.resource.name == "prod-mesh-us-east-1-rt0-to-us-west-2"
        ),
    )
    graph.nodes.remove(route)

    assert _mesh_findings(graph) == [
        f"us-east-1 has no route to us-west-2 (10.31.0.0/16) over the peering in route table(s) "
        f"{route.inputs['routeTableId']}: its probe cannot reach us-west-2's writer"
    ]


def test_an_unaccepted_peering_and_a_missing_ingress_are_caught() -> None:
    graph = planned_graph("prod")
    accepter = find(graph, lambda n: n.resource.name == "prod-mesh-us-east-1-eu-west-1-accept")
    graph.nodes.remove(accepter)
    for node in [
        n for n in graph.nodes if n.resource.name.startswith("prod-mesh-eu-west-1-db-from-us-west-2-")
    ]:
        graph.nodes.remove(node)

    assert _mesh_findings(graph) == [
        "the peering us-east-1-eu-west-1 is never accepted in eu-west-1 (a VpcPeeringConnectionAccepter there "
        "with autoAccept: true)",
        "the database of eu-west-1 admits no MySQL (3306) from us-west-2's subnets (10.31.0.0/16): us-west-2's "
        "probe cannot write its heartbeat there",
    ]


def test_a_missing_peering_is_caught_and_a_manual_environment_is_not_judged() -> None:
    graph = planned_graph("prod")
    peering = find(graph, lambda n: n.resource.name == "prod-mesh-us-west-2-eu-west-1")
    graph.nodes.remove(peering)
    assert _mesh_findings(graph) == [
        "prod automates failover but has no VPC peering between us-west-2 and eu-west-1: their probes cannot "
        "reach each other's writer (the failover stack's PeeringMesh)"
    ]
    graph.env = graph.env.model_copy(
        update={"failover": graph.env.failover.model_copy(update={"automated": False})}
    )
    assert _mesh_findings(graph) == []
