"""The automated failover of one region: its write probe (in the VPC) and its decider (outside).

Called by the cross-region ``<env>.failover`` stack once per region when
``failover.automated`` is true. The environment variables are the handlers' documented
contracts (lambda_src/probe/handler.py, lambda_src/failover/handler.py); the timings come from
``model.failover_timing``, the same figures ``infra plan`` reports as the RTO/RPO budget.
IAM is the exact set of calls the code makes (probe: handler.py; decider: facts.py,
store.py, lock.py, handler.py), on the listed resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.lambda_function import LambdaFunction, LambdaFunctionArgs
from components.lambdas import secret_read_statements
from model import failover_timing, naming
from model.environment import Environment
from model.naming import HEALTH_NAMESPACE

# One scheduled invocation a minute, looping inside (EventBridge runs at most once a minute).
SCHEDULE_MINUTES = 1
# The probe loops LOOP_SECONDS, then finishes its last attempt (bounded by its timeouts).
PROBE_TIMEOUT_SECONDS = failover_timing.LOOP_SECONDS + failover_timing.PROBE_ATTEMPT_SECONDS + 4
# The decider loops LOOP_SECONDS; its last evaluation may call FailoverGlobalCluster, whose
# client read timeout is 20 s (lambda_src.failover.handler._ACT_CONFIG), plus one evaluation.
DECIDER_TIMEOUT_SECONDS = failover_timing.LOOP_SECONDS + 20 + failover_timing.DECIDER_RUN_SECONDS + 5

PROBE_TABLE_ACTIONS = ["dynamodb:PutItem"]
"""The probe publishes its attempt in its own region's table (handler.publish: PutItem)."""
DECIDER_TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
"""store.DynamoRegionStore: Query (attempts), GetItem (lock, arm), UpdateItem (lock), PutItem (arm)."""


@dataclass(frozen=True, kw_only=True)
class RegionFailoverArgs:
    region: str
    """The region of these functions. Required."""
    kms_key_arn: pulumi.Input[str]
    """The region's CMK (logs, environment variables). Required."""
    layer_arn: pulumi.Input[str]
    """The region's dependency layer. Required."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """The region's private subnets (the probe's placement). Required."""
    lambda_security_group_id: pulumi.Input[str]
    """The region's Lambda security group (the probe's). Required."""
    cluster_endpoints: Mapping[str, pulumi.Input[str]]
    """Region -> cluster (writer) endpoint address, every region. Required."""
    local_reader_endpoint: pulumi.Input[str]
    """This region's reader endpoint address. Required."""
    cluster_arns: Mapping[str, pulumi.Input[str]]
    """Region -> regional cluster ARN, every region. Required."""
    global_cluster_arn: pulumi.Input[str]
    """The environment's global cluster. Required."""
    failover_table_arns: Mapping[str, pulumi.Input[str]]
    """Region -> failover table ARN, every region. Required."""
    probe_secret_arn: pulumi.Input[str]
    """This region's copy of the probe user's secret. Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """The key encrypting that copy (the home key or its replica). Required."""
    notify_topic_arn: pulumi.Input[str]
    """This region's alarm topic (the decider's notifications). Required."""
    port: pulumi.Input[int]
    """The database port. Required."""


def _in_order(env: Environment, mapping: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The mapping in Environment.region_order (home first unless `infra rehome` moved it); every
    region of the environment, no other."""
    if sorted(mapping) != sorted(env.regions):
        raise ValueError(
            f"RegionFailoverArgs.{what}: needs exactly the regions {', '.join(env.regions)}; "
            f"got {', '.join(sorted(mapping)) or 'none'}"
        )
    return {region: mapping[region] for region in env.region_order}


