"""A Lambda function of ours: code from ``lambda_src``, the dependency layer, a least-privilege
role, a KMS-encrypted log group with retention, optional VPC placement and schedule, and an
alarm on its errors.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import lambda_packaging
from components.providers import child_opts
from components.tags import resource_tags

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"

# ENI management for VPC-attached functions. AWS defines no resource-level permissions for
# these EC2 actions, so Resource must be "*" (Lambda Developer Guide, "Giving Lambda functions
# access to a VPC"; the same actions as AWSLambdaVPCAccessExecutionRole).
VPC_ACCESS_STATEMENT: dict[str, Any] = {
    "Sid": "ManageVpcNetworkInterfaces",
    "Effect": "Allow",
    "Action": [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ],
    "Resource": "*",
}


@functools.cache
def layer_archive() -> lambda_packaging.Archive:
    """The dependency layer, built once per process from the project's pinned, installed packages."""
    return lambda_packaging.build_layer()


@functools.cache
def function_archive(subpackage: str) -> lambda_packaging.Archive:
    return lambda_packaging.build_function_archive([subpackage])


def archive_asset(archive: lambda_packaging.Archive) -> pulumi.FileArchive:
    return pulumi.FileArchive(str(archive.write()))


class DependencyLayer(pulumi.ComponentResource):
    """The layer carrying pymysql and Powertools (FC-000-1), reproducible byte for byte."""

    arn: pulumi.Output[str]

    def __init__(
        self, name: str, layer_name: str, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("aurora:lambda:DependencyLayer", name, None, opts)
        archive = layer_archive()
        versions = ", ".join(f"{k} {v}" for k, v in sorted(lambda_packaging.layer_versions().items()))
        self.layer = aws.lambda_.LayerVersion(
            f"{name}-layer",
            layer_name=layer_name,
            description=f"Dependencies of the Aurora Lambdas: {versions}"[:256],
            code=archive_asset(archive),
            source_code_hash=archive.sha256_base64,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=child_opts(self, provider),
        )
        self.arn = self.layer.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True, kw_only=True)
class LambdaFunctionArgs:
    function_name: str
    """Physical function name (validated by naming.function_name). Required."""
    subpackage: str
    """lambda_src subpackage packaged with lambda_src/common. Required."""
    handler: str
    """Handler path, e.g. lambda_src.health.handler.handler. Required."""
    description: str
    """Function description. Required."""
    layer_arn: pulumi.Input[str]
    """ARN of the dependency layer. Required."""
    kms_key_arn: pulumi.Input[str]
    """Key encrypting the log group and environment variables. Required."""
    statements: Sequence[Mapping[str, Any]]
    """IAM statements of the function's own permissions (exact actions and resources). Required."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variables (plain strings). Defaults to none."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None
    """Private subnets: set to run in the VPC. Defaults to None (outside any VPC)."""
    security_group_ids: Sequence[pulumi.Input[str]] = ()
    """Security groups when in a VPC. Defaults to none."""
    timeout_seconds: int = 30
    """Function timeout. Defaults to 30."""
    memory_mb: int = 256
    """Memory. Defaults to 256."""
    log_retention_days: int = 30
    """Log retention. Defaults to 30."""
    schedule_minutes: int | None = None
    """Invoke every N minutes through EventBridge. Defaults to None (no schedule)."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """Topic notified when the function reports errors. Defaults to None (no alarm)."""
    # No reserved concurrency, on purpose: AWS refuses to reserve any while fewer than 100 units
    # of the account's regional concurrency would stay unreserved (AWS_FACTS.md, Lambda), so new
    # or low-quota accounts could not deploy. Single flight comes from the code instead: the
    # failover Lambda's DynamoDB lease (one conditional write), the migrator's GET_LOCK, and the
    # health check's timeout (15 s) being shorter than its schedule (>= 1 min).


class LambdaFunction(pulumi.ComponentResource):
    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    error_alarm_name: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: LambdaFunctionArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:lambda:Function", name, None, opts)
        in_vpc = args.subnet_ids is not None
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=resource_tags(f"/aws/lambda/{args.function_name}"),
            opts=child_opts(self, provider),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"Execution role of {args.function_name}",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                        }
                    ],
                }
            ),
            tags=resource_tags(f"{args.function_name}-role"),
            opts=child_opts(self, provider),
        )
        log_statement = {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_group.arn.apply(lambda arn: f"{arn}:*"),
        }
        statements: list[Any] = [log_statement, *args.statements]
        if in_vpc:
            statements.append(VPC_ACCESS_STATEMENT)
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=child_opts(self, provider),
        )
        code = function_archive(args.subpackage)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=args.handler,
            code=archive_asset(code),
            source_code_hash=code.sha256_base64,
            role=self.role.arn,
            layers=[args.layer_arn],
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            kms_key_arn=args.kms_key_arn,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
            if args.environment
            else None,
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=args.subnet_ids,  # type: ignore[arg-type]  # not None when in_vpc
                security_group_ids=list(args.security_group_ids),
            )
            if in_vpc
            else None,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            tags=resource_tags(args.function_name, {"Handler": args.handler}),
            opts=child_opts(self, provider, depends_on=[policy, log_group]),
        )
        if args.schedule_minutes is not None:
            rule = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                name=f"{args.function_name}-schedule"[:64],
                description=f"Invoke {args.function_name} every {args.schedule_minutes} minute(s)",
                schedule_expression=(
                    "rate(1 minute)"
                    if args.schedule_minutes == 1
                    else f"rate({args.schedule_minutes} minutes)"
                ),
                tags=resource_tags(f"{args.function_name}-schedule"),
                opts=child_opts(self, provider),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-schedule-target",
                rule=rule.name,
                arn=self.function.arn,
                opts=child_opts(self, provider),
            )
            aws.lambda_.Permission(
                f"{name}-schedule-permission",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child_opts(self, provider),
            )
        self.error_alarm_name = None
        if args.alarm_topic_arn is not None:
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-errors",
                name=f"{args.function_name}-errors",
                alarm_description=f"{args.function_name} reported errors",
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions={"FunctionName": args.function_name},
                statistic="Sum",
                period=60,
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[args.alarm_topic_arn],
                ok_actions=[args.alarm_topic_arn],
                tags=resource_tags(f"{args.function_name}-errors"),
                opts=child_opts(self, provider),
            )
            self.error_alarm_name = alarm.name
        self.function_arn = self.function.arn
        self.function_name = self.function.name
        self.role_arn = self.role.arn
        self.register_outputs({"function_arn": self.function_arn, "role_arn": self.role_arn})
