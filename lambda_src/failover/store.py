"""One region's failover table: probe attempts, the lock item and the arm state.

Every region of the environment has one DynamoDB table (partition key ``pk`` S, sort key
``sk`` S, TTL attribute ``expires_at``). Items, for a global cluster ``G``:

* ``pk=attempt#G#<region>``, ``sk=<epoch ms, 15 digits>``: one probe attempt of that
  region's probe (only that region's probe writes them, into its own region's table);
* ``pk=lock#G``, ``sk=lock``: the lease and the last promotion (cooldown);
* ``pk=arm#G``, ``sk=arm``: armed or disarmed, with a generation number.

``RegionStore`` is the interface the lock protocol (``lambda_src.failover.lock``) and the
decider use; ``DynamoRegionStore`` implements it with conditional writes (tested against
moto), and the simulator implements the same semantics in memory so the multi-region
protocol it drives is the real one. Infrastructure errors become ``StoreUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.errors import LambdaCodeError
from lambda_src.common.probe_record import Attempt, attempt_item, parse_attempt
from lambda_src.common.probe_record import ms as _ms
from lambda_src.common.probe_record import number as _num
from lambda_src.failover.decision import LockView, Reason

# Lock and arm items stay as an audit trail (and TTL never drops a live one).
RECORD_RETENTION_SECONDS = 30 * 86400


class StoreUnavailable(LambdaCodeError):
    """The region's table could not be read or written (error, throttle, timeout)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The AWS error code when the table answered (``ResourceNotFoundException``: no table)."""


class LockNotAcquired(LambdaCodeError):
    """Another flight holds the lease, or a promotion happened within the cooldown."""

    def __init__(self, reason: Reason, region: str, state: LockView | None = None, detail: str = "") -> None:
        super().__init__(f"lock not acquired in {region}: {reason}{': ' + detail if detail else ''}")
        self.reason = reason
        self.region = region
        self.state = state


@dataclass(frozen=True, kw_only=True)
class ArmRecord:
    armed: bool
    generation: int
    changed_at: float
    changed_by: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "armed": self.armed,
            "generation": self.generation,
            "changed_at": self.changed_at,
            "changed_by": self.changed_by,
            "reason": self.reason,
        }


class RegionStore(Protocol):
    region: str

    def put_attempt(self, attempt: Attempt) -> None: ...

    def recent_attempts(self, region: str, since: float) -> tuple[Attempt, ...]: ...

    def read_lock(self) -> LockView: ...

    def try_acquire(
        self, *, owner: str, now: float, lease_seconds: float, cooldown_seconds: float
    ) -> None: ...

    def record_failover(self, *, owner: str, now: float, outcome: str) -> None: ...

    def release(self, *, owner: str, outcome: str) -> None: ...

    def note_failover(self, *, at: float, by: str) -> bool:
        """Copy a promotion seen elsewhere (cooldown) unless this table knows a later one."""
        ...

    def read_arm(self) -> ArmRecord | None: ...

    def write_arm(self, record: ArmRecord) -> bool:
        """Write unless the table holds a newer generation; True when written."""
        ...


def dynamo_stores(
    client_for_region: Any, tables: dict[str, str], global_cluster_id: str
) -> dict[str, DynamoRegionStore]:
    """One store per region; ``client_for_region(region)`` returns a DynamoDB client there
    (the CLI passes its session's factory, with short timeouts)."""
    return {
        region: DynamoRegionStore(
            client=client_for_region(region), table=table, global_cluster_id=global_cluster_id, region=region
        )
        for region, table in tables.items()
    }


