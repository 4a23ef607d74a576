"""Database credentials: a generated password in our own Secrets Manager secret.

AWS does not support RDS-managed master passwords for clusters in a global database
(AWS_FACTS.md), so the password is generated (pulumi-random), stored in a secret encrypted
with a multi-region key and replicated to every secondary region (a surviving region can
still read it), and rotated by our rotation function. The secret's value and the cluster's
password are write-only inputs: a later `pulumi up` never resets a rotated password.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.providers import child_opts
from components.tags import resource_tags

# Characters the password never contains: they break MySQL client option files, URLs or
# shell quoting (the rotation function excludes the same set).
PASSWORD_EXCLUDED = "/@\"'\\` "
PASSWORD_SPECIALS = "!#$%&*()-_=+[]{}<>:?.,~^"


@dataclass(frozen=True, kw_only=True)
class CredentialsArgs:
    secret_name: str
    """Secrets Manager secret name (e.g. aurora/prod/master). Required."""
    username: str
    """Master user name. Required."""
    kms_key_arn: pulumi.Input[str]
    """Multi-region key (primary) encrypting the secret in this region. Required."""
    replica_kms_key_arns: Mapping[str, pulumi.Input[str]]
    """Region -> replica key; the secret is replicated to each region. Defaults to none."""
    password_length: int = 32
    """Generated password length. Defaults to 32."""
    recovery_window_days: int = 7
    """Days a deleted secret can be restored (0 deletes at once: ephemeral). Defaults to 7."""


class Credentials(pulumi.ComponentResource):
    secret_arn: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    password: pulumi.Output[str]
    replica_regions: Sequence[str]

    def __init__(
        self,
        name: str,
        args: CredentialsArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:credentials:Credentials", name, None, opts)
        generated = random.RandomPassword(
            f"{name}-password",
            length=args.password_length,
            special=True,
            override_special=PASSWORD_SPECIALS,
            min_lower=2,
            min_upper=2,
            min_numeric=2,
            min_special=2,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=args.secret_name,
            description=f"Aurora credentials of {args.username}",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=args.recovery_window_days,
            replicas=[
                aws.secretsmanager.SecretReplicaArgs(region=region, kms_key_id=key)
                for region, key in sorted(args.replica_kms_key_arns.items())
            ],
            tags=resource_tags(args.secret_name),
            opts=child_opts(self, provider),
        )
        self.password = pulumi.Output.secret(generated.result)
        self.secret_arn = self.secret.arn
        self.secret_name = self.secret.name
        self.replica_regions = sorted(args.replica_kms_key_arns)
        self._args = args
        self._aws_provider = provider
        self._component_name = name
        self.register_outputs({"secret_arn": self.secret_arn, "secret_name": self.secret_name})

    def store_user(
        self, *, host: pulumi.Input[str], port: pulumi.Input[int], dbname: str
    ) -> aws.secretsmanager.SecretVersion:
        """Write the first version of an application user's secret (RDS secret layout, so the same
        single-user rotation function rotates it)."""
        return self._initial_version(self._rds_layout(host=host, port=port, dbname=dbname))

    def _rds_layout(self, **fields: Any) -> pulumi.Output[str]:
        return pulumi.Output.json_dumps(
            {"engine": "mysql", "username": self._args.username, "password": self.password, **fields}
        )

    def _initial_version(self, value: pulumi.Input[str]) -> aws.secretsmanager.SecretVersion:
        # Write-only: the provider never reads the value back, so rotation is never undone.
        return aws.secretsmanager.SecretVersion(
            f"{self._component_name}-initial-version",
            secret_id=self.secret.id,
            secret_string_wo=pulumi.Output.secret(value),
            secret_string_wo_version=1,
            opts=child_opts(self, self._aws_provider),
        )

    def store_connection(
        self,
        *,
        host: pulumi.Input[str],
        port: pulumi.Input[int],
        dbname: str,
        cluster_identifier: pulumi.Input[str],
    ) -> aws.secretsmanager.SecretVersion:
        """Write the first version of the secret (RDS secret layout), write-only: rotation owns it after."""
        return self._initial_version(
            self._rds_layout(host=host, port=port, dbname=dbname, dbClusterIdentifier=cluster_identifier)
        )
