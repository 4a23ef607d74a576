"""Database bootstrap at deploy time and the environment's own migrator (pull model).

In the stack of the secrets' region (the home's, primary or regional, unless `infra rehome`
moved the home; the users' credentials themselves are the home stack's, user_credentials()):
least-privilege users whose passwords live in their own replicated secrets, a bootstrap Lambda invoked during `up` (re-run only
when its inputs change) that creates the database, the users and the migration bookkeeping
on the current writer, wherever it is (through the writer region's bootstrap worker,
components.lambdas), a private versioned KMS-encrypted TLS-only bucket for the
migration sets published to this environment, the migrator Lambda that applies them on the
current writer (through the writer region's migrator worker, components.lambdas; it runs
outside any VPC like bootstrap), and the SSM parameter it publishes the applied version to (FC-000-4, FC-001-5, FC-002-4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.credentials import Credentials, CredentialsArgs
from components.lambda_function import LambdaFunction, LambdaFunctionArgs, function_archive
from components.lambdas import (
    BOOTSTRAP_WORKER_TIMEOUT_SECONDS,
    MIGRATOR_TIMEOUT_SECONDS,
    MIGRATOR_WORKER_TIMEOUT_SECONDS,
    secret_read_statements,
)
from components.providers import child_opts, former_urn
from components.tags import resource_tags
from model import naming
from model.environment import APP_USERS as _APP_USERS
from model.environment import PROBE_USER, Environment
from model.naming import migrations_bucket_name, migrations_prefix, version_parameter_name

# Roles of the application users -> their MySQL user names (the validator refuses them as master).
APP_USERS: dict[str, str] = _APP_USERS


@dataclass(frozen=True)
class UserCredentials:
    """The application users' and the failover probe user's credentials: generated passwords in
    secrets replicated like the master secret, owned by the home stack (DESIGN.md 4b)."""

    users: dict[str, Credentials]
    probe: Credentials | None
    """The failover probe user's (heartbeat table only); None unless failover.automated."""
    versions: list[pulumi.Resource]
    """The secrets' first versions: bootstrap runs after them."""


def user_credentials(
    env: Environment,
    *,
    secrets_key_arn: pulumi.Input[str],
    secrets_replica_key_arns: Mapping[str, pulumi.Input[str]],
    secret_host: pulumi.Input[str],
    port: pulumi.Input[int],
    provider: aws.Provider,
) -> UserCredentials:
    """Declared at the root of the home stack through the secrets region's provider, named after
    the secrets region (``<env>-<short>-database-<role>``), so a new home after `infra rehome`
    declares them unchanged; aliased to where versions before the ownership model kept them
    (children of the home's DatabaseSetup component)."""
    prefix = f"{env.name}-{naming.short_region(env.secrets_home)}-database"
    roles = {**APP_USERS, **({"probe": PROBE_USER} if env.failover.automated else {})}
    made: dict[str, Credentials] = {}
    versions: list[pulumi.Resource] = []
    for role, username in roles.items():
        name = f"{prefix}-{role}"
        creds = Credentials(
            name,
            CredentialsArgs(
                secret_name=naming.secret_name(env.name, f"users/{role}"),
                username=username,
                kms_key_arn=secrets_key_arn,
                replica_kms_key_arns=secrets_replica_key_arns,
                recovery_window_days=7 if env.protected else 0,
            ),
            provider,
            pulumi.ResourceOptions(
                aliases=[
                    former_urn(["aurora:database:DatabaseSetup"], "aurora:credentials:Credentials", name)
                ]
            ),
        )
        versions.append(creds.store_user(host=secret_host, port=port, dbname=env.database.database_name))
        made[role] = creds
    probe = made.pop("probe", None)
    return UserCredentials(users=made, probe=probe, versions=versions)


