"""A DynamoDB lease plus cooldown record, so concurrent invocations cannot both fail over.

One item per global cluster (partition key ``global_cluster_id``, string). Taking the
lease is a single conditional write whose condition covers both the lease and the
cooldown, so an invocation that read the facts before another one acted still loses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambda_src.common.errors import LambdaCodeError
from lambda_src.failover.decision import LockState, Reason

KEY = "global_cluster_id"
TTL_ATTRIBUTE = "expires_at"
# Longer than any Lambda invocation can run (900 s is the service maximum), so a lease
# can only expire once its holder is certainly gone; a crashed holder blocks no longer.
LEASE_SECONDS = 900
# The item outlives the lease and cooldown by this much, as an audit trail of the last action.
RETENTION = timedelta(days=30)


class LockNotAcquired(LambdaCodeError):
    """Another invocation holds the lease, or a failover happened within the cooldown."""

    def __init__(self, reason: Reason, state: LockState) -> None:
        super().__init__(f"lock not acquired: {reason}")
        self.reason = reason
        self.state = state


@dataclass(frozen=True)
class FailoverLock:
    client: Any
    """A low-level DynamoDB client in this region."""
    table: str
    global_cluster_id: str

    def read(self) -> LockState:
        response = self.client.get_item(TableName=self.table, Key=self._key(), ConsistentRead=True)
        return _state(response.get("Item"))

    def acquire(self, *, owner: str, now: datetime, cooldown: timedelta) -> None:
        """Take the lease or raise LockNotAcquired (ClientError for anything else)."""
        now_s = _epoch(now)
        # update_item rather than put_item: it keeps the last-failover record on the item.
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET lease_owner = :owner, lease_expires_at = :lease, #ttl = :ttl",
                ConditionExpression=(
                    "(attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now)"
                    " AND (attribute_not_exists(last_failover_at) OR last_failover_at <= :cooled)"
                ),
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":lease": {"N": str(now_s + LEASE_SECONDS)},
                    ":ttl": {"N": str(self._expiry(now_s, cooldown))},
                    ":now": {"N": str(now_s)},
                    ":cooled": {"N": str(_epoch(now - cooldown))},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = exc.response.get("Item")
            state = _state(item) if item is not None else self.read()
            in_cooldown = state.last_failover_at is not None and state.last_failover_at > now - cooldown
            lease_live = state.lease_expires_at is not None and state.lease_expires_at > now
            reason = Reason.COOLDOWN if in_cooldown and not lease_live else Reason.LOCK_HELD
            raise LockNotAcquired(reason, state) from None

    def record_failover(self, *, owner: str, now: datetime, outcome: str, cooldown: timedelta) -> None:
        """Start the cooldown and give the lease back (only ours: the condition checks the owner)."""
        now_s = _epoch(now)
        self.client.update_item(
            TableName=self.table,
            Key=self._key(),
            UpdateExpression=(
                "SET last_failover_at = :now, last_failover_by = :owner, last_outcome = :outcome, #ttl = :ttl"
                " REMOVE lease_owner, lease_expires_at"
            ),
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":now": {"N": str(now_s)},
                ":owner": {"S": owner},
                ":outcome": {"S": outcome},
                ":ttl": {"N": str(self._expiry(now_s, cooldown))},
            },
        )

    def release(self, *, owner: str, outcome: str) -> None:
        """Give the lease back without starting a cooldown (the failover call was rejected)."""
        self.client.update_item(
            TableName=self.table,
            Key=self._key(),
            UpdateExpression="SET last_outcome = :outcome REMOVE lease_owner, lease_expires_at",
            ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues={":owner": {"S": owner}, ":outcome": {"S": outcome}},
        )

    def _key(self) -> dict[str, Any]:
        return {KEY: {"S": self.global_cluster_id}}

    @staticmethod
    def _expiry(now_s: int, cooldown: timedelta) -> int:
        # Past both the lease and the cooldown: TTL deletion can never drop a live record.
        return now_s + LEASE_SECONDS + int(cooldown.total_seconds()) + int(RETENTION.total_seconds())


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _time(item: dict[str, Any], name: str) -> datetime | None:
    raw = item.get(name, {}).get("N")
    return datetime.fromtimestamp(int(raw), tz=UTC) if raw is not None else None


def _state(item: dict[str, Any] | None) -> LockState:
    if not item:
        return LockState()
    return LockState(
        lease_owner=item.get("lease_owner", {}).get("S"),
        lease_expires_at=_time(item, "lease_expires_at"),
        last_failover_at=_time(item, "last_failover_at"),
        last_outcome=item.get("last_outcome", {}).get("S"),
    )
