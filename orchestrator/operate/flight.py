"""The operator's side of the flight lock and of the automation's arm state.

The protocol is the deciders' own (``lambda_src.failover.lock``), run here with a
``DynamoRegionStore`` per region on the operator's session: one lock, one cooldown and one
arm state, whoever acts (issue 13, "One flight, then a human").

* ``infra failover --to R`` takes the flight lock in every region but the writer's before it
  sends the request, records the promotion there afterwards (the cooldown starts for the
  automation too) and gives the lock back when RDS refused the request. ``--break-glass``
  takes the lock in the regions that answer only (a live lease or the cooldown still refuse:
  one promotion per incident, whoever makes it), and with no region answering proceeds
  without a lock, saying so.
* ``infra failover arm|disarm|status`` write and read the arm record.

Every table is found by name (``naming.failover_tables``): nothing here reads a stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambda_src.failover.decision import Reason
from lambda_src.failover.lock import (
    ArmChange,
    ArmNotPossible,
    Flight,
    acquire_flight,
    arm_status,
    lock_regions,
    read_locks,
    set_arm,
)
from lambda_src.failover.store import DynamoRegionStore, LockNotAcquired, StoreUnavailable, dynamo_stores
from model import naming
from model.environment import Environment
from model.failover_timing import ARMED_BY_DEFAULT, failover_timing
from orchestrator.operate.aws import AwsSession

MISSING_TABLE = "ResourceNotFoundException"


class FlightRefusedError(Exception):
    """The lock or the cooldown refuses the operation: nothing was sent."""


class ArmChangeError(Exception):
    """The arm state could not be written where it must be."""


def stores(
    env: Environment, aws: AwsSession, regions: Sequence[str] | None = None
) -> dict[str, DynamoRegionStore]:
    """A store per region (of ``regions``, default every region of the environment), on the
    session's read clients. No client is made for a region not asked for (the writer's)."""
    tables = naming.failover_tables(env)
    wanted = env.regions if regions is None else tuple(regions)
    return dynamo_stores(
        lambda region: aws.client("dynamodb", region),
        {region: tables[region] for region in wanted},
        naming.global_cluster_id(env.name),
    )


def _explain(env: Environment, region: str, error: str) -> str:
    table = naming.failover_table_name(env.name, region)
    if MISSING_TABLE in error:
        return (
            f"{region}: the failover table {table} does not exist; deploy the failover stack "
            f"(`infra up --env {env.name}`)"
        )
    return f"{region}: {error}"


def _errors(env: Environment, errors: Mapping[str, str]) -> dict[str, str]:
    return {region: _explain(env, region, text) for region, text in sorted(errors.items())}


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the lock as a precondition and around the operation --------------------------------------


@dataclass(frozen=True)
class LockState:
    """What the plan shows of the lock in the regions a flight would take."""

    regions: tuple[str, ...]
    lease_owner: str | None
    lease_expires_at: float | None
    last_failover_at: float | None
    cooldown_seconds: float
    errors: dict[str, str]
    now: float

    @property
    def lease_live(self) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at > self.now

    @property
    def cooling_until(self) -> float | None:
        if self.last_failover_at is None:
            return None
        until = self.last_failover_at + self.cooldown_seconds
        return until if until > self.now else None

    def problem(self, env: Environment) -> str | None:
        """Why a flight would be refused now, or None."""
        if self.lease_live:
            return (
                f"another flight holds the failover lock ({self.lease_owner}, until "
                f"{_when(self.lease_expires_at)}): an automated or operator failover is in progress; "
                f"wait for it (`infra failover status --env {env.name}`)"
            )
        if self.cooling_until is not None:
            return (
                f"a promotion happened at {_when(self.last_failover_at)}; the cooldown "
                f"(failover.cooldown_minutes: {self.cooldown_seconds / 60:g}) lasts until "
                f"{_when(self.cooling_until)}, for operators too (one promotion per incident)"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": list(self.regions),
            "lease_owner": self.lease_owner,
            "lease_expires_at": _when(self.lease_expires_at) if self.lease_live else None,
            "last_failover_at": _when(self.last_failover_at),
            "cooldown_until": _when(self.cooling_until),
            "errors": dict(self.errors),
        }


def read_lock_state(env: Environment, aws: AwsSession, writer_region: str | None, *, now: float) -> LockState:
    regions = lock_regions(env.region_order, writer_region)
    view, errors = read_locks(stores(env, aws, regions), regions)
    return LockState(
        regions=regions,
        lease_owner=view.lease_owner if view else None,
        lease_expires_at=view.lease_expires_at if view else None,
        last_failover_at=view.last_failover_at if view else None,
        cooldown_seconds=float(failover_timing(env).cooldown_seconds),
        errors=_errors(env, errors),
        now=now,
    )


@dataclass
class OperatorFlight:
    """The lock an operator's failover holds (None: break-glass with no region answering)."""

    flight: Flight | None
    warnings: list[str] = field(default_factory=list)

    def finish(self, *, sent: bool, outcome: str, now: float) -> list[str]:
        """After the operation: start the cooldown when the request was (or may have been) sent,
        give the lock back when it certainly was not. Returns what could not be recorded."""
        if self.flight is None:
            return []
        if not sent:
            self.flight.release(outcome=f"operator-{outcome}")
            return []
        failed = self.flight.record(now=now, outcome=f"operator-{outcome}")
        return [
            f"{region}: the promotion could not be recorded ({error}); its lease there blocks "
            "other flights until it expires"
            for region, error in sorted(failed.items())
        ]