class DatabaseSetup(pulumi.ComponentResource):
    """In the stack of the secrets' region (the home's, unless `infra rehome` moved the home)."""

    migrator_function_name: pulumi.Output[str]
    migrations_bucket: pulumi.Output[str]
    bootstrap_run: aws.lambda_.Invocation
    """The bootstrap invocation: rotation schedules depend on it (components.lambdas)."""

    def __init__(
        self,
        name: str,
        *,
        env: Environment,
        region: str,
        provider: aws.Provider,
        kms_key_arn: pulumi.Input[str],
        secrets_key_arn: pulumi.Input[str],
        master_secret_arn: pulumi.Input[str],
        user_secret_arns: Mapping[str, pulumi.Input[str]],
        probe_secret_arn: pulumi.Input[str] | None,
        global_cluster_arn: pulumi.Input[str] | None,
        bootstrap_worker: pulumi.Resource,
        layer_arn: pulumi.Input[str],
        alarm_topic_arn: pulumi.Input[str],
        ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:database:DatabaseSetup", name, None, opts)
        common: dict[str, Any] = {
            "layer_arn": layer_arn,
            "kms_key_arn": kms_key_arn,
            "log_retention_days": env.monitoring.log_retention_days,
            "alarm_topic_arn": alarm_topic_arn,
        }
        # In APP_USERS order whether given as outputs or fed as config: the invocation's input
        # (and so whether bootstrap runs again) must not depend on where they came from.
        self.user_secret_arns = {role: user_secret_arns[role] for role in APP_USERS}
        self.probe_secret_arn = probe_secret_arn
        bootstrap_secrets = [*self.user_secret_arns.values()]
        if self.probe_secret_arn is not None:
            bootstrap_secrets.append(self.probe_secret_arn)

        # The bootstrap follows the writer like rotation (components.lambdas): this function, in
        # the home region and outside any VPC, reads the secrets, finds the writer and invokes
        # the bootstrap worker of the writer's region, which runs the SQL on its own cluster.
        bootstrap_name = naming.function_name(env.name, region, "bootstrap")
        workers = naming.bootstrap_worker_arns(env)
        statements: list[dict[str, Any]] = [
            *secret_read_statements([master_secret_arn, *bootstrap_secrets], secrets_key_arn, region),
            {
                "Sid": "InvokeBootstrapWorkers",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [workers[r] for r in sorted(workers)],
            },
        ]
        environment: dict[str, pulumi.Input[str]] = {
            "MASTER_SECRET_ARN": master_secret_arn,
            "HOME_REGION": region,
            "SQL_WORKERS": json.dumps(workers, sort_keys=True),
            "WORKER_TIMEOUT_SECONDS": str(BOOTSTRAP_WORKER_TIMEOUT_SECONDS),
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
        bootstrap = LambdaFunction(
            f"{name}-bootstrap",
            LambdaFunctionArgs(
                function_name=bootstrap_name,
                subpackage="bootstrap",
                handler="lambda_src.bootstrap.handler.handler",
                description=f"Creates {env.database.database_name}, its users and the migration bookkeeping on the writer",
                statements=statements,
                environment=environment,
                # Outside any VPC on purpose (like rotation): it calls only AWS APIs, one of them
                # (Lambda Invoke) in whichever region holds the writer.
                timeout_seconds=BOOTSTRAP_WORKER_TIMEOUT_SECONDS + 60,
                **common,
            ),
            provider,
            pulumi.ResourceOptions(parent=self),
        )
        # Runs during `up`, again only when its input changes (new code of the function or its
        # worker, users or database). A failure fails the deployment with the database's own
        # error message. The home region's worker must exist first: the writer is there on a
        # first deployment (the other regions' workers exist once their stacks are deployed).
        self.bootstrap_run = aws.lambda_.Invocation(
            f"{name}-bootstrap-run",
            function_name=bootstrap.function_name,
            input=pulumi.Output.json_dumps(
                {
                    "database": env.database.database_name,
                    "users": self.user_secret_arns,
                    **({"probe_user": self.probe_secret_arn} if self.probe_secret_arn is not None else {}),
                    "version": ".".join(
                        function_archive(sub).sha256_base64 for sub in ("bootstrap", "bootstrap_worker")
                    ),
                }
            ),
            opts=child_opts(self, provider, depends_on=[bootstrap, bootstrap_worker, *ready]),
        )

        bucket_name = migrations_bucket_name(env)
        bucket = aws.s3.Bucket(
            f"{name}-migrations",
            bucket=bucket_name,
            force_destroy=not env.protected,
            tags=resource_tags(bucket_name),
            opts=child_opts(self, provider),
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-migrations-private",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child_opts(self, provider),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-migrations-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child_opts(self, provider),
        )
        aws.s3.BucketVersioning(
            f"{name}-migrations-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child_opts(self, provider),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-migrations-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child_opts(self, provider),
        )
        aws.s3.BucketPolicy(
            f"{name}-migrations-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=child_opts(self, provider),
        )
        parameter = aws.ssm.Parameter(
            f"{name}-schema-version",
            name=version_parameter_name(env),
            type="String",
            value="0",
            description=f"Applied schema version of {env.name} (written by the migrator)",
            tags=resource_tags(version_parameter_name(env)),
            # The migrator owns the value after creation.
            opts=child_opts(self, provider, ignore_changes=["value"]),
        )
        prefix = migrations_prefix(env)
        migrator_name = naming.function_name(env.name, region, "migrator")
        # The migrator follows the writer like bootstrap: this function, in the home region and
        # outside any VPC, reads the set, the secret and publishes the version here, and invokes
        # the migrator worker of the writer's region (components.lambdas) to apply the files.
        migrator_workers = naming.migrator_worker_arns(env)
        migrator_statements: list[dict[str, Any]] = [
            *secret_read_statements([self.user_secret_arns["migrator"]], secrets_key_arn, region),
            {
                "Sid": "ReadOwnMigrationSet",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": bucket.arn.apply(lambda arn: f"{arn}/{prefix}*"),
            },
            {
                "Sid": "ListOwnMigrationSet",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": bucket.arn,
                "Condition": {"StringLike": {"s3:prefix": f"{prefix}*"}},
            },
            {
                "Sid": "DecryptMigrationSet",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
            {
                "Sid": "PublishAppliedVersion",
                "Effect": "Allow",
                "Action": ["ssm:PutParameter"],
                "Resource": parameter.arn,
            },
            {
                "Sid": "InvokeMigratorWorkers",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [migrator_workers[r] for r in sorted(migrator_workers)],
            },
        ]
        migrator_environment: dict[str, pulumi.Input[str]] = {
            "DB_NAME": env.database.database_name,
            "MIGRATOR_SECRET_ARN": self.user_secret_arns["migrator"],
            "MIGRATIONS_BUCKET": bucket.bucket,
            "MIGRATIONS_PREFIX": prefix,
            "VERSION_PARAMETER": version_parameter_name(env),
            "ENVIRONMENT": env.name,
            "HOME_REGION": region,
            "SQL_WORKERS": json.dumps(migrator_workers, sort_keys=True),
            "WORKER_TIMEOUT_SECONDS": str(MIGRATOR_WORKER_TIMEOUT_SECONDS),
        }
        if global_cluster_arn is not None:
            migrator_statements.append(
                {
                    "Sid": "FindTheWriter",
                    "Effect": "Allow",
                    "Action": ["rds:DescribeGlobalClusters"],
                    "Resource": global_cluster_arn,
                }
            )
            migrator_environment["GLOBAL_CLUSTER_ID"] = naming.global_cluster_id(env.name)
        migrator = LambdaFunction(
            f"{name}-migrator",
            LambdaFunctionArgs(
                function_name=migrator_name,
                subpackage="migrator",
                handler="lambda_src.migrator.handler.handler",
                description=f"Applies the migrations published for {env.name} on the writer (pull model)",
                statements=migrator_statements,
                environment=migrator_environment,
                # Outlives its worker (MIGRATOR_WORKER_TIMEOUT_SECONDS) to publish the version. Two
                # migrators never interleave: the worker holds GET_LOCK while it applies (no reserved
                # concurrency, which low-quota accounts refuse: see LambdaFunctionArgs). Outside any
                # VPC on purpose (like bootstrap): it calls only AWS APIs, one of them (Lambda Invoke)
                # in whichever region holds the writer.
                timeout_seconds=MIGRATOR_TIMEOUT_SECONDS,
                **common,
            ),
            provider,
            pulumi.ResourceOptions(parent=self),
        )
        self.migrator_function_name = migrator.function_name
        self.migrations_bucket = bucket.bucket
        self.register_outputs(
            {
                "migrator_function_name": self.migrator_function_name,
                "migrations_bucket": self.migrations_bucket,
            }
        )
