"""The flight lock and arm state across regions, on DynamoDB (moto), as the CLI uses them."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.failover.decision import Reason
from lambda_src.failover.lock import (
    ArmNotPossible,
    acquire_flight,
    arm_status,
    lock_regions,
    read_arm,
    read_locks,
    set_arm,
)
from lambda_src.failover.store import ArmRecord, DynamoRegionStore, LockNotAcquired, StoreUnavailable
from tests.support.failover import FIRST, GLOBAL_ID, HOME, REGIONS, SECOND, TABLE, create_failover_table

NOW = 1_700_000_000.0
COOLDOWN = 3600.0


class Unreachable:
    """A store of a region that does not answer."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __getattr__(self, name: str):
        def fail(*_, **__):
            raise StoreUnavailable(f"{self.region} unreachable")

        return fail


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, DynamoRegionStore]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        found = {}
        for region in REGIONS:
            client = boto3.client("dynamodb", region_name=region)
            create_failover_table(client)
            found[region] = DynamoRegionStore(
                client=client, table=TABLE, global_cluster_id=GLOBAL_ID, region=region
            )
        yield found


def test_a_flight_takes_every_region_but_the_writers_in_order(stores):
    flight = acquire_flight(
        stores, lock_regions(REGIONS, HOME), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN
    )

    assert flight.regions == (FIRST, SECOND)
    assert stores[HOME].read_lock().lease_owner is None
    assert [stores[r].read_lock().lease_owner for r in (FIRST, SECOND)] == ["decider-1", "decider-1"]


def test_a_second_contender_is_refused_and_keeps_nothing(stores):
    acquire_flight(stores, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN)

    with pytest.raises(LockNotAcquired) as raised:
        acquire_flight(stores, (FIRST, SECOND), owner="operator", now=NOW + 1, cooldown_seconds=COOLDOWN)

    assert (raised.value.reason, raised.value.region) == (Reason.LOCK_HELD, FIRST)
    assert stores[SECOND].read_lock().lease_owner == "decider-1"


def test_a_contender_that_fails_halfway_gives_back_what_it_took(stores):
    stores[SECOND].try_acquire(owner="other", now=NOW, lease_seconds=900, cooldown_seconds=COOLDOWN)

    with pytest.raises(LockNotAcquired):
        acquire_flight(stores, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN)

    assert stores[FIRST].read_lock().lease_owner is None


def test_recorded_promotion_starts_the_cooldown_for_operator_and_automation_alike(stores):
    flight = acquire_flight(stores, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN)
    assert flight.record(now=NOW, outcome="failover_started") == {}

    with pytest.raises(LockNotAcquired) as raised:
        acquire_flight(stores, (FIRST, SECOND), owner="operator", now=NOW + 60, cooldown_seconds=COOLDOWN)
    assert raised.value.reason is Reason.COOLDOWN

    later = acquire_flight(
        stores, (FIRST, SECOND), owner="operator", now=NOW + COOLDOWN + 1, cooldown_seconds=COOLDOWN
    )
    assert later.regions == (FIRST, SECOND)


def test_break_glass_skips_unreachable_regions(stores):
    partial = {**stores, SECOND: Unreachable(SECOND)}

    flight = acquire_flight(
        partial, (FIRST, SECOND), owner="operator", now=NOW, cooldown_seconds=COOLDOWN, break_glass=True
    )

    assert flight.regions == (FIRST,)
    assert SECOND in flight.skipped


def test_break_glass_is_still_bound_by_the_cooldown(stores):
    acquire_flight(stores, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN).record(
        now=NOW, outcome="failover_started"
    )

    with pytest.raises(LockNotAcquired) as raised:
        acquire_flight(
            stores,
            (FIRST, SECOND),
            owner="operator",
            now=NOW + 60,
            cooldown_seconds=COOLDOWN,
            break_glass=True,
        )

    assert raised.value.reason is Reason.COOLDOWN


def test_automation_cannot_take_the_lock_when_a_surviving_region_is_unreachable(stores):
    partial = {**stores, SECOND: Unreachable(SECOND)}

    with pytest.raises(LockNotAcquired) as raised:
        acquire_flight(partial, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN)

    assert (raised.value.reason, raised.value.region) == (Reason.LOCK_UNAVAILABLE, SECOND)
    assert stores[FIRST].read_lock().lease_owner is None


def test_a_rejected_failover_releases_without_a_cooldown(stores):
    flight = acquire_flight(stores, (FIRST, SECOND), owner="decider-1", now=NOW, cooldown_seconds=COOLDOWN)
    flight.release(outcome="failover_rejected")

    lock, errors = read_locks(stores, (FIRST, SECOND))

    assert (lock.lease_owner, lock.last_failover_at, errors) == (None, None, {})


