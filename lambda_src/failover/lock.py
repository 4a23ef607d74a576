"""One flight at a time across regions, shared by the deciders and ``infra failover``.

**The lock.** A flight (one promotion, automated or by an operator) holds a lease item in
the table of *every region other than the current writer's*, taken one region at a time in
the environment's region_order (the deciders' REGIONS: the order the environment was created
with, which `infra rehome` keeps) by a conditional write that also checks the cooldown. A contender that fails anywhere gives back what it took and
refuses. Two contenders that agree on the writer need the same set of items, so at most one
holds them all: the lock survives the loss of any one region (the writer's, which it never
needs) and never waits on the failed region. The promotion is recorded (the cooldown starts)
in every region of the set.

What it cannot guarantee, said plainly:

* if a surviving region is unreachable, automation cannot take the lock and does not act
  (the quorum needs that region's probe anyway); an operator passes ``break_glass=True``,
  which takes the reachable regions only. The cooldown and a live lease bind break-glass
  too (issue 13: "the cooldown applies to both"): one promotion per incident, whoever
  makes it;
* contenders that disagree about which region is the writer (one read the global cluster
  before a promotion finished, one after) need different sets; the decider refuses while
  a failover is in progress (GLOBAL_CLUSTER_BUSY) and the cooldown is recorded in the
  target, which is in every later set, so this leaves a window of one read;
* a partition *between surviving regions* makes the lock unavailable, never doubly held.

**Arm state.** An item per region with a generation number. Disarm (by the automation
after its one promotion, or ``infra failover disarm``) writes generation+1 to every
reachable region; arm must reach *every* region of the environment (a region that missed
an arm could hold an older disarm forever otherwise). Effective state: the highest
generation readable wins, a tie is disarmed, so "disarmed anywhere reachable" is disarmed.
No record anywhere means the deploy's default. Deciders copy the newest record to regions
that lack it (after their decision, never before it).

The operator CLI imports ``acquire_flight``, ``read_arm``, ``set_arm`` and ``arm_status``
from here with ``DynamoRegionStore``s it builds per region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_src.failover.decision import ArmView, LockView, Reason
from lambda_src.failover.store import ArmRecord, LockNotAcquired, RegionStore, StoreUnavailable

# Longer than any Lambda invocation (900 s service maximum) and than the Aurora failover
# budget, so a lease expires only once its holder is certainly gone.
LEASE_SECONDS = 900.0


def lock_regions(order: Sequence[str], writer_region: str | None) -> tuple[str, ...]:
    """The regions whose lock items a flight takes: every region but the current writer's."""
    return tuple(r for r in order if r != writer_region)


@dataclass
class Flight:
    owner: str
    regions: tuple[str, ...]
    stores: Mapping[str, RegionStore]
    break_glass: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    """Regions a break-glass flight could not reach."""

    def record(self, *, now: float, outcome: str) -> dict[str, str]:
        """Start the cooldown in every region held; returns the regions that failed."""
        failed: dict[str, str] = {}
        for region in self.regions:
            try:
                self.stores[region].record_failover(owner=self.owner, now=now, outcome=outcome)
            except StoreUnavailable as exc:
                failed[region] = str(exc)  # the lease there still blocks until it expires
        return failed

    def release(self, *, outcome: str) -> None:
        for region in self.regions:
            try:
                self.stores[region].release(owner=self.owner, outcome=outcome)
            except StoreUnavailable:
                continue  # the lease expires on its own


def acquire_flight(
    stores: Mapping[str, RegionStore],
    regions: Sequence[str],
    *,
    owner: str,
    now: float,
    cooldown_seconds: float,
    lease_seconds: float = LEASE_SECONDS,
    break_glass: bool = False,
) -> Flight:
    """Take the lease in each of ``regions`` (in that order) or raise LockNotAcquired."""
    taken: list[str] = []
    skipped: dict[str, str] = {}
    for region in regions:
        try:
            store = stores[region]
            store.try_acquire(
                owner=owner, now=now, lease_seconds=lease_seconds, cooldown_seconds=cooldown_seconds
            )
        except (LockNotAcquired, StoreUnavailable, KeyError) as exc:
            if break_glass and not isinstance(exc, LockNotAcquired):
                skipped[region] = str(exc)
                continue
            Flight(owner=owner, regions=tuple(taken), stores=stores).release(outcome="abandoned")
            if isinstance(exc, LockNotAcquired):
                raise
            raise LockNotAcquired(Reason.LOCK_UNAVAILABLE, region, detail=str(exc)) from exc
        taken.append(region)
    if not taken:
        raise LockNotAcquired(Reason.LOCK_UNAVAILABLE, ",".join(regions), detail="no region reachable")
    return Flight(owner=owner, regions=tuple(taken), stores=stores, break_glass=break_glass, skipped=skipped)


