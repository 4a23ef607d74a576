"""Minimal resource graphs for the guardrail tests, shaped like what `infra plan --json` records.

A :class:`GraphBuilder` collects :class:`orchestrator.analysis.guardrails.Node` s for one checked-in
environment. Inputs are engine-named (camelCase) exactly as the mocks record them: provider
inputs are JSON strings, numbers are floats, policies are JSON strings, secret values are
``"[secret]"``.

Companions. A graph is only "minimal" relative to the rules that look at the whole
environment, so the builder adds, explicitly:

* every stack's AWS provider, pinned to the environment's account and deploy role with the
  required default tags, as soon as the stack gets its first resource (``no-ambient-provider``,
  ``provider-pinned-to-account``, ``required-tags``);
* no automated failover: the environment's ``failover.automated`` is set false (prod has it
  on), so a case that is about the automation turns it on and adds ``decider()`` itself;
* for a global environment, the writer name's tree as the real plan has it: the dns stack's
  health checks and writer records and every region's writer-health alarm, copied from the
  environment's offline plan (``writer-failover-records`` fires on a global environment
  without a tree that follows the writer). Pass ``failover_records=False`` to leave it out.

No stack declares outputs unless a test sets ``builder.outputs[stack]``: ``regional-outputs-complete``
only judges the stacks that have outputs.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from model import naming
from model.environment import Environment, load_environment
from orchestrator.analysis import guardrails
from orchestrator.analysis.document import Plan
from orchestrator.analysis.guardrails import Graph, Node
from orchestrator.analysis.mock_runtime import SECRET_MASK, RecordedResource
from orchestrator.analysis.plan import build_plan

PROJECT = "aurora-global"
PROVIDER = "pulumi:providers:aws"
CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
CLUSTER_PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
FUNCTION = "aws:lambda/function:Function"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TOPIC = "aws:sns/topic:Topic"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TABLE = "aws:dynamodb/table:Table"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"

# The interface and gateway endpoints the Network component creates in every regional VPC.
ENDPOINT_SERVICES = ("s3", "dynamodb", "secretsmanager", "monitoring", "logs", "rds", "sns", "ssm")

_ABSENT = object()


def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack${type_}::{name}"


def short_region(region: str) -> str:
    """us-east-1 -> use1 (as the components abbreviate regions in names)."""
    area, direction, number = region.split("-")
    return f"{area}{direction[0]}{number}"


def apply_overrides(inputs: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides win; an override of ``None`` removes the key (the input is not set at all)."""
    merged = dict(inputs)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


PEERING = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"
ACCEPTER = "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
ROUTE = "aws:ec2/route:Route"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


