"""Customer-managed KMS keys: one per region for the cluster, logs, topics and Performance
Insights, and a multi-region key (with a replica per secondary region) for the credentials
secret, so every replica of the secret is readable in its own region.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.providers import child_opts
from components.tags import resource_tags


def key_policy(account_id: str, region: str, services: Sequence[str]) -> str:
    """Key policy: the account administers the key (IAM policies then grant use); AWS services
    may use it only on the account's behalf, in this region; CloudWatch Logs and alarms (SNS)
    get the exact actions they need.

    KMS key policies always name ``Resource: "*"`` (the key itself): AWS requires it.
    """
    root = f"arn:aws:iam::{account_id}:root"
    statements: list[dict[str, object]] = [
        {
            # Without this statement the key becomes unmanageable (KMS Developer Guide,
            # "Default key policy": allows IAM policies to grant access).
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "UseThroughDataServices",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account_id,
                    "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services],
                }
            },
        },
        {
            "Sid": "CloudWatchLogsEncryptsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"
                }
            },
        },
        {
            # CloudWatch alarms publish to the KMS-encrypted SNS topic (SNS Developer Guide,
            # "Enable compatibility between event sources and encrypted topics").
            "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass(frozen=True, kw_only=True)
class RegionalKeyArgs:
    account_id: str
    """The environment's account (key policy principal). Required."""
    region: str
    """Region of the key. Required."""
    alias: str
    """Alias name without the alias/ prefix. Required."""
    description: str
    """Key description. Required."""
    multi_region: bool = False
    """Create a multi-region primary key. Defaults to False."""
    replica_regions: Sequence[str] = ()
    """Regions that get a replica of a multi-region key (same stack). Defaults to none."""
    deletion_window_days: int = 30
    """Waiting period before deletion (7-30). Defaults to 30."""
    services: Sequence[str] = ("rds", "secretsmanager", "sns", "lambda")
    """Services allowed to use the key on the account's behalf. Defaults to RDS, Secrets Manager, SNS, Lambda."""


class RegionalKey(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    replica_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: RegionalKeyArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:kms:RegionalKey", name, None, opts)
        if args.replica_regions and not args.multi_region:
            raise ValueError(f"{name}: replica_regions needs multi_region=True")
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            multi_region=args.multi_region,
            policy=key_policy(args.account_id, args.region, args.services),
            tags=resource_tags(f"{name}-key"),
            opts=child_opts(self, provider),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=child_opts(self, provider),
        )
        self.replica_arns = {}
        for region in args.replica_regions:
            replica = aws.kms.ReplicaKey(
                f"{name}-replica-{region}",
                primary_key_arn=self.key.arn,
                region=region,
                description=f"{args.description} (replica in {region})",
                deletion_window_in_days=args.deletion_window_days,
                policy=key_policy(args.account_id, region, args.services),
                tags=resource_tags(f"{name}-replica-{region}"),
                opts=child_opts(self, provider),
            )
            aws.kms.Alias(
                f"{name}-alias-{region}",
                name=f"alias/{args.alias}",
                target_key_id=replica.key_id,
                region=region,
                opts=child_opts(self, provider),
            )
            self.replica_arns[region] = replica.arn
        self.key_arn = self.key.arn
        self.key_id = self.key.key_id
        self.register_outputs(
            {"key_arn": self.key_arn, "key_id": self.key_id, "replica_arns": self.replica_arns}
        )