@dataclass
class DynamoRegionStore:
    """``RegionStore`` on a low-level DynamoDB client of ``region``."""

    client: Any
    table: str
    global_cluster_id: str
    region: str

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            code = exc.response.get("Error", {}).get("Code")
            raise StoreUnavailable(f"{self.region} {operation}: {exc}", code=code) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"{self.region} {operation}: {type(exc).__name__}: {exc}") from exc

    def _key(self, kind: str) -> dict[str, Any]:
        return {"pk": {"S": f"{kind}#{self.global_cluster_id}"}, "sk": {"S": kind}}

    def put_attempt(self, attempt: Attempt) -> None:
        self._call("put_item", Item=attempt_item(self.global_cluster_id, attempt))

    def recent_attempts(self, region: str, since: float) -> tuple[Attempt, ...]:
        request: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"attempt#{self.global_cluster_id}#{region}"},
                ":since": {"S": f"{max(0, _ms(since)):015d}"},
            },
            "ConsistentRead": True,
            "ScanIndexForward": True,
        }
        attempts: list[Attempt] = []
        while True:
            response = self._call("query", **request)
            attempts.extend(parse_attempt(region, item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return tuple(attempts)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def read_lock(self) -> LockView:
        item = self._call("get_item", Key=self._key("lock"), ConsistentRead=True).get("Item") or {}
        return LockView(
            lease_owner=item.get("lease_owner", {}).get("S"),
            lease_expires_at=_num(item, "lease_expires_at"),
            last_failover_at=_num(item, "last_failover_at"),
        )

    def try_acquire(self, *, owner: str, now: float, lease_seconds: float, cooldown_seconds: float) -> None:
        # One conditional write covers the lease and the cooldown, so a flight that read the
        # facts before another one acted still loses. The cooldown binds operators too.
        condition = (
            "(attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now)"
            " AND (attribute_not_exists(last_failover_at) OR last_failover_at <= :cooled)"
        )
        values: dict[str, Any] = {
            ":owner": {"S": owner},
            ":lease": {"N": str(_ms(now + lease_seconds))},
            ":now": {"N": str(_ms(now))},
            ":cooled": {"N": str(_ms(now - cooldown_seconds))},
            ":ttl": {"N": str(int(now + lease_seconds + cooldown_seconds) + RECORD_RETENTION_SECONDS)},
        }
        try:
            self._call(
                "update_item",
                Key=self._key("lock"),
                UpdateExpression="SET lease_owner = :owner, lease_expires_at = :lease, expires_at = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError:
            state = self.read_lock()
            if state.lease_owner == owner and state.lease_expires_at == _ms(now + lease_seconds) / 1000:
                return  # our own write, retried after a lost answer: the lease is ours
            lease_live = state.lease_expires_at is not None and state.lease_expires_at > now
            reason = Reason.LOCK_HELD if lease_live else Reason.COOLDOWN
            raise LockNotAcquired(reason, self.region, state) from None

    def record_failover(self, *, owner: str, now: float, outcome: str) -> None:
        try:
            self._call(
                "update_item",
                Key=self._key("lock"),
                UpdateExpression=(
                    "SET last_failover_at = :now, last_failover_by = :owner, last_outcome = :outcome"
                    " REMOVE lease_owner, lease_expires_at"
                ),
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={
                    ":now": {"N": str(_ms(now))},
                    ":owner": {"S": owner},
                    ":outcome": {"S": outcome},
                },
            )
        except ClientError as exc:
            item = self._call("get_item", Key=self._key("lock"), ConsistentRead=True).get("Item") or {}
            if item.get("last_failover_by", {}).get("S") == owner and _num(item, "last_failover_at") == (
                _ms(now) / 1000
            ):
                return  # our own write, retried after a lost answer
            raise StoreUnavailable(f"{self.region}: lease no longer ours ({exc})") from None

    def release(self, *, owner: str, outcome: str) -> None:
        try:
            self._call(
                "update_item",
                Key=self._key("lock"),
                UpdateExpression="SET last_outcome = :outcome REMOVE lease_owner, lease_expires_at",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}, ":outcome": {"S": outcome}},
            )
        except ClientError:
            return  # not ours any more: nothing to give back

    def note_failover(self, *, at: float, by: str) -> bool:
        try:
            self._call(
                "update_item",
                Key=self._key("lock"),
                UpdateExpression="SET last_failover_at = :at, last_failover_by = :by",
                ConditionExpression="attribute_not_exists(last_failover_at) OR last_failover_at < :at",
                ExpressionAttributeValues={":at": {"N": str(_ms(at))}, ":by": {"S": by}},
            )
        except ClientError:
            return False
        return True

    def read_arm(self) -> ArmRecord | None:
        item = self._call("get_item", Key=self._key("arm"), ConsistentRead=True).get("Item")
        if not item:
            return None
        return ArmRecord(
            armed=bool(item.get("armed", {}).get("BOOL", False)),
            generation=int(item.get("generation", {}).get("N", "0")),
            changed_at=(_num(item, "changed_at") or 0.0),
            changed_by=item.get("changed_by", {}).get("S", ""),
            reason=item.get("reason", {}).get("S", ""),
        )

    def write_arm(self, record: ArmRecord) -> bool:
        try:
            self._call(
                "put_item",
                Item={
                    **self._key("arm"),
                    "armed": {"BOOL": record.armed},
                    "generation": {"N": str(record.generation)},
                    "changed_at": {"N": str(_ms(record.changed_at))},
                    "changed_by": {"S": record.changed_by},
                    "reason": {"S": record.reason},
                },
                ConditionExpression="attribute_not_exists(generation) OR generation < :g",
                ExpressionAttributeValues={":g": {"N": str(record.generation)}},
            )
        except ClientError:
            return False
        return True
