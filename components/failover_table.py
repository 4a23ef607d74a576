"""Failover table: one region's DynamoDB table of probe attempts, the flight lock and the arm
state of the automated failover (item layout: lambda_src/failover/store.py).

Keys ``pk`` (S) and ``sk`` (S), TTL on ``expires_at``, on-demand capacity, point-in-time
recovery. Encryption stays DynamoDB's default, the AWS owned key, on purpose: the items hold
no secrets, and no KMS call (or cross-region KMS right) may sit on the decision path while a
region is down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.providers import child_opts
from components.tags import resource_tags

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True, kw_only=True)
class FailoverTableArgs:
    table_name: str
    """Physical table name (model.naming.failover_table_name). Required."""
    deletion_protection: bool
    """DynamoDB deletion protection (the environment is protected). Required."""
    extra_tags: dict[str, str] = field(default_factory=dict)
    """Tags besides the provider's default tags. Defaults to none."""


class FailoverTable(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: FailoverTableArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:failover:FailoverTable", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=PARTITION_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=SORT_KEY, type="S"),
            ],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TTL_ATTRIBUTE, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=args.deletion_protection,
            # No server_side_encryption block: the AWS owned key. A customer-managed key would
            # put a KMS call on every read of the decision path (see the module docstring).
            tags=resource_tags(args.table_name, args.extra_tags),
            opts=child_opts(self, provider),
        )
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})