def read_locks(
    stores: Mapping[str, RegionStore], regions: Sequence[str]
) -> tuple[LockView | None, dict[str, str]]:
    """The merged lock view of ``regions`` (newest promotion, any live lease); None if none readable."""
    views: list[LockView] = []
    errors: dict[str, str] = {}
    for region in regions:
        try:
            views.append(stores[region].read_lock())
        except (StoreUnavailable, KeyError) as exc:
            errors[region] = str(exc)
    if not views:
        return None, errors
    leases = [v for v in views if v.lease_expires_at is not None]
    lease = max(leases, key=lambda v: v.lease_expires_at or 0.0) if leases else None
    failovers = [v.last_failover_at for v in views if v.last_failover_at is not None]
    return (
        LockView(
            lease_owner=lease.lease_owner if lease else None,
            lease_expires_at=lease.lease_expires_at if lease else None,
            last_failover_at=max(failovers) if failovers else None,
        ),
        errors,
    )


def _records(
    stores: Mapping[str, RegionStore], regions: Sequence[str]
) -> tuple[dict[str, ArmRecord | None], dict[str, str]]:
    records: dict[str, ArmRecord | None] = {}
    errors: dict[str, str] = {}
    for region in regions:
        try:
            records[region] = stores[region].read_arm()
        except (StoreUnavailable, KeyError) as exc:
            errors[region] = str(exc)
    return records, errors


def effective_arm(
    records: Mapping[str, ArmRecord | None], *, default_armed: bool
) -> tuple[ArmView, ArmRecord | None]:
    """Highest generation wins; a tie is disarmed; no record at all is the deploy default."""
    present = [r for r in records.values() if r is not None]
    if not records:
        return ArmView(armed=None, detail="no region's arm state readable"), None
    if not present:
        return ArmView(armed=default_armed, generation=0, detail="never set: deploy default"), None
    top = max(r.generation for r in present)
    at_top = [r for r in present if r.generation == top]
    chosen = next((r for r in at_top if not r.armed), at_top[0])
    return (
        ArmView(
            armed=chosen.armed,
            generation=top,
            detail=f"{'armed' if chosen.armed else 'disarmed'} by {chosen.changed_by}: {chosen.reason}",
        ),
        chosen,
    )


def read_arm(
    stores: Mapping[str, RegionStore], regions: Sequence[str], *, default_armed: bool
) -> tuple[ArmView, ArmRecord | None, dict[str, str]]:
    records, errors = _records(stores, regions)
    view, record = effective_arm(records, default_armed=default_armed)
    return view, record, errors


@dataclass(frozen=True)
class ArmChange:
    record: ArmRecord
    written: tuple[str, ...]
    failed: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {**self.record.as_dict(), "written": list(self.written), "failed": dict(self.failed)}


class ArmNotPossible(StoreUnavailable):
    """Arm must reach every region of the environment."""


def set_arm(
    stores: Mapping[str, RegionStore],
    regions: Sequence[str],
    *,
    armed: bool,
    by: str,
    now: float,
    reason: str,
    default_armed: bool = True,
) -> ArmChange:
    """Arm (every region must be reachable) or disarm (every reachable region)."""
    records, errors = _records(stores, regions)
    if armed and errors:
        raise ArmNotPossible(
            f"arm must be written to every region; unreachable: {', '.join(sorted(errors))}. "
            "Fix: retry when they answer (disarm works with any region reachable)."
        )
    top = max((r.generation for r in records.values() if r is not None), default=0)
    record = ArmRecord(armed=armed, generation=top + 1, changed_at=now, changed_by=by, reason=reason)
    written: list[str] = []
    failed = dict(errors)
    for region in records:
        try:
            if stores[region].write_arm(record):
                written.append(region)
            else:
                failed[region] = "a newer generation is there"
        except StoreUnavailable as exc:
            failed[region] = str(exc)
    if not written:
        raise StoreUnavailable(f"arm state written nowhere: {failed}")
    if armed and failed:
        raise ArmNotPossible(f"arm reached only {', '.join(written)}; failed: {failed}. Fix: run arm again.")
    return ArmChange(record=record, written=tuple(written), failed=failed)


def propagate_arm(
    stores: Mapping[str, RegionStore], record: ArmRecord | None, regions: Sequence[str]
) -> list[str]:
    """Copy the effective record to regions that hold an older one (best effort)."""
    if record is None:
        return []
    copied: list[str] = []
    for region in regions:
        try:
            if stores[region].write_arm(record):
                copied.append(region)
        except (StoreUnavailable, KeyError):
            continue
    return copied


def arm_status(
    stores: Mapping[str, RegionStore], regions: Sequence[str], *, default_armed: bool
) -> dict[str, Any]:
    """What ``infra failover status`` / ``infra status`` show: effective state and each region's record."""
    records, errors = _records(stores, regions)
    view, _ = effective_arm(records, default_armed=default_armed)
    lock, lock_errors = read_locks(stores, regions)
    per_region: dict[str, Any] = {}
    for region in regions:
        if region in errors:
            per_region[region] = {"error": errors[region]}
        else:
            record = records.get(region)
            per_region[region] = record.as_dict() if record is not None else None
    return {
        "armed": view.armed,
        "generation": view.generation,
        "detail": view.detail,
        "regions": per_region,
        "last_failover_at": lock.last_failover_at if lock else None,
        "lease_owner": lock.lease_owner if lock else None,
        "lease_expires_at": lock.lease_expires_at if lock else None,
        "lock_errors": lock_errors,
    }
