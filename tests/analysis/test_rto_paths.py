"""The plan's RTO budget carries the outage-proof decider's paths, from the simulator's model."""

from __future__ import annotations

from lambda_src.failover import budget
from model.environment import load_environment
from orchestrator.analysis.document import plan_document
from orchestrator.analysis.rto import failover_timing
from tests.support.graphs import planned


def test_the_prod_plan_reports_both_outage_paths_and_the_rpo_bound() -> None:
    document = plan_document(planned("prod"))
    rto = document["rto_budget"]
    # today's top-level fields stay
    assert {"total_seconds", "dominant_term", "terms", "summary"} <= set(rto)
    paths = rto["paths"]
    assert set(paths) == {"full_region_outage", "writer_only_outage"}
    # a full regional outage reaches the writer name within the 600 s goal at prod's settings
    assert paths["full_region_outage"]["total_seconds"] <= budget.GOAL_SECONDS
    for path in paths.values():
        assert path["total_seconds"] == sum(t["seconds"] for t in path["terms"])
    assert rto["rpo_bound"]["rpo_budget_seconds"] == 30


def test_the_plan_reads_the_timing_from_the_environment_file() -> None:
    env = planned("prod").env
    timing = failover_timing(env)
    assert timing.window_seconds == env.failover.unhealthy_minutes * 60
    assert timing.vantage_regions == len(env.secondary_regions)
    assert budget.check_timing(timing, goal_seconds=budget.GOAL_SECONDS) == []


def test_a_regional_environment_has_no_paths() -> None:
    assert "paths" not in plan_document(planned("dev"))["rto_budget"]


def test_the_shared_timing_sets_every_field_of_the_decider_model_and_prod_is_its_profile():
    import dataclasses

    from lambda_src.failover import budget
    from model.failover_timing import FailoverTiming
    from model.failover_timing import failover_timing as shared

    assert {f.name for f in dataclasses.fields(FailoverTiming)} == {
        f.name for f in dataclasses.fields(budget.Timing)
    }
    assert failover_timing(load_environment("prod")) == budget.Timing(
        **shared(load_environment("prod")).as_kwargs()
    )
    assert failover_timing(load_environment("prod")) == budget.PROD