def test_a_retried_acquire_or_record_after_a_lost_answer_is_still_ours(stores):
    # The clients retry (max_attempts 2): a write that succeeded but whose answer was lost is
    # sent again and fails its condition against our own item; it must not read as a refusal.
    store = stores[FIRST]
    store.try_acquire(owner="decider-1", now=NOW, lease_seconds=900, cooldown_seconds=COOLDOWN)
    store.try_acquire(owner="decider-1", now=NOW, lease_seconds=900, cooldown_seconds=COOLDOWN)
    store.record_failover(owner="decider-1", now=NOW + 5, outcome="promoted")
    store.record_failover(owner="decider-1", now=NOW + 5, outcome="promoted")

    assert store.read_lock().last_failover_at == NOW + 5
    with pytest.raises(LockNotAcquired):  # another contender (or a later attempt) is refused
        store.try_acquire(owner="decider-1", now=NOW + 6, lease_seconds=900, cooldown_seconds=COOLDOWN)


def test_an_expired_lease_can_be_taken_over(stores):
    acquire_flight(
        stores, (FIRST, SECOND), owner="crashed", now=NOW, cooldown_seconds=COOLDOWN, lease_seconds=900
    )

    flight = acquire_flight(
        stores, (FIRST, SECOND), owner="decider-2", now=NOW + 901, cooldown_seconds=COOLDOWN
    )

    assert flight.owner == "decider-2"


def test_arm_state_defaults_to_the_deploy_setting_until_someone_sets_it(stores):
    view, record, errors = read_arm(stores, REGIONS, default_armed=True)

    assert (view.armed, view.generation, record, errors) == (True, 0, None, {})


def test_disarm_reaches_every_reachable_region_and_wins_over_older_arms(stores):
    set_arm(stores, REGIONS, armed=True, by="alice", now=NOW, reason="drill done")
    partial = {**stores, HOME: Unreachable(HOME)}

    change = set_arm(
        partial, REGIONS, armed=False, by="decider-1", now=NOW + 10, reason="automated promotion"
    )

    assert change.written == (FIRST, SECOND)
    assert set(change.failed) == {HOME}
    view, _, _ = read_arm(stores, REGIONS, default_armed=True)
    assert (view.armed, view.generation) == (False, 2)


def test_arm_must_reach_every_region(stores):
    partial = {**stores, SECOND: Unreachable(SECOND)}

    with pytest.raises(ArmNotPossible, match=SECOND):
        set_arm(partial, REGIONS, armed=True, by="alice", now=NOW, reason="re-arm")

    assert read_arm(stores, REGIONS, default_armed=False)[0].armed is False


def test_a_tie_between_arm_and_disarm_is_disarmed(stores):
    stores[FIRST].write_arm(ArmRecord(armed=True, generation=3, changed_at=NOW, changed_by="a"))
    stores[SECOND].write_arm(ArmRecord(armed=False, generation=3, changed_at=NOW, changed_by="b"))

    assert read_arm(stores, REGIONS, default_armed=True)[0].armed is False


def test_status_shows_the_effective_state_each_region_and_the_last_promotion(stores):
    set_arm(stores, REGIONS, armed=False, by="bob", now=NOW, reason="maintenance")
    acquire_flight(stores, (FIRST, SECOND), owner="operator", now=NOW, cooldown_seconds=COOLDOWN).record(
        now=NOW, outcome="operator_failover"
    )

    status = arm_status({**stores, HOME: Unreachable(HOME)}, REGIONS, default_armed=True)

    assert status["armed"] is False
    assert "bob" in status["detail"]
    assert status["regions"][HOME] == {"error": f"{HOME} unreachable"}
    assert status["regions"][FIRST]["changed_by"] == "bob"
    assert status["last_failover_at"] == NOW


def test_attempts_round_trip_through_the_table_in_time_order(stores):
    written = [
        Attempt(
            region=FIRST,
            at=NOW + i,
            verdict=Verdict.DEAD,
            reason="timeout",
            writer_region=HOME,
            local_ok=True,
            replica_newest=NOW - 5,
        )
        for i in (0, 10, 20)
    ]
    for attempt in reversed(written):
        stores[FIRST].put_attempt(attempt)

    assert stores[FIRST].recent_attempts(FIRST, since=NOW + 5) == tuple(written[1:])
    assert stores[SECOND].recent_attempts(FIRST, since=NOW) == ()


def test_a_copied_promotion_never_moves_the_cooldown_backwards(stores):
    assert stores[HOME].note_failover(at=NOW, by="copied") is True
    assert stores[HOME].note_failover(at=NOW - 100, by="copied") is False

    assert stores[HOME].read_lock().last_failover_at == NOW
