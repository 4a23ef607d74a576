"""The failover simulator: the shipped scenarios and seeded random schedules keep every invariant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import failover_simulation as benchmark
from lambda_src.failover.budget import GOAL_SECONDS, PROD, rto_budget
from orchestrator.analysis.failover_sim import (
    SCENARIO_DIR,
    load_scenarios,
    parse_scenario,
    random_scenarios,
    simulate,
)
from orchestrator.analysis.failover_sim.scenario import ScenarioError

SCENARIOS = {s.name: s for s in load_scenarios(SCENARIO_DIR)}
REQUIRED = [
    "full-region-outage",
    "full-region-outage-lag-over-budget",
    "writer-instances-dead",
    "primary-lambda-impaired",
    "probe-auth-failure",
    "primary-isolated-but-alive",
    "primary-flapping",
    "operator-races-automation",
]
# The test's share of random schedules; the benchmark runs 10,000.
RANDOM_RUNS = 300


def test_the_issues_scenarios_are_shipped():
    assert set(REQUIRED) <= set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_shipped_scenario_keeps_every_invariant_and_its_expected_outcome(name):
    scenario = SCENARIOS[name]

    result = simulate(scenario)

    assert result.violations == []
    if scenario.expect == "act":
        assert result.acted and result.rto_seconds is not None and result.rto_seconds <= result.budget_seconds
    if scenario.expect == "no_act":
        assert not result.acted


def test_full_outage_at_prods_settings_acts_within_600_seconds():
    result = simulate(SCENARIOS["full-region-outage"])

    assert result.acted
    assert result.rto_seconds <= rto_budget(PROD).total_seconds <= GOAL_SECONDS


def test_the_race_ends_with_exactly_one_promotion():
    result = simulate(SCENARIOS["operator-races-automation"])

    assert [p["automated"] for p in result.promotions] == [True]
    assert result.reasons["operator_refused"] == 1


def test_the_isolated_unobservable_writer_shows_the_partition_limit_as_lost_writes():
    result = simulate(SCENARIOS["isolated-writer-unobservable"])

    assert result.acted and result.violations == []
    assert result.rpo_seconds > PROD.rpo_budget_seconds


def test_seeded_random_schedules_keep_every_invariant():
    violations = [
        f"{s.name}: {v}"
        for s in random_scenarios(RANDOM_RUNS, seed=13)
        for v in simulate(s, skip_idle=True).violations
    ]

    assert violations == []


def test_random_schedules_are_reproducible_from_their_seed():
    first = [s.faults for s in random_scenarios(20, seed=5)]
    again = [s.faults for s in random_scenarios(20, seed=5)]

    assert first == again and first != [s.faults for s in random_scenarios(20, seed=6)]


def test_an_invariant_violation_is_reported_not_hidden():
    # A scenario that claims a must-act outcome the quorum rightly refuses: the run says so.
    wrong = parse_scenario(
        {
            "name": "claims-action",
            "expect": "act",
            "faults": [{"component": "probe_auth:us-west-2", "start": 100, "mode": "errors"}],
        }
    )

    result = simulate(wrong)

    assert [v.split(":")[0] for v in result.violations] == ["missed_action"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "expect": "maybe"}, "expect must be one of act, no_act, any"),
        (
            {"name": "x", "faults": [{"component": "moon:us-east-1"}]},
            "faults[0].component must be <kind>:<region>",
        ),
        ({"name": "x", "faults": [{"component": "region:ap-south-1"}]}, "naming regions of the scenario"),
        (
            {"name": "x", "faults": [{"component": "region:us-east-1", "mode": "melting"}]},
            "faults[0].mode must be one of",
        ),
        (
            {"name": "x", "faults": [{"component": "region:us-east-1", "start": 10, "end": 5}]},
            "end after start",
        ),
        ({"name": "x", "timing": {"window": 60}}, "timing must be a mapping of"),
        ({"name": "x", "colour": "red"}, "the keys must be among"),
    ],
)
def test_malformed_scenarios_name_the_file_the_field_and_the_value(data, message):
    with pytest.raises(ScenarioError, match=r"^bad\.yaml: ") as raised:
        parse_scenario(data, source="bad.yaml")

    assert message in str(raised.value)


def test_benchmark_json_document_has_the_issues_shape_and_adds_a_folder(tmp_path: Path, capsys):
    (tmp_path / "extra.yaml").write_text(
        "name: extra-brief-cloudwatch-loss\nexpect: no_act\nduration: 600\n"
        "faults:\n  - {component: 'cloudwatch:us-east-1', start: 100, end: 400, mode: timeout}\n"
    )

    code = benchmark.main(["--json", "--scenarios", str(tmp_path), "--random", "5", "--workers", "1"])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(document) == {"scenarios", "random"}
    assert set(document["random"]) == {"runs", "violations"} and document["random"]["runs"] == 5
    names = [s["name"] for s in document["scenarios"]]
    assert "extra-brief-cloudwatch-loss" in names and "full-region-outage" in names
    assert all(
        set(s) == {"name", "must_act", "acted", "rto_seconds", "rpo_seconds", "violations"}
        for s in document["scenarios"]
    )
