"""The failover rule table, exhaustively and without mocks: every refusal, the one path
that acts, and dry run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lambda_src.failover.decision import (
    Action,
    Decision,
    Facts,
    GlobalClusterView,
    LockState,
    Policy,
    Reason,
    Sample,
    decide,
)

NOW = datetime(2025, 1, 15, 10, 10, 30, tzinfo=UTC)
POLICY = Policy(unhealthy_minutes=5, rpo_budget_seconds=5, cooldown_minutes=60, dry_run=False)


def minute(hh_mm: str) -> datetime:
    hours, minutes = (int(x) for x in hh_mm.split(":"))
    return datetime(2025, 1, 15, hours, minutes, tzinfo=UTC)


def samples(**values: float) -> tuple[Sample, ...]:
    """samples(t1005=0, t1006=1) -> datapoints for the minutes 10:05 and 10:06."""
    return tuple(Sample(timestamp=minute(f"{k[1:3]}:{k[3:5]}"), value=v) for k, v in values.items())


def good_facts() -> Facts:
    """A primary down for the whole window, a healthy secondary within budget, nothing in progress."""
    return Facts(
        primary_writer_health=samples(t1005=0, t1006=0, t1007=0, t1008=0, t1009=0),
        secondary_reachable=Sample(timestamp=minute("10:09"), value=1.0),
        lag_ms=800.0,
        lag_metric="AuroraGlobalDBRPOLag",
        global_cluster=GlobalClusterView(
            status="available",
            secondary_is_member=True,
            secondary_is_writer=False,
            writer_arn="arn:aws:rds:us-east-1:123456789012:cluster:prod-us-east-1",
        ),
        lock=LockState(),
    )


def with_cluster(**changes: object) -> Callable[[Facts], Facts]:
    def change(facts: Facts) -> Facts:
        assert facts.global_cluster is not None
        return replace(facts, global_cluster=replace(facts.global_cluster, **changes))  # type: ignore[arg-type]

    return change


def with_(**changes: object) -> Callable[[Facts], Facts]:
    return lambda facts: replace(facts, **changes)  # type: ignore[arg-type]


REFUSALS: list[tuple[str, Callable[[Facts], Facts], Reason]] = [
    (
        "a fact could not be read",
        with_(unavailable={"replication_lag": "ClientError: throttled"}),
        Reason.FACTS_UNAVAILABLE,
    ),
    ("the global cluster was never observed", with_(global_cluster=None), Reason.FACTS_UNAVAILABLE),
    ("the lock table was never observed", with_(lock=None), Reason.FACTS_UNAVAILABLE),
    (
        "this cluster left the global cluster",
        with_cluster(secondary_is_member=False),
        Reason.SECONDARY_NOT_MEMBER,
    ),
    ("this cluster is already the writer", with_cluster(secondary_is_writer=True), Reason.ALREADY_WRITER),
    ("the global cluster is modifying", with_cluster(status="modifying"), Reason.GLOBAL_CLUSTER_BUSY),
    ("a failover is pending", with_cluster(failover_status="pending"), Reason.GLOBAL_CLUSTER_BUSY),
    ("a failover is running", with_cluster(failover_status="failing-over"), Reason.GLOBAL_CLUSTER_BUSY),
    ("a switchover is running", with_cluster(failover_status="switching-over"), Reason.GLOBAL_CLUSTER_BUSY),
    ("a failover is being cancelled", with_cluster(failover_status="cancelling"), Reason.GLOBAL_CLUSTER_BUSY),
    (
        "the primary's latest minute is healthy",
        with_(primary_writer_health=samples(t1005=0, t1006=0, t1007=0, t1008=0, t1009=1)),
        Reason.PRIMARY_HEALTHY,
    ),
    (
        "the primary recovered briefly within the window",
        with_(primary_writer_health=samples(t1005=0, t1006=0, t1007=1, t1008=0, t1009=0)),
        Reason.PRIMARY_NOT_UNHEALTHY_LONG_ENOUGH,
    ),
    (
        "the primary went silent after a healthy minute that ended 3.5 minutes ago",
        with_(primary_writer_health=samples(t1006=1)),
        Reason.PRIMARY_NOT_UNHEALTHY_LONG_ENOUGH,
    ),
    (
        "a healthy minute straddles the start of the window",
        with_(primary_writer_health=samples(t1005=1, t1006=0, t1007=0, t1008=0, t1009=0)),
        Reason.PRIMARY_NOT_UNHEALTHY_LONG_ENOUGH,
    ),
    ("no Reachable datapoint for this region", with_(secondary_reachable=None), Reason.SECONDARY_UNREACHABLE),
    (
        "this region's cluster is unreachable",
        with_(secondary_reachable=Sample(timestamp=minute("10:09"), value=0.0)),
        Reason.SECONDARY_UNREACHABLE,
    ),
    (
        "this region's last Reachable datapoint is stale",
        with_(secondary_reachable=Sample(timestamp=minute("10:06"), value=1.0)),
        Reason.SECONDARY_UNREACHABLE,
    ),
    ("no lag datapoints at all", with_(lag_ms=None, lag_metric=None), Reason.LAG_UNKNOWN),
    ("lag above the RPO budget", with_(lag_ms=5000.1), Reason.LAG_OVER_BUDGET),
    (
        "a failover happened within the cooldown",
        with_(lock=LockState(last_failover_at=NOW - timedelta(minutes=59))),
        Reason.COOLDOWN,
    ),
    (
        "another invocation holds the lease",
        with_(lock=LockState(lease_owner="other", lease_expires_at=NOW + timedelta(minutes=10))),
        Reason.LOCK_HELD,
    ),
]


@pytest.mark.parametrize(("case", "change", "reason"), REFUSALS, ids=[c[0] for c in REFUSALS])
@pytest.mark.parametrize("dry_run", [False, True], ids=["armed", "dry-run"])
def test_each_failed_guard_refuses_with_its_own_reason(
    case: str, change: Callable[[Facts], Facts], reason: Reason, dry_run: bool
) -> None:
    # GIVEN facts where exactly one guard fails
    facts = change(good_facts())
    # WHEN deciding, armed or in dry run
    decision = decide(facts, replace(POLICY, dry_run=dry_run), NOW)
    # THEN the refusal names that guard, and the facts observed travel with it
    assert (decision.action, decision.reason) == (Action.REFUSE, reason), case
    assert decision.details["observed"] == facts.as_dict()


def test_every_refusal_reason_of_the_table_is_covered_above() -> None:
    # Reasons decided elsewhere: the lock write (lock_unavailable) and the failover call's outcomes.
    decided_elsewhere = {
        Reason.LOCK_UNAVAILABLE,
        Reason.CONDITIONS_MET,
        Reason.FAILOVER_STARTED,
        Reason.FAILOVER_REJECTED,
        Reason.FAILOVER_OUTCOME_UNKNOWN,
    }
    assert {reason for _, _, reason in REFUSALS} == set(Reason) - decided_elsewhere
    assert len({str(r) for r in Reason}) == len(Reason)


def test_all_guards_passing_fails_over() -> None:
    decision = decide(good_facts(), POLICY, NOW)
    assert decision == Decision(
        action=Action.FAILOVER, reason=Reason.CONDITIONS_MET, details={"observed": good_facts().as_dict()}
    )


def test_all_guards_passing_in_dry_run_only_reports() -> None:
    decision = decide(good_facts(), replace(POLICY, dry_run=True), NOW)
    assert (decision.action, decision.reason) == (Action.DRY_RUN, Reason.CONDITIONS_MET)


@pytest.mark.parametrize(
    ("case", "change"),
    [
        # A dead region publishes nothing: silence for the whole window is unhealthy.
        ("the primary published nothing in the window", with_(primary_writer_health=())),
        ("zeros with missing minutes", with_(primary_writer_health=samples(t1006=0, t1009=0))),
        (
            "a healthy minute that ended before the window",
            with_(primary_writer_health=samples(t1004=1, t1007=0)),
        ),
        ("lag exactly at the budget", with_(lag_ms=5000.0)),
        ("replication lag when RPO lag is absent", with_(lag_metric="AuroraGlobalDBReplicationLag")),
        ("a finished failover in FailoverState", with_cluster(failover_status="completed")),
        ("a cancelled failover in FailoverState", with_cluster(failover_status="cancelled")),
        ("the cooldown is over", with_(lock=LockState(last_failover_at=NOW - timedelta(minutes=60)))),
        (
            "an expired lease left by a crashed invocation",
            with_(lock=LockState(lease_owner="crashed", lease_expires_at=NOW - timedelta(seconds=1))),
        ),
    ],
)
def test_boundary_facts_that_still_allow_failover(case: str, change: Callable[[Facts], Facts]) -> None:
    decision = decide(change(good_facts()), POLICY, NOW)
    assert (decision.action, decision.reason) == (Action.FAILOVER, Reason.CONDITIONS_MET), case


def test_not_long_enough_says_how_long_the_primary_has_been_unhealthy() -> None:
    facts = with_(primary_writer_health=samples(t1005=0, t1006=0, t1007=1, t1008=0, t1009=0))(good_facts())
    decision = decide(facts, POLICY, NOW)
    # Healthy until 10:08:00, now 10:10:30.
    assert decision.details["unhealthy_for_seconds"] == 150
    assert decision.details["required_seconds"] == 300


def test_lag_refusal_reports_the_budget_in_milliseconds() -> None:
    facts = with_(lag_ms=7200.0)(good_facts())
    decision = decide(facts, POLICY, NOW)
    assert decision.details["rpo_budget_ms"] == 5000
    assert decision.details["observed"]["lag_ms"] == 7200.0


def test_cooldown_refusal_says_when_it_ends() -> None:
    last = NOW - timedelta(minutes=10)
    decision = decide(with_(lock=LockState(last_failover_at=last))(good_facts()), POLICY, NOW)
    assert decision.details["cooldown_until"] == (last + timedelta(minutes=60)).isoformat()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # Unknown facts outrank everything, even a cluster that is already the writer.
        (
            [with_(unavailable={"lock": "timeout"}), with_cluster(secondary_is_writer=True)],
            Reason.FACTS_UNAVAILABLE,
        ),
        # Nothing to do outranks a healthy primary (PRIMARY_REGION is stale after a failover).
        (
            [with_cluster(secondary_is_writer=True), with_(primary_writer_health=samples(t1009=1))],
            Reason.ALREADY_WRITER,
        ),
        # An operation in progress outranks the primary's health.
        (
            [with_cluster(failover_status="pending"), with_(primary_writer_health=samples(t1009=1))],
            Reason.GLOBAL_CLUSTER_BUSY,
        ),
        # The primary's health outranks this region's problems.
        (
            [with_(primary_writer_health=samples(t1009=1)), with_(secondary_reachable=None)],
            Reason.PRIMARY_HEALTHY,
        ),
        ([with_(secondary_reachable=None), with_(lag_ms=None)], Reason.SECONDARY_UNREACHABLE),
        ([with_(lag_ms=9000.0), with_(lock=LockState(last_failover_at=NOW))], Reason.LAG_OVER_BUDGET),
        (
            [
                with_(
                    lock=LockState(
                        last_failover_at=NOW, lease_owner="x", lease_expires_at=NOW + timedelta(minutes=1)
                    )
                )
            ],
            Reason.COOLDOWN,
        ),
    ],
)
def test_when_several_guards_fail_the_most_fundamental_is_reported(
    changes: list[Callable[[Facts], Facts]], reason: Reason
) -> None:
    facts = good_facts()
    for change in changes:
        facts = change(facts)
    assert decide(facts, POLICY, NOW).reason == reason


def test_decide_is_pure() -> None:
    facts = good_facts()
    assert decide(facts, POLICY, NOW) == decide(facts, POLICY, NOW)
    assert facts == good_facts()
