"""The Lambdas of a regional stack: health check (every region), secret rotation (where the
secret lives), the rotation SQL, bootstrap and migrator workers (every region) and guarded automated failover (the
failover-target secondary), with the exact IAM actions each one's code calls.

Rotation follows the writer wherever it is (DESIGN.md 4b): the rotation function in the home
region runs outside any VPC, finds the writer with DescribeGlobalClusters and invokes the
in-VPC ``rotation-sql`` worker of the writer's region through the Lambda API. Every regional
stack runs a worker, and the rotation role may invoke every region's worker by its ARN,
derived from names: no input of any stack depends on where the writer is now. Same-account
invocation needs only the caller's identity policy, so the workers carry no resource policy.
The deploy-time bootstrap and the migrator (components.database_setup) follow the writer the
same way, through the ``bootstrap-worker`` and the ``migrator-worker`` every regional stack runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.aurora import AuroraCluster, ClusterRole
from components.lambda_function import DependencyLayer, LambdaFunction, LambdaFunctionArgs
from components.network import Network
from components.providers import child_opts
from model import naming
from model.naming import HEALTH_NAMESPACE

if TYPE_CHECKING:
    from components.context import StackContext

ROTATION_SQL_TIMEOUT_SECONDS = 30
"""The worker's timeout: logins with up to three passwords, ALTER USER and a check, each bounded
by 3 s connect and 5 s read timeouts. The rotation function waits a little longer for it."""

BOOTSTRAP_WORKER_TIMEOUT_SECONDS = 120
"""The bootstrap worker's timeout: connect retries (1 + 2 + 4 s of backoff, 5 s connect timeouts),
then the database, users, grants and the probe user, each statement bounded by 30 s read and
write timeouts. The bootstrap function (components.database_setup) waits a little longer."""

MIGRATOR_WORKER_TIMEOUT_SECONDS = 840
"""The migrator worker's timeout: migrations run long (statements get the remaining time less a
margin to record a failure, lambda_src.migrator_worker.handler). The migrator function
(components.database_setup) has MIGRATOR_TIMEOUT_SECONDS, so it outlives the worker and still
publishes the version."""

MIGRATOR_TIMEOUT_SECONDS = 900
"""The migrator function's timeout (Lambda's maximum): the worker's plus a minute for reading the
set, the Invoke and publishing the version."""


def secret_read_statements(secret_arns: Any, key_arn: Any, region: str) -> list[dict[str, Any]]:
    """Read exactly these secrets (one ARN or a list) and decrypt them through Secrets Manager."""
    return [
        {
            "Sid": "ReadCredentialsSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secret_arns,
        },
        {
            "Sid": "DecryptCredentialsSecret",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]


class RegionalLambdas(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        ctx: StackContext,
        role: ClusterRole,
        provider: aws.Provider,
        network: Network,
        kms_key_arn: pulumi.Input[str],
        cluster: AuroraCluster,
        cluster_identifier: str,
        secret_arn: pulumi.Input[str],
        secrets_kms_key_arn: pulumi.Input[str],
        secrets_replica_key_arns: Mapping[str, pulumi.Input[str]],
        alarm_topic_arn: pulumi.Input[str],
        rotates: bool,
        global_cluster_arn: pulumi.Input[str] | None,
        secret_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:lambda:RegionalLambdas", name, None, opts)
        env, region = ctx.env, ctx.spec.region
        self._env = env
        short = naming.short_region(region)
        layer = DependencyLayer(
            f"{name}-deps", f"{env.name}-aurora-{short}-deps", provider, pulumi.ResourceOptions(parent=self)
        )
        self.layer_arn = layer.arn
        common = {
            "layer_arn": layer.arn,
            "kms_key_arn": kms_key_arn,
            "log_retention_days": env.monitoring.log_retention_days,
            "alarm_topic_arn": alarm_topic_arn,
        }
        in_vpc = {
            "subnet_ids": network.private_subnet_ids,
            "security_group_ids": [network.lambda_security_group_id],
        }

        health_name = naming.function_name(env.name, region, "health")
        self.health = LambdaFunction(
            f"{name}-health",
            LambdaFunctionArgs(
                function_name=health_name,
                subpackage="health",
                handler="lambda_src.health.handler.handler",
                description=f"Writer health of {cluster_identifier} every {env.monitoring.health_check_minutes} min",
                statements=[
                    *secret_read_statements(secret_arn, secrets_kms_key_arn, region),
                    {
                        # PutMetricData has no resource-level permissions (Resource "*" is required);
                        # the namespace condition keeps it to our metrics.
                        "Sid": "PublishHealthMetrics",
                        "Effect": "Allow",
                        "Action": ["cloudwatch:PutMetricData"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"cloudwatch:namespace": HEALTH_NAMESPACE}},
                    },
                ],
                environment={
                    "SECRET_ARN": secret_arn,
                    "DB_HOST": cluster.writer_endpoint,
                    "DB_READER_HOST": cluster.reader_endpoint,
                    "DB_PORT": cluster.port.apply(str),
                    "METRIC_NAMESPACE": HEALTH_NAMESPACE,
                    "ENVIRONMENT": env.name,
                    "REGION_NAME": region,
                    "CLUSTER_ID": cluster_identifier,
                    "CONNECT_TIMEOUT_S": "2",
                    "READ_TIMEOUT_S": "2",
                },
                timeout_seconds=15,
                memory_mb=256,
                schedule_minutes=env.monitoring.health_check_minutes,
                # One check at a time without reserved concurrency (see LambdaFunctionArgs): the
                # timeout (15 s) is shorter than the schedule (>= 1 min), so checks never overlap.
                **in_vpc,  # type: ignore[arg-type]
                **common,  # type: ignore[arg-type]
            ),
            provider,
            pulumi.ResourceOptions(parent=self, depends_on=list(secret_ready)),
        )

        def worker(purpose: str, subpackage: str, description: str, timeout_seconds: int) -> LambdaFunction:
            # In the VPC, on this region's cluster endpoint; credentials arrive in the payload,
            # so a worker needs no Secrets Manager or KMS right, only logs and its VPC.
            return LambdaFunction(
                f"{name}-{purpose}",
                LambdaFunctionArgs(
                    function_name=naming.function_name(env.name, region, purpose),
                    subpackage=subpackage,
                    handler=f"lambda_src.{subpackage}.handler.handler",
                    description=f"{description} on {cluster_identifier} while it is the writer",
                    statements=[],
                    environment={
                        "DB_HOST": cluster.writer_endpoint,
                        "DB_PORT": cluster.port.apply(str),
                        "REGION_NAME": region,
                    },
                    timeout_seconds=timeout_seconds,
                    **in_vpc,  # type: ignore[arg-type]
                    **common,  # type: ignore[arg-type]
                ),
                provider,
                pulumi.ResourceOptions(parent=self),
            )

        # The database halves of rotation, the deploy-time bootstrap and the migrator, in every
        # region: the home region's function (rotation here, bootstrap and migrator in
        # components.database_setup) invokes the worker of whichever region holds the writer now.
        self.rotation_sql = worker(
            naming.ROTATION_SQL_WORKER,
            "rotation_sql",
            "SQL step of secret rotation",
            ROTATION_SQL_TIMEOUT_SECONDS,
        )
        self.bootstrap_worker = worker(
            naming.BOOTSTRAP_WORKER,
            "bootstrap_worker",
            "Bootstrap SQL (database, users, bookkeeping)",
            BOOTSTRAP_WORKER_TIMEOUT_SECONDS,
        )
        self.migrator_worker = worker(
            naming.MIGRATOR_WORKER, "migrator_worker", "Schema migrations", MIGRATOR_WORKER_TIMEOUT_SECONDS
        )

        self.rotation: LambdaFunction | None = None
        self._master_rotation: tuple[Any, list[pulumi.Resource]] = ("", [])
        # Rotation runs in the secrets' own region (AWS requires the function there,
        # model.aws_rules.check_secrets_region): in that region's stack, whatever its role.
        if rotates:
            rotation_name = naming.function_name(env.name, region, "rotation")
            workers = naming.rotation_sql_worker_arns(env)
            statements: list[dict[str, Any]] = [
                {
                    "Sid": "RotateOwnSecret",
                    "Effect": "Allow",
                    "Action": [
                        "secretsmanager:DescribeSecret",
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:PutSecretValue",
                        "secretsmanager:UpdateSecretVersionStage",
                    ],
                    "Resource": secret_arn,
                },
                {
                    # GetRandomPassword acts on no resource: AWS requires Resource "*".
                    "Sid": "GeneratePasswords",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetRandomPassword"],
                    "Resource": "*",
                },
                {
                    # Secrets Manager replicates a new version as the caller: encrypting it with a
                    # replica's customer-managed key needs kms:Encrypt and kms:GenerateDataKey on
                    # that key (Secrets Manager API Reference, ReplicateSecretToRegions; AWS_FACTS.md).
                    "Sid": "EncryptSecretVersionsAndReplicas",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": [
                        secrets_kms_key_arn,
                        *(secrets_replica_key_arns[r] for r in sorted(secrets_replica_key_arns)),
                    ],
                },
                {
                    "Sid": "InvokeRotationSqlWorkers",
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    "Resource": [workers[r] for r in sorted(workers)],
                },
            ]
            environment: dict[str, pulumi.Input[str]] = {
                "HOME_REGION": region,
                "SQL_WORKERS": json.dumps(workers, sort_keys=True),
                "WORKER_TIMEOUT_SECONDS": str(ROTATION_SQL_TIMEOUT_SECONDS),
                "PASSWORD_LENGTH": "32",
            }
            if global_cluster_arn is not None:
                # DescribeGlobalClusters authorizes on the global-cluster resource type (Service
                # Authorization Reference, Amazon RDS: DescribeGlobalClusters, global-cluster*).
                statements.append(
                    {
                        "Sid": "FindTheWriter",
                        "Effect": "Allow",
                        "Action": ["rds:DescribeGlobalClusters"],
                        "Resource": global_cluster_arn,
                    }
                )
                environment["GLOBAL_CLUSTER_ID"] = naming.global_cluster_id(env.name)
            # Outside any VPC on purpose: it calls only AWS APIs, one of them (Lambda Invoke) in
            # whichever region holds the writer, which no VPC endpoint of this region serves.
            self.rotation = LambdaFunction(
                f"{name}-rotation",
                LambdaFunctionArgs(
                    function_name=rotation_name,
                    subpackage="rotation",
                    handler="lambda_src.rotation.handler.handler",
                    description=f"Single-user rotation of {env.name}'s database secrets, on the current writer",
                    statements=statements,
                    environment=environment,
                    timeout_seconds=120,
                    **common,  # type: ignore[arg-type]
                ),
                provider,
                pulumi.ResourceOptions(parent=self),
            )
            permission = aws.lambda_.Permission(
                f"{name}-rotation-invoke",
                action="lambda:InvokeFunction",
                function=self.rotation.function_name,
                principal="secretsmanager.amazonaws.com",
                source_arn=secret_arn,
                opts=child_opts(self, provider),
            )
            # The master secret's schedule is created by schedule_rotation(), once the bootstrap
            # invocation exists to depend on (see there).
            self._master_rotation = (secret_arn, [permission, *cluster.instances, *secret_ready])

        self._aws_provider = provider
        self._component_name = name
        # Automated failover: the decision code (lambda_src/failover, lambda_src/probe) and its
        # simulator are built, but its deployment (probes over inter-region peering, a decider
        # and a failover table in every region, issue 13) is not wired yet. The previous
        # single-region decider read its facts from the primary region and could fail over a
        # healthy database on an observer's bad hour (FC-P-2, FC-P-3), so it is no longer
        # deployed; the guardrail automated-failover-deployed warns while `failover.automated`
        # asks for what this version does not deploy.

        self.register_outputs(self.outputs())

    def schedule_rotation(self, *, after: Sequence[pulumi.Resource]) -> None:
        """Schedule the master secret's rotation, once ``after`` (the bootstrap invocation) is done.

        No rotation may start before bootstrap has finished: bootstrap reads the master password
        once and creates the users whose secrets rotate. So every schedule (a) is created only
        after the bootstrap invocation (``depends_on``: Pulumi creates it once the invocation has
        returned successfully), and (b) has rotate_immediately=False, so creating it starts no
        rotation (the provider's default would start one at once): the first rotation comes
        ``secret_rotation_days`` later, long after bootstrap."""
        assert self.rotation is not None, "rotation function exists only where the secret lives"
        secret_arn, ready = self._master_rotation
        aws.secretsmanager.SecretRotation(
            f"{self._component_name}-rotation-schedule",
            secret_id=secret_arn,
            rotation_lambda_arn=self.rotation.function_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=self._env.database.secret_rotation_days
            ),
            rotate_immediately=False,
            # The first rotation needs a writer to log in to and bootstrap done (see above).
            opts=child_opts(self, self._aws_provider, depends_on=[*ready, *after]),
        )

    def rotate(
        self,
        role: str,
        secret_arn: pulumi.Input[str],
        secrets_key_arn: pulumi.Input[str],
        ready: Sequence[pulumi.Resource],
    ) -> None:
        """Rotate another database secret (an application user's) with the same rotation function.

        ``ready`` must include the bootstrap invocation, which creates the user: the schedule is
        created after it and with rotate_immediately=False (see schedule_rotation)."""
        assert self.rotation is not None, "rotation function exists only where the secret lives"
        env = self._env
        grant = aws.iam.RolePolicy(
            f"{self._component_name}-rotation-{role}-access",
            role=self.rotation.role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "RotateUserSecret",
                            "Effect": "Allow",
                            "Action": [
                                "secretsmanager:DescribeSecret",
                                "secretsmanager:GetSecretValue",
                                "secretsmanager:PutSecretValue",
                                "secretsmanager:UpdateSecretVersionStage",
                            ],
                            "Resource": secret_arn,
                        }
                    ],
                }
            ),
            opts=child_opts(self, self._aws_provider),
        )
        permission = aws.lambda_.Permission(
            f"{self._component_name}-rotation-{role}-invoke",
            action="lambda:InvokeFunction",
            function=self.rotation.function_name,
            principal="secretsmanager.amazonaws.com",
            source_arn=secret_arn,
            opts=child_opts(self, self._aws_provider),
        )
        aws.secretsmanager.SecretRotation(
            f"{self._component_name}-rotation-{role}-schedule",
            secret_id=secret_arn,
            rotation_lambda_arn=self.rotation.function_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=env.database.secret_rotation_days
            ),
            rotate_immediately=False,  # bootstrap creates the user; never rotate before it has
            opts=child_opts(self, self._aws_provider, depends_on=[grant, permission, *ready]),
        )
        del secrets_key_arn  # the rotation role already decrypts and encrypts with the secrets key

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "health_function_arn": self.health.function_arn,
            "health_function_name": self.health.function_name,
            "rotation_sql_function_arn": self.rotation_sql.function_arn,
            "bootstrap_worker_function_arn": self.bootstrap_worker.function_arn,
            "migrator_worker_function_arn": self.migrator_worker.function_arn,
        }
        if self.rotation is not None:
            out["rotation_function_arn"] = self.rotation.function_arn
        return out