def take_flight(
    env: Environment,
    aws: AwsSession,
    writer_region: str | None,
    *,
    by: str,
    now: float,
    break_glass: bool,
) -> OperatorFlight:
    """Take the flight lock for an operator's failover, or raise FlightRefusedError."""
    regions = lock_regions(env.region_order, writer_region)
    owner = f"operator:{by}:{uuid.uuid4().hex[:12]}"
    cooldown = float(failover_timing(env).cooldown_seconds)
    try:
        flight = acquire_flight(
            stores(env, aws, regions),
            regions,
            owner=owner,
            now=now,
            cooldown_seconds=cooldown,
            break_glass=break_glass,
        )
    except LockNotAcquired as exc:
        if exc.reason is Reason.LOCK_UNAVAILABLE and break_glass:
            return OperatorFlight(
                None,
                [f"break-glass: no region's failover table answered ({exc}); proceeding WITHOUT the lock"],
            )
        if exc.reason is Reason.LOCK_UNAVAILABLE:
            detail = _explain(env, exc.region, str(exc))
            raise FlightRefusedError(
                f"the failover lock cannot be taken in {detail}. Nothing was sent. Fix: deploy or repair "
                "the failover stack, or pass --break-glass to take the lock only where it answers"
            ) from exc
        state = read_lock_state(env, aws, writer_region, now=now)
        reason = state.problem(env) or str(exc)
        raise FlightRefusedError(f"{reason}. Nothing was sent.") from exc
    warnings = [
        f"break-glass: the lock was not taken in {_explain(env, region, error)}"
        for region, error in sorted(flight.skipped.items())
    ]
    return OperatorFlight(flight, warnings)


# --- arm state ----------------------------------------------------------------------------------


def automation_status(
    env: Environment, aws: AwsSession, *, unreachable: Collection[str] = ()
) -> dict[str, Any]:
    """What `infra failover status` and `infra status` show of the automation. Regions in
    ``unreachable`` (``infra status`` found their APIs dead) are not waited for again."""
    asked = [r for r in env.regions if r not in unreachable]
    document = arm_status(stores(env, aws, asked), env.regions, default_armed=ARMED_BY_DEFAULT)
    for region in env.regions:
        if region in unreachable:
            why = "unreachable: its APIs did not answer the status's other reads (not asked again)"
            document["regions"][region] = {"error": why}
            document["lock_errors"][region] = why
    document["deployed"] = env.failover.automated
    document["dry_run"] = env.failover.dry_run
    document["errors"] = _errors(
        env, {r: v["error"] for r, v in document["regions"].items() if isinstance(v, dict) and "error" in v}
    )
    document["lock_errors"] = _errors(env, document["lock_errors"])
    for key in ("last_failover_at", "lease_expires_at"):
        document[key] = _when(document[key])
    return document


def render_automation(document: Mapping[str, Any]) -> list[str]:
    if not document["deployed"]:
        head = "not deployed (failover.automated: false); the flight lock still binds `infra failover`"
    elif document["armed"] is None:
        head = "state unknown: no region's failover table answered"
    else:
        mode = "dry run: logs and notifies only" if document["dry_run"] else "acts"
        head = f"{'ARMED' if document['armed'] else 'DISARMED'} ({mode}); {document['detail']}"
    lines = [f"Automated failover: {head}"]
    if document["last_failover_at"]:
        lines.append(f"  last promotion: {document['last_failover_at']}")
    if document["lease_owner"]:
        lines.append(f"  flight in progress: {document['lease_owner']} until {document['lease_expires_at']}")
    lines.extend(f"  unreadable: {text}" for text in document["errors"].values())
    return lines


def change_arm(
    env: Environment, aws: AwsSession, *, armed: bool, by: str, reason: str, now: float
) -> ArmChange:
    """Arm (every region must take it) or disarm (every region that answers)."""
    try:
        return set_arm(
            stores(env, aws),
            env.regions,
            armed=armed,
            by=by,
            now=now,
            reason=reason,
            default_armed=ARMED_BY_DEFAULT,
        )
    except ArmNotPossible as exc:
        raise ArmChangeError(f"{exc}{_missing_hint(env, str(exc))}") from exc
    except StoreUnavailable as exc:
        raise ArmChangeError(
            f"the arm state could not be written in any region ({exc}){_missing_hint(env, str(exc))}"
        ) from exc


def _missing_hint(env: Environment, text: str) -> str:
    if MISSING_TABLE in text:
        return f" A failover table does not exist: deploy the failover stack (`infra up --env {env.name}`)."
    return ""