def _json_map(mapping: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    return pulumi.Output.all(**dict(mapping)).apply(lambda values: json.dumps(dict(values)))


def probe_statements(args: RegionFailoverArgs, global_cluster_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    return [
        *secret_read_statements(args.probe_secret_arn, args.secrets_kms_key_arn, args.region),
        {
            "Sid": "FindTheWriter",
            "Effect": "Allow",
            "Action": ["rds:DescribeGlobalClusters"],
            "Resource": global_cluster_arn,
        },
        {
            "Sid": "PublishOwnAttempts",
            "Effect": "Allow",
            "Action": PROBE_TABLE_ACTIONS,
            "Resource": args.failover_table_arns[args.region],
        },
    ]


def decider_statements(env: Environment, args: RegionFailoverArgs) -> list[dict[str, Any]]:
    tables = _in_order(env, args.failover_table_arns, "failover_table_arns")
    return [
        {
            "Sid": "ReadTheGlobalCluster",
            "Effect": "Allow",
            "Action": ["rds:DescribeGlobalClusters"],
            "Resource": args.global_cluster_arn,
        },
        {
            # FailoverGlobalCluster authorizes on the global cluster and the target DB cluster;
            # the target is always this region's own cluster (handler.failover_request).
            "Sid": "PromoteOwnCluster",
            "Effect": "Allow",
            "Action": ["rds:FailoverGlobalCluster"],
            "Resource": [args.global_cluster_arn, args.cluster_arns[args.region]],
        },
        {
            "Sid": "FailoverTables",
            "Effect": "Allow",
            "Action": DECIDER_TABLE_ACTIONS,
            "Resource": list(tables.values()),
        },
        {
            # GetMetricData supports no resource-level permissions (Service Authorization
            # Reference, Amazon CloudWatch: no resource types for GetMetricData): Resource "*".
            # It reads the health Lambda's WriterHealthy in the writer's region (the veto).
            "Sid": "ReadWriterHealth",
            "Effect": "Allow",
            "Action": ["cloudwatch:GetMetricData"],
            "Resource": "*",
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": args.notify_topic_arn,
        },
    ]


class RegionFailover(pulumi.ComponentResource):
    probe: LambdaFunction
    decider: LambdaFunction

    def __init__(
        self,
        name: str,
        env: Environment,
        args: RegionFailoverArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:failover:RegionFailover", name, None, opts)
        if args.region not in env.regions:
            raise ValueError(
                f"RegionFailoverArgs.region: {args.region} is not a region of {env.name} "
                f"({', '.join(env.regions)})"
            )
        timing = failover_timing.failover_timing(env)
        endpoints = _in_order(env, args.cluster_endpoints, "cluster_endpoints")
        cluster_arns = _in_order(env, args.cluster_arns, "cluster_arns")
        _in_order(env, args.failover_table_arns, "failover_table_arns")
        tables = naming.failover_tables(env)
        global_id = naming.global_cluster_id(env.name)
        common: dict[str, Any] = {
            "layer_arn": args.layer_arn,
            "kms_key_arn": args.kms_key_arn,
            "log_retention_days": env.monitoring.log_retention_days,
            "alarm_topic_arn": args.notify_topic_arn,
            "schedule_minutes": SCHEDULE_MINUTES,
        }
        self.probe = LambdaFunction(
            f"{name}-probe",
            LambdaFunctionArgs(
                function_name=naming.function_name(env.name, args.region, naming.FAILOVER_PROBE),
                subpackage="probe",
                handler="lambda_src.probe.handler.handler",
                description=f"Write probe of {env.name} in {args.region} (automated failover's vantage)",
                statements=probe_statements(args, args.global_cluster_arn),
                environment={
                    "ENVIRONMENT": env.name,
                    "GLOBAL_CLUSTER_ID": global_id,
                    "CLUSTER_ENDPOINTS": _json_map(endpoints),
                    "LOCAL_READER_HOST": args.local_reader_endpoint,
                    "PROBE_SECRET_ARN": args.probe_secret_arn,
                    "FAILOVER_TABLE": tables[args.region],
                    "DB_PORT": pulumi.Output.from_input(args.port).apply(str),
                    "CONNECT_TIMEOUT_S": str(failover_timing.PROBE_CONNECT_TIMEOUT_SECONDS),
                    "READ_TIMEOUT_S": str(failover_timing.PROBE_READ_TIMEOUT_SECONDS),
                    "PROBE_INTERVAL_SECONDS": str(timing.probe_interval_seconds),
                    "LOOP_SECONDS": str(failover_timing.LOOP_SECONDS),
                },
                subnet_ids=args.private_subnet_ids,  # type: ignore[arg-type]
                security_group_ids=[args.lambda_security_group_id],
                timeout_seconds=PROBE_TIMEOUT_SECONDS,
                **common,
            ),
            provider,
            pulumi.ResourceOptions(parent=self),
        )
        # Outside any VPC: it calls the RDS, DynamoDB, CloudWatch and SNS APIs of several regions.
        self.decider = LambdaFunction(
            f"{name}-decider",
            LambdaFunctionArgs(
                function_name=naming.function_name(env.name, args.region, naming.FAILOVER_DECIDER),
                subpackage="failover",
                handler="lambda_src.failover.handler.handler",
                description=f"Automated failover decider of {env.name} in {args.region}",
                statements=decider_statements(env, args),
                environment={
                    "ENVIRONMENT": env.name,
                    "GLOBAL_CLUSTER_ID": global_id,
                    "REGIONS": ",".join(env.region_order),
                    "CLUSTER_ARNS": _json_map(cluster_arns),
                    "FAILOVER_TABLES": json.dumps(tables),
                    "METRIC_NAMESPACE": HEALTH_NAMESPACE,
                    "NOTIFY_TOPIC_ARN": args.notify_topic_arn,
                    "WINDOW_SECONDS": str(timing.window_seconds),
                    "PROBE_INTERVAL_SECONDS": str(timing.probe_interval_seconds),
                    "PROBE_ATTEMPT_SECONDS": str(timing.probe_attempt_seconds),
                    "DECIDER_INTERVAL_SECONDS": str(timing.decider_interval_seconds),
                    "RPO_BUDGET_SECONDS": str(int(timing.rpo_budget_seconds)),
                    "COOLDOWN_SECONDS": str(timing.cooldown_seconds),
                    "DRY_RUN": "true" if env.failover.dry_run else "false",
                    "ARMED_BY_DEFAULT": "true" if failover_timing.ARMED_BY_DEFAULT else "false",
                    "LOOP_SECONDS": str(failover_timing.LOOP_SECONDS),
                },
                timeout_seconds=DECIDER_TIMEOUT_SECONDS,
                **common,
            ),
            provider,
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, Any]:
        return {
            "probe_function_name": self.probe.function_name,
            "probe_function_arn": self.probe.function_arn,
            "decider_function_name": self.decider.function_name,
            "decider_function_arn": self.decider.function_arn,
        }
