"""The decider's rule table, row by row, and the timing model (pure: no AWS, no clock)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lambda_src.common.probe_record import Attempt, Verdict
from lambda_src.failover.budget import (
    FULL_REGION_OUTAGE,
    GOAL_SECONDS,
    PROD,
    TUNED,
    TUNED_GOAL_SECONDS,
    WRITER_ONLY_OUTAGE,
    check_timing,
    rpo_bound,
    rto_budget,
)
from lambda_src.failover.decision import (
    Action,
    Judgement,
    LockView,
    Policy,
    Reason,
    VantageView,
    Veto,
    VetoState,
    decide,
    deterministic_order,
    judge_vantage,
)
from tests.support.failover import FIRST, HOME, ONSET, SECOND, global_view, outage_facts

READY = ONSET + PROD.window_seconds + 2 * PROD.probe_interval_seconds
"""A moment at which every vantage has been dead for the whole window."""
ARMED = Policy(timing=PROD, dry_run=False)


def with_vantage(facts, region, attempts):
    return replace(
        facts, vantages={**facts.vantages, region: VantageView(region=region, attempts=tuple(attempts))}
    )


def test_full_outage_promotes_the_first_secondary_with_the_estimated_loss():
    decision = decide(outage_facts(now=READY), ARMED, READY)

    assert (decision.action, decision.reason) == (Action.FAILOVER, Reason.CONDITIONS_MET)
    assert decision.details["target"] == FIRST
    assert 0 < decision.estimated_loss_seconds <= PROD.rpo_budget_seconds


def test_dry_run_reports_the_same_decision_without_acting():
    decision = decide(outage_facts(now=READY), Policy(timing=PROD, dry_run=True), READY)

    assert (decision.action, decision.reason) == (Action.DRY_RUN, Reason.CONDITIONS_MET)


def test_the_other_secondary_refuses_because_it_is_not_the_deterministic_target():
    decision = decide(outage_facts(now=READY, region=SECOND), ARMED, READY)

    assert decision.reason is Reason.NOT_TARGET
    assert decision.details["chosen_target"] == FIRST


def test_unreadable_global_cluster_refuses_with_facts_unavailable():
    facts = replace(outage_facts(now=READY), global_view=None, unavailable={"global_cluster": "timeout"})

    decision = decide(facts, ARMED, READY)

    assert decision.reason is Reason.FACTS_UNAVAILABLE
    assert decision.details["unavailable"] == {"global_cluster": "timeout"}


def test_the_writer_itself_refuses_as_already_writer():
    decision = decide(replace(outage_facts(now=READY), region=HOME), ARMED, READY)

    assert decision.reason is Reason.ALREADY_WRITER


def test_a_region_that_left_the_global_cluster_refuses():
    facts = replace(outage_facts(now=READY), global_view=global_view(members=(HOME, SECOND)))

    assert decide(facts, ARMED, READY).reason is Reason.NOT_MEMBER


@pytest.mark.parametrize(
    ("status", "failover_status"), [("failing-over", "failing-over"), ("available", "pending")]
)
def test_a_failover_in_progress_refuses_as_busy(status, failover_status):
    facts = replace(
        outage_facts(now=READY), global_view=global_view(status=status, failover_status=failover_status)
    )

    assert decide(facts, ARMED, READY).reason is Reason.GLOBAL_CLUSTER_BUSY


def test_an_unreadable_vantage_refuses_and_names_it():
    facts = outage_facts(now=READY)
    facts = replace(
        facts,
        vantages={**facts.vantages, SECOND: VantageView(region=SECOND, attempts=None, error="throttled")},
    )

    decision = decide(facts, ARMED, READY)

    assert decision.reason is Reason.VANTAGE_UNREADABLE
    assert decision.details["unreadable"] == {SECOND: "throttled"}


def test_one_successful_write_anywhere_in_the_window_refuses_as_writer_alive():
    facts = outage_facts(now=READY)
    history = list(facts.vantages[SECOND].attempts)
    history[-5] = replace(history[-5], verdict=Verdict.ALIVE, reason="committed")

    decision = decide(with_vantage(facts, SECOND, history), ARMED, READY)

    assert decision.reason is Reason.WRITER_ALIVE
    assert SECOND in decision.details["vantages"]


@pytest.mark.parametrize(
    "reason", ["secret_unavailable", "auth_failed", "tls_failed", "own_side_impaired:timeout"]
)
def test_an_inconclusive_attempt_breaks_the_window_and_never_counts_as_dead(reason):
    facts = outage_facts(now=READY)
    history = list(facts.vantages[FIRST].attempts)
    history[-3] = replace(history[-3], verdict=Verdict.INCONCLUSIVE, reason=reason)

    decision = decide(with_vantage(facts, FIRST, history), ARMED, READY)

    assert decision.reason is Reason.VANTAGE_INCONCLUSIVE
    assert reason in decision.details["vantages"][FIRST]


def test_an_attempt_aimed_at_another_writer_is_inconclusive():
    facts = outage_facts(now=READY)
    history = list(facts.vantages[FIRST].attempts)
    history[-2] = replace(history[-2], writer_region=SECOND)

    assert decide(with_vantage(facts, FIRST, history), ARMED, READY).reason is Reason.VANTAGE_INCONCLUSIVE


def test_a_gap_in_a_vantages_attempts_leaves_the_window_incomplete():
    facts = outage_facts(now=READY)
    history = [a for a in facts.vantages[FIRST].attempts if not READY - 200 < a.at < READY - 150]

    decision = decide(with_vantage(facts, FIRST, history), ARMED, READY)

    assert decision.reason is Reason.WINDOW_INCOMPLETE
    assert "gap" in decision.details["vantages"][FIRST]


def test_a_vantage_whose_newest_attempt_is_stale_leaves_the_window_incomplete():
    facts = outage_facts(now=READY)
    history = [a for a in facts.vantages[FIRST].attempts if a.at < READY - 30]

    assert decide(with_vantage(facts, FIRST, history), ARMED, READY).reason is Reason.WINDOW_INCOMPLETE


def test_a_window_not_yet_elapsed_since_the_last_write_refuses():
    just_before = ONSET + PROD.window_seconds - 2 * PROD.probe_interval_seconds

    assert decide(outage_facts(now=just_before), ARMED, just_before).reason is Reason.WRITER_ALIVE


def test_a_heartbeat_replicated_within_the_window_means_replication_has_not_stalled():
    facts = outage_facts(now=READY)
    history = list(facts.vantages[FIRST].attempts)
    history[-1] = replace(history[-1], replica_newest=READY - 30)

    decision = decide(with_vantage(facts, FIRST, history), ARMED, READY)

    assert decision.reason is Reason.REPLICATION_NOT_STALLED


def test_the_writer_regions_own_healthy_metric_vetoes_when_readable():
    veto = Veto(state=VetoState.ALIVE_SEEN, seen_alive_at=READY - 60, detail="WriterHealthy=1")

    decision = decide(outage_facts(now=READY, veto=veto), ARMED, READY)

    assert decision.reason is Reason.WRITER_REGION_VETO


@pytest.mark.parametrize(
    "veto",
    [
        Veto(state=VetoState.UNKNOWN, detail="timeout"),
        Veto(state=VetoState.NOT_SEEN),
        Veto(state=VetoState.ALIVE_SEEN, seen_alive_at=ONSET - 10),
    ],
    ids=["unreadable", "no_healthy_datapoint", "healthy_only_before_the_window"],
)
def test_a_veto_that_cannot_be_read_or_is_older_than_the_window_is_no_veto(veto):
    assert decide(outage_facts(now=READY, veto=veto), ARMED, READY).action is Action.FAILOVER


def test_loss_over_budget_at_the_first_secondary_picks_the_next_region_within_budget():
    facts = outage_facts(now=READY, lags={FIRST: 45.0})

    decision = decide(replace(facts, region=SECOND), ARMED, READY)

    assert decision.action is Action.FAILOVER
    assert decision.details["candidates"][FIRST]["ineligible"] == "loss_over_budget"


def test_loss_over_budget_everywhere_refuses_with_the_estimate():
    decision = decide(outage_facts(now=READY, lags={FIRST: 45.0, SECOND: 45.0}), ARMED, READY)

    assert decision.reason is Reason.LOSS_OVER_BUDGET
    assert decision.estimated_loss_seconds > PROD.rpo_budget_seconds


def test_loss_unknown_when_the_target_has_no_replicated_heartbeat():
    facts = outage_facts(now=READY)
    history = [replace(a, replica_newest=None) for a in facts.vantages[FIRST].attempts]
    other = [replace(a, replica_newest=None) for a in facts.vantages[SECOND].attempts]
    facts = with_vantage(with_vantage(facts, FIRST, history), SECOND, other)

    assert decide(facts, ARMED, READY).reason is Reason.LOSS_UNKNOWN


def test_a_target_whose_own_replica_read_failed_is_unhealthy():
    facts = outage_facts(now=READY)
    history = list(facts.vantages[FIRST].attempts)
    history[-1] = replace(history[-1], local_ok=False)

    decision = decide(with_vantage(facts, FIRST, history), ARMED, READY)

    assert decision.details["candidates"][FIRST]["ineligible"] == "target_unhealthy"
    assert (decision.reason, decision.details["chosen_target"]) == (Reason.NOT_TARGET, SECOND)


@pytest.mark.parametrize("armed", [False, None], ids=["disarmed", "arm_state_unreadable"])
def test_disarmed_or_unknown_arm_state_refuses(armed):
    decision = decide(outage_facts(now=READY, armed=armed), ARMED, READY)

    assert decision.reason is Reason.DISARMED


def test_a_promotion_within_the_cooldown_refuses():
    lock = LockView(last_failover_at=READY - 600)

    decision = decide(outage_facts(now=READY, lock=lock), ARMED, READY)

    assert decision.reason is Reason.COOLDOWN
    assert decision.details["cooldown_until"] == READY - 600 + PROD.cooldown_seconds


def test_a_live_lease_of_another_flight_refuses():
    lock = LockView(lease_owner="operator", lease_expires_at=READY + 100)

    decision = decide(outage_facts(now=READY, lock=lock), ARMED, READY)

    assert (decision.reason, decision.details["lease_owner"]) == (Reason.LOCK_HELD, "operator")


def test_an_unreadable_lock_refuses():
    facts = replace(outage_facts(now=READY), lock=None)

    assert decide(facts, ARMED, READY).reason is Reason.LOCK_UNAVAILABLE


def test_two_regions_the_single_vantage_is_the_quorum():
    regions = (HOME, FIRST)
    decision = decide(outage_facts(now=READY, regions=regions), ARMED, READY)

    assert decision.action is Action.FAILOVER


def test_judge_vantage_reports_the_start_of_the_dead_run_before_the_window():
    history = outage_facts(now=READY).vantages[FIRST].attempts
    first_dead = next(a.at for a in history if a.verdict is Verdict.DEAD)

    judged = judge_vantage(VantageView(region=FIRST, attempts=history), HOME, READY, PROD)

    assert (judged.judgement, judged.first_dead_at) == (Judgement.DEAD, first_dead)


def test_judge_vantage_needs_enough_attempts_in_the_window():
    few = tuple(
        Attempt(
            region=FIRST, at=READY - k * 100.0, verdict=Verdict.DEAD, reason="timeout", writer_region=HOME
        )
        for k in (2, 1, 0)
    )

    judged = judge_vantage(
        VantageView(region=FIRST, attempts=tuple(sorted(few, key=lambda a: a.at))), HOME, READY, PROD
    )

    assert judged.judgement is Judgement.INCOMPLETE


def test_deterministic_order_is_home_first_then_secondaries_in_file_order():
    assert deterministic_order(HOME, [SECOND, FIRST, HOME]) == (HOME, SECOND, FIRST)


# -- the timing model ---------------------------------------------------------------------


def test_prod_profile_meets_the_600_second_goal_for_a_full_outage_with_named_terms():
    budget = rto_budget(PROD, FULL_REGION_OUTAGE)

    assert budget.total_seconds <= GOAL_SECONDS
    assert budget.total_seconds == sum(t["seconds"] for t in budget.as_dict()["terms"])
    assert {"window", "Aurora failover", "DNS TTL"} <= {t.name for t in budget.terms}
    assert check_timing(PROD, goal_seconds=GOAL_SECONDS) == []


def test_the_writer_only_path_adds_the_minute_the_writers_own_healthy_datapoint_covers():
    full, writer_only = rto_budget(PROD, FULL_REGION_OUTAGE), rto_budget(PROD, WRITER_ONLY_OUTAGE)

    extra = {t.name: t.seconds for t in writer_only.terms}.keys() - {t.name for t in full.terms}
    assert extra == {"writer region's last healthy minute"}
    assert writer_only.total_seconds == full.total_seconds + 60


def test_tuned_profile_meets_360_seconds():
    assert rto_budget(TUNED).total_seconds <= TUNED_GOAL_SECONDS
    assert check_timing(TUNED, goal_seconds=TUNED_GOAL_SECONDS) == []


def test_rpo_bound_is_the_budget_when_it_acts():
    assert rpo_bound(PROD)["bound_seconds"] == PROD.rpo_budget_seconds


def test_a_budget_below_the_estimates_floor_is_refused_with_the_numbers():
    findings = check_timing(replace(PROD, rpo_budget_seconds=20))

    [finding] = [f for f in findings if f.field == "failover.rpo_budget_seconds"]
    assert "20" in finding.message and "27" in finding.message and "Fix:" in finding.message


def test_a_window_shorter_than_three_attempt_gaps_is_refused():
    findings = check_timing(replace(PROD, window_seconds=40))

    [finding] = [f for f in findings if f.field == "failover.unhealthy_minutes"]
    assert "48" in finding.message


def test_no_second_region_is_an_error_and_one_other_region_a_warning():
    none = check_timing(replace(PROD, vantage_regions=0))
    one = check_timing(replace(PROD, vantage_regions=1))

    assert [(f.field, f.severity) for f in none] == [("failover.automated", "error")]
    assert [(f.field, f.severity) for f in one] == [("secondary_regions", "warning")]


def test_a_profile_whose_full_outage_rto_exceeds_its_own_goal_is_refused_with_its_terms():
    findings = check_timing(
        replace(TUNED, window_seconds=300), goal_seconds=TUNED_GOAL_SECONDS, profile="tuned"
    )

    [finding] = [f for f in findings if f.field == "tuned"]
    assert (
        FULL_REGION_OUTAGE in finding.message
        and "563 s" in finding.message
        and "window 300s" in finding.message
    )


def test_interval_outside_one_scheduled_invocation_is_refused():
    findings = check_timing(replace(PROD, probe_interval_seconds=90))

    assert any(f.field == "failover.probe_interval_seconds" and "90" in f.message for f in findings)