class GraphBuilder:
    def __init__(self, env_name: str, *, failover_records: bool = True) -> None:
        env = load_environment(env_name)
        self.env: Environment = env.model_copy(
            update={"failover": env.failover.model_copy(update={"automated": False})}
        )
        self.nodes: list[Node] = []
        self.roles: dict[str, str] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self._providers: dict[str, Node] = {}
        self.writer_lookups: dict[str, list[str]] = {}
        self.today: datetime.date | None = None
        """The plan's date (None: date-dependent rules don't run, as in the policy pack)."""
        if failover_records and self.env.is_global:
            self.writer_tree()

    # --- stacks ------------------------------------------------------------------------------

    @property
    def primary(self) -> str:
        return f"{self.env.name}.{self.env.primary_region}"

    @property
    def secondary(self) -> str:
        return f"{self.env.name}.{self.env.secondary_regions[0]}"

    @property
    def dns(self) -> str:
        return f"{self.env.name}.dns"

    def role_of(self, stack: str) -> str:
        rest = stack.split(".", 1)[1]
        if rest in ("dns", "failover"):
            return rest
        return "primary" if rest == self.env.primary_region else "secondary"

    def region_of(self, stack: str) -> str:
        rest = stack.split(".", 1)[1]
        return self.env.primary_region if rest in ("dns", "failover") else rest

    def kms_key_arn(self, region: str, name: str = "data") -> str:
        return f"arn:aws:kms:{region}:{self.env.account_id}:key/{self.env.name}-{name}-mock"

    # --- nodes -------------------------------------------------------------------------------

    def provider_inputs(self, region: str) -> dict[str, Any]:
        env = self.env
        return {
            "skipCredentialsValidation": "false",
            "region": region,
            "defaultTags": json.dumps({"tags": env.base_tags()}),
            "assumeRoles": json.dumps([{"roleArn": env.deploy_role_arn, "sessionName": f"infra-{env.name}"}]),
            "allowedAccountIds": json.dumps([env.account_id]),
            "skipRegionValidation": "true",
        }

    def provider(self, stack: str) -> Node:
        """The stack's AWS provider (created pinned and tagged on first use)."""
        if stack not in self._providers:
            region = self.region_of(stack)
            name = f"aws-{self.env.name}-{region}"
            resource = RecordedResource(
                urn=urn(stack, PROVIDER, name),
                type=PROVIDER,
                name=name,
                parent=None,
                provider=None,
                inputs=self.provider_inputs(region),
                custom=True,
                id=f"{name}-provider-id",
            )
            node = Node(stack=stack, role=self.role_of(stack), region=region, resource=resource)
            self._providers[stack] = node
            self.roles[stack] = node.role
            self.nodes.insert(0, node)
        return self._providers[stack]

    def add(
        self,
        type_: str,
        name: str,
        inputs: dict[str, Any],
        *,
        stack: str | None = None,
        id: str = "",
        region: str | None = None,
        provider: Any = _ABSENT,
    ) -> Node:
        stack = stack or self.primary
        provider_urn = self.provider(stack).urn if provider is _ABSENT else provider
        resource = RecordedResource(
            urn=urn(stack, type_, name),
            type=type_,
            name=name,
            parent=None,
            provider=provider_urn,
            inputs=inputs,
            custom=True,
            id=id or f"{name}-id",
            region=region or self.region_of(stack),
        )
        node = Node(stack=stack, role=self.role_of(stack), region=resource.region or "", resource=resource)
        self.nodes.append(node)
        return node

    def graph(self) -> Graph:
        return Graph(
            env=self.env,
            nodes=list(self.nodes),
            outputs=dict(self.outputs),
            roles=dict(self.roles),
            writer_lookups=dict(self.writer_lookups),
            today=self.today,
        )

    # --- realistic resources (as the components declare them) ---------------------------------

    def cluster_identifier(self, stack: str) -> str:
        return f"{self.env.name}-aurora-{short_region(self.region_of(stack))}"

    def aurora_cluster(
        self, stack: str | None = None, *, params: dict[str, Any] | None = None, **overrides: Any
    ) -> Node:
        """A cluster with its cluster parameter group, correct for the environment and the stack's role."""
        stack = stack or self.primary
        env, region = self.env, self.region_of(stack)
        identifier = self.cluster_identifier(stack)
        group = f"{identifier}-cluster"
        self.add(
            CLUSTER_PARAMS,
            f"{identifier}-cluster-params",
            apply_overrides(
                {
                    "parameters": [
                        {"value": "ON", "applyMethod": "immediate", "name": "require_secure_transport"},
                        {"value": "TLSv1.2,TLSv1.3", "applyMethod": "pending-reboot", "name": "tls_version"},
                    ],
                    "description": f"{identifier}: TLS required",
                    "family": "aurora-mysql8.0",
                    "name": group,
                },
                params or {},
            ),
            stack=stack,
        )
        inputs: dict[str, Any] = {
            "tags": {"Name": identifier},
            "clusterIdentifier": identifier,
            "engine": "aurora-mysql",
            "engineMode": "provisioned",
            "engineVersion": env.database.engine_version,
            "dbClusterParameterGroupName": group,
            "storageEncrypted": True,
            "kmsKeyId": self.kms_key_arn(region),
            "port": 3306.0,
            "backupRetentionPeriod": float(env.database.backup_retention_days),
        }
        if env.database.engine_lifecycle_support is not None:
            inputs["engineLifecycleSupport"] = env.database.engine_lifecycle_support
        if env.is_global:
            inputs["globalClusterIdentifier"] = f"{env.name}-aurora-global"
        elif env.backtrack_hours:
            inputs["backtrackWindow"] = float(env.backtrack_hours * 3600)
        if self.role_of(stack) == "primary":
            inputs.update(
                masterUsername="dbadmin",
                masterPasswordWo=SECRET_MASK,
                masterPasswordWoVersion=1.0,
                databaseName="app",
            )
        else:
            inputs["sourceRegion"] = env.primary_region
        if env.protected:
            inputs.update(
                deletionProtection=True,
                skipFinalSnapshot=False,
                finalSnapshotIdentifier=f"{identifier}-final",
            )
        else:
            inputs.update(deletionProtection=False, skipFinalSnapshot=True)
        return self.add(CLUSTER, f"{identifier}-cluster", apply_overrides(inputs, overrides), stack=stack)

    def global_cluster(self, **overrides: Any) -> Node:
        inputs = {
            "globalClusterIdentifier": f"{self.env.name}-aurora-global",
            "engine": "aurora-mysql",
            "engineVersion": self.env.database.engine_version,
            "storageEncrypted": True,
            "deletionProtection": self.env.protected,
            "forceDestroy": False,
        }
        return self.add(GLOBAL_CLUSTER, f"{self.env.name}-aurora-global", apply_overrides(inputs, overrides))

    def vpc_endpoints(
        self, stack: str | None = None, services: Iterable[str] = ENDPOINT_SERVICES
    ) -> list[Node]:
        stack = stack or self.primary
        region = self.region_of(stack)
        return [
            self.add(
                VPC_ENDPOINT,
                f"{self.env.name}-{short_region(region)}-network-endpoint-{service}",
                {
                    "vpcId": "vpc-0123456789abcdef0",
                    "vpcEndpointType": "Gateway" if service in ("s3", "dynamodb") else "Interface",
                    "serviceName": f"com.amazonaws.{region}.{service}",
                },
                stack=stack,
            )
            for service in services
        ]

    def lambda_function(self, subpackage: str, stack: str | None = None, **overrides: Any) -> Node:
        """A function of ``lambda_src.<subpackage>`` in the stack's private subnets, with the layer."""
        stack = stack or self.primary
        region = self.region_of(stack)
        name = f"{self.cluster_identifier(stack)}-{subpackage}"
        inputs = {
            "name": name,
            "handler": f"lambda_src.{subpackage}.handler.handler",
            "runtime": "python3.12",
            "architectures": ["arm64"],
            "code": "<FileArchive>",
            "layers": [f"arn:aws:lambda:{region}:{self.env.account_id}:layer:{self.env.name}-deps:1"],
            "vpcConfig": {"subnetIds": ["subnet-0a", "subnet-0b"], "securityGroupIds": ["sg-0lambda"]},
            "environment": {
                "variables": {
                    "DB_HOST": f"{self.cluster_identifier(stack)}.cluster-c0ffee.{region}.rds.amazonaws.com",
                    "DB_PORT": "3306",
                }
            },
            "kmsKeyArn": self.kms_key_arn(region),
            "role": f"arn:aws:iam::{self.env.account_id}:role/{name}-role",
            "timeout": 15.0,
        }
        return self.add(FUNCTION, f"{name}-function", apply_overrides(inputs, overrides), stack=stack)

    def decider(self, stack: str | None = None) -> Node:
        """The automated failover as components.failover declares it, in every region: the write
        probe in the VPC, the decider outside any VPC, each with its one-minute schedule.
        Returns the decider of ``stack`` (default: the first secondary's)."""
        wanted = stack or self.secondary
        found: Node | None = None
        if not any(n.type == PEERING for n in self.nodes):
            self.mesh()  # the paths the probes need (failover-mesh-complete)
        for region in self.env.regions:
            region_stack = f"{self.env.name}.{region}"
            if not any(n.type == VPC_ENDPOINT and n.stack == region_stack for n in self.nodes):
                self.vpc_endpoints(region_stack)  # the network's defaults: the probe's APIs are reachable
            for purpose, subpackage in (
                (naming.FAILOVER_PROBE, "probe"),
                (naming.FAILOVER_DECIDER, "failover"),
            ):
                name = naming.function_name(self.env.name, region, purpose)
                overrides: dict[str, Any] = {"name": name}
                if purpose == naming.FAILOVER_DECIDER:
                    overrides["vpcConfig"] = None
                node = self.lambda_function(subpackage, region_stack, **overrides)
                node.inputs["environment"] = {"variables": {"ENVIRONMENT": self.env.name}}
                self.schedule(name, region_stack)
                if purpose == naming.FAILOVER_DECIDER and region_stack == wanted:
                    found = node
        assert found is not None, f"{wanted} is not a regional stack of {self.env.name}"
        return found

    def mesh(self, *, skip: tuple[str, ...] = ()) -> None:
        """The peering mesh as components.peering declares it (in the regional stacks here, each
        resource with its region's provider): per pair the requester (earlier region), its
        accepter, a route each way and MySQL ingress each way. ``skip`` leaves out resources
        by name, for the failover-mesh-complete cases."""
        env = self.env
        for index, first in enumerate(env.regions):
            for second in env.regions[index + 1 :]:
                pair = f"{env.name}-mesh-{first}-{second}"
                nodes: list[tuple[str, str, str, dict[str, Any]]] = [
                    (PEERING, pair, first, {"vpcId": f"vpc-{first}", "peerRegion": second,
                                            "peerVpcId": f"vpc-{second}", "autoAccept": False}),
                    (ACCEPTER, f"{pair}-accept", second, {"vpcPeeringConnectionId": f"{pair}-id", "autoAccept": True}),
                ]  # fmt: skip
                for source, target in ((first, second), (second, first)):
                    nodes.append((ROUTE, f"{env.name}-mesh-{source}-rt0-to-{target}", source, {
                        "routeTableId": f"rtb-{source}", "destinationCidrBlock": env.network.cidrs[target],
                        "vpcPeeringConnectionId": f"{pair}-id"}))  # fmt: skip
                    nodes.append((INGRESS, f"{env.name}-mesh-{target}-db-from-{source}", target, {
                        "securityGroupId": f"sg-{target}-db", "ipProtocol": "tcp", "fromPort": 3306.0,
                        "toPort": 3306.0, "cidrIpv4": env.network.cidrs[source]}))  # fmt: skip
                for type_, name, region, inputs in nodes:
                    if name not in skip:
                        self.add(type_, name, inputs, stack=f"{env.name}.{region}")

    def writer_followers(self) -> dict[str, Node]:
        """The functions that follow the writer as components.lambdas and database_setup declare
        them: rotation, bootstrap and the migrator in the home stack outside any VPC, each role
        allowed to invoke its worker in every region, and a rotation-sql, a bootstrap-worker and a
        migrator-worker in every region's VPC. Returns the nodes by function name."""
        env = self.env
        nodes: dict[str, Node] = {}
        for region in env.regions:
            for purpose, subpackage in (
                (naming.ROTATION_SQL_WORKER, "rotation_sql"),
                (naming.BOOTSTRAP_WORKER, "bootstrap_worker"),
                (naming.MIGRATOR_WORKER, "migrator_worker"),
            ):
                name = naming.function_name(env.name, region, purpose)
                nodes[name] = self.lambda_function(subpackage, f"{env.name}.{region}", name=name)
        for purpose, workers in (
            ("rotation", naming.rotation_sql_worker_arns(env)),
            ("bootstrap", naming.bootstrap_worker_arns(env)),
            ("migrator", naming.migrator_worker_arns(env)),
        ):
            name = naming.function_name(env.name, env.primary_region, purpose)
            nodes[name] = self.lambda_function(
                purpose,
                self.primary,
                name=name,
                vpcConfig=None,
                role=f"arn:aws:iam::{env.account_id}:role/{name}-role",
            )
            self.add(
                ROLE_POLICY,
                f"{name}-policy",
                {
                    "role": f"{name}-role",
                    "policy": iam_policy(
                        {
                            "Sid": "InvokeWorkers",
                            "Effect": "Allow",
                            "Action": ["lambda:InvokeFunction"],
                            "Resource": sorted(workers.values()),
                        }
                    ),
                },
                stack=self.primary,
            )
        return nodes

    def schedule(self, function_name: str, stack: str, expression: str = "rate(1 minute)") -> Node:
        """An EventBridge schedule and its target for a function (components.lambda_function)."""
        region = self.region_of(stack)
        rule = self.add(
            "aws:cloudwatch/eventRule:EventRule",
            f"{function_name}-schedule",
            {"name": f"{function_name}-schedule"[:64], "scheduleExpression": expression},
            stack=stack,
        )
        self.add(
            "aws:cloudwatch/eventTarget:EventTarget",
            f"{function_name}-schedule-target",
            {
                "rule": f"{function_name}-schedule"[:64],
                "arn": f"arn:aws:lambda:{region}:{self.env.account_id}:function:{function_name}",
            },
            stack=stack,
        )
        return rule

    def secret(self, name: str, stack: str | None = None, *, rotate: bool = True, **overrides: Any) -> Node:
        """A secret (customer-managed key, replicated for ``*/master``) with its rotation schedule."""
        stack = stack or self.primary
        region = self.region_of(stack)
        arn = f"arn:aws:secretsmanager:{region}:{self.env.account_id}:secret:{name}-a1b2c3"
        inputs: dict[str, Any] = {
            "name": name,
            "kmsKeyId": self.kms_key_arn(region, "secrets"),
            "replicas": [],
        }
        if name.endswith("/master"):
            inputs["replicas"] = [
                {"region": r, "kmsKeyId": self.kms_key_arn(r, "secrets-replica")}
                for r in self.env.secondary_regions
            ]
        node = self.add(
            SECRET,
            f"{name.replace('/', '-')}-secret",
            apply_overrides(inputs, overrides),
            stack=stack,
            id=arn,
        )
        if rotate:
            self.add(
                SECRET_ROTATION,
                f"{name.replace('/', '-')}-schedule",
                {
                    "secretId": arn,
                    "rotationLambdaArn": f"arn:aws:lambda:{region}:{self.env.account_id}:function:rotation",
                    "rotationRules": {"automaticallyAfterDays": 30.0},
                },
                stack=stack,
            )
        return node

    def writer_alarm(self, stack: str | None = None, **overrides: Any) -> Node:
        stack = stack or self.primary
        region = self.region_of(stack)
        identifier = self.cluster_identifier(stack)
        inputs = {
            "name": f"{identifier}-writer-health",
            "namespace": "AuroraGlobal/Health",
            "metricName": "WriterHealthy",
            "dimensions": {"ClusterIdentifier": identifier, "Region": region, "Environment": self.env.name},
            "statistic": "Minimum",
            "period": 60.0,
            "evaluationPeriods": 3.0,
            "threshold": 1.0,
            "comparisonOperator": "LessThanThreshold",
            "treatMissingData": "breaching",
        }
        return self.add(
            ALARM, f"{identifier}-writer-health-alarm", apply_overrides(inputs, overrides), stack=stack
        )

    def health_check(self, region: str, **overrides: Any) -> Node:
        inputs = {
            "type": "CLOUDWATCH_METRIC",
            "cloudwatchAlarmRegion": region,
            "cloudwatchAlarmName": f"{self.env.name}-aurora-{short_region(region)}-writer-health",
            "insufficientDataHealthStatus": "Unhealthy",
            "referenceName": f"{self.env.name}-{region}",
        }
        return self.add(
            HEALTH_CHECK,
            f"{self.env.name}-writer-health-{region}",
            apply_overrides(inputs, overrides),
            stack=self.dns,
        )

    def writer_tree(self) -> None:
        """The planned writer name's checks and records, and the alarms they read.

        Copies keep their ids (the tree refers to them) and take names of their own (alarm
        names end in ``-tree``), so a test's own alarms and checks never collide with them.
        """
        for node in planned_graph(self.env.name).nodes:
            keep = (
                node.stack == self.dns
                and node.type in (HEALTH_CHECK, RECORD)
                and "writer" in node.resource.name
            ) or (node.type == ALARM and str(node.inputs.get("name", "")).endswith("-writer-health"))
            if keep:
                inputs = copy.deepcopy(node.inputs)
                for key in ("name", "cloudwatchAlarmName"):
                    if node.type in (ALARM, HEALTH_CHECK) and inputs.get(key):
                        inputs[key] = f"{inputs[key]}-tree"
                self.add(
                    node.type,
                    f"{node.resource.name}-tree",
                    inputs,
                    stack=node.stack,
                    id=node.resource.id,
                    region=node.region,
                )

    def failover_record(self, role: str, region: str, **overrides: Any) -> Node:
        inputs = {
            "zoneId": "ZMOCKZONE",
            "name": f"writer.{self.env.dns.zone_name}",
            "type": "CNAME",
            "ttl": 5.0,
            "records": [
                f"{self.env.name}-aurora-{short_region(region)}.cluster-c0ffee.{region}.rds.amazonaws.com"
            ],
            "setIdentifier": f"{self.env.name}-writer-{region}",
            "failoverRoutingPolicies": [{"type": role}],
            "healthCheckId": f"{self.env.name}-writer-health-{region}-id",
        }
        return self.add(
            RECORD,
            f"{self.env.name}-writer-{role.lower()}",
            apply_overrides(inputs, overrides),
            stack=self.dns,
        )

    def regional_outputs(self, stack: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Everything `regional-outputs-complete` asks of a regional stack, as plain strings."""
        stack = stack or self.primary
        region, account, identifier = (
            self.region_of(stack),
            self.env.account_id,
            self.cluster_identifier(stack),
        )
        outputs: dict[str, Any] = {
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0a", "subnet-0b"],
            "private_route_table_ids": ["rtb-0a", "rtb-0b"],
            "db_security_group_id": "sg-0db",
            "lambda_security_group_id": "sg-0lambda",
            "app_security_group_id": "sg-0app",
            "kms_key_arn": self.kms_key_arn(region),
            "cluster_identifier": identifier,
            "cluster_arn": f"arn:aws:rds:{region}:{account}:cluster:{identifier}",
            "cluster_endpoint": f"{identifier}.cluster-c0ffee.{region}.rds.amazonaws.com",
            "reader_endpoint": f"{identifier}.cluster-ro-c0ffee.{region}.rds.amazonaws.com",
            "port": 3306,
            "master_secret_arn": f"arn:aws:secretsmanager:{region}:{account}:secret:aurora/{self.env.name}/master-a1b2c3",
            "health_function_arn": f"arn:aws:lambda:{region}:{account}:function:{identifier}-health",
            "layer_arn": f"arn:aws:lambda:{region}:{account}:layer:{identifier}-deps:1",
            "alarm_topic_arn": f"arn:aws:sns:{region}:{account}:{identifier}-alarms",
            "writer_health_alarm_name": f"{identifier}-writer-health",
        }
        self.outputs[stack] = apply_overrides(outputs, overrides)
        self.roles.setdefault(stack, self.role_of(stack))
        return self.outputs[stack]


def iam_policy(*statements: dict[str, Any]) -> str:
    """A policy document as the RolePolicy input records it (a JSON string)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- planned (real) graphs -------------------------------------------------------------------


@functools.cache
def planned(env_name: str) -> Plan:
    """The checked-in environment's offline plan with its findings (built once per test process)."""
    return build_plan(load_environment(env_name))


def planned_graph(env_name: str) -> Graph:
    """A private, mutable copy of the planned graph: mutate its nodes' inputs freely."""
    plan = planned(env_name)
    graph = Graph.from_plan(plan)
    graph.nodes = [
        replace(n, resource=replace(n.resource, inputs=copy.deepcopy(n.resource.inputs))) for n in graph.nodes
    ]
    graph.outputs = copy.deepcopy(graph.outputs)
    return graph


def find(graph: Graph, predicate: Callable[[Node], bool]) -> Node:
    [node] = [n for n in graph.nodes if predicate(n)]
    return node


def evaluate(graph: Graph) -> list[Any]:
    return guardrails.evaluate_graph(graph)
