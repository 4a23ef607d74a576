"""`infra plan` and engine support: the warning horizon, the error past the end, the
`engine_support` section of the plan document, and the Extended Support statement."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from model.environment import Environment, load_environment, parse_environment
from orchestrator.analysis import engine_support
from orchestrator.analysis.document import plan_document, render_text
from orchestrator.analysis.guardrails import RULES, Graph, evaluate_graph
from orchestrator.analysis.plan import build_plan

DAY = datetime.date(2026, 12, 2)
SUPPORT_RULES = [r for r in RULES if r.id.startswith("engine-standard-support")]


def env(version: str, *, horizon: int = 180, lifecycle: str | None = None, **extra: Any) -> Environment:
    return parse_environment(
        {
            "name": "qa",
            "account_id": "444444444444",
            "deploy_role_arn": "arn:aws:iam::444444444444:role/aurora-deploy",
            "primary_region": "eu-west-1",
            "secondary_regions": ["eu-central-1"],
            "deletion_policy": "ephemeral",
            "cost_center": "db",
            "network": {"cidrs": {"eu-west-1": "10.90.0.0/16", "eu-central-1": "10.91.0.0/16"}},
            "database": {
                "engine_version": version,
                "support_horizon_days": horizon,
                **({"engine_lifecycle_support": lifecycle} if lifecycle else {}),
                **extra,
            },
            "dns": {"zone_name": "qa.db.internal"},
        },
        path="qa.yaml",
    )


def findings(environment: Environment, today: datetime.date | None) -> list[Any]:
    graph = Graph(env=environment, nodes=[], outputs={}, roles={}, today=today)
    return evaluate_graph(graph, rules=SUPPORT_RULES)


def test_support_ending_within_the_horizon_is_a_warning_naming_the_date_and_newest_target():
    # 3.12 ends standard support on 2027-02-17: 77 days after 2026-12-02
    (finding,) = findings(env("8.0.mysql_aurora.3.12.0"), DAY)

    assert (finding.rule, finding.severity) == ("engine-standard-support-ending", "warning")
    assert "ends on 2027-02-17 (in 77 days, horizon 180)" in finding.message
    assert "Newest supported target: 8.0.mysql_aurora.3.13.0" in finding.message
    assert "AWS then upgrades the clusters to a newer minor version itself" in finding.message


def test_support_ending_beyond_the_horizon_gives_no_finding():
    assert findings(env("8.0.mysql_aurora.3.12.0", horizon=76), DAY) == []
    assert [f.rule for f in findings(env("8.0.mysql_aurora.3.12.0", horizon=77), DAY)] == [
        "engine-standard-support-ending"
    ]


def test_support_past_its_end_is_an_error_naming_the_date_and_newest_target():
    (finding,) = findings(env("8.0.mysql_aurora.3.11.1"), DAY)

    assert (finding.rule, finding.severity) == ("engine-standard-support-ended", "error")
    assert "ended on 2026-11-13 (19 days ago)" in finding.message
    assert "Newest supported target: 8.0.mysql_aurora.3.13.0" in finding.message
    assert "infra upgrade check --to VERSION" in finding.message


def test_the_last_day_of_standard_support_is_still_supported_and_the_next_is_not():
    end = datetime.date(2027, 2, 17)
    on_last_day = findings(env("8.0.mysql_aurora.3.12.0", horizon=0), end)
    next_day = findings(env("8.0.mysql_aurora.3.12.0", horizon=0), end + datetime.timedelta(days=1))

    assert [f.rule for f in on_last_day] == ["engine-standard-support-ending"]
    assert [f.rule for f in next_day] == ["engine-standard-support-ended"]


def test_when_only_a_new_major_version_is_supported_the_message_says_it_needs_allowing_one():
    # 3.13 ended on 2027-08-27; 8.4.8 is supported until 2027-09-03
    (finding,) = findings(env("8.0.mysql_aurora.3.13.0"), datetime.date(2027, 9, 1))

    assert finding.rule == "engine-standard-support-ended"
    assert (
        "Newest supported target: none listed in this major version; newest across major versions: "
        "8.4.mysql_aurora.8.4.8 (needs database.allow_major_upgrade: true)"
    ) in finding.message


def test_without_a_date_the_date_dependent_rules_do_not_run():
    assert findings(env("8.0.mysql_aurora.3.11.1"), None) == []


@pytest.mark.parametrize(
    ("lifecycle", "meaning"),
    [
        (None, "enrolled in RDS Extended Support (AWS's default (engine_lifecycle_support unset))"),
        ("open-source-rds-extended-support", "bills Extended Support per vCPU-hour"),
        ("open-source-rds-extended-support-disabled", "no Extended Support charges"),
    ],
)
def test_the_plan_states_what_running_past_the_major_versions_end_means(lifecycle, meaning):
    support = engine_support.engine_support(env("8.0.mysql_aurora.3.10.5", lifecycle=lifecycle), DAY)

    assert support.status == engine_support.Status.SUPPORTED
    assert meaning in support.past_end_meaning()
    if lifecycle != "open-source-rds-extended-support-disabled":
        assert "from 2028-05-01 until 2029-07-31" in support.past_end_meaning()


def test_the_plan_document_has_an_engine_support_section_and_is_the_same_for_the_same_day():
    prod = load_environment("prod")

    first = plan_document(build_plan(prod, today=DAY))
    later = plan_document(build_plan(prod, today=datetime.date(2028, 1, 1)))

    # the date is the only input besides the files: the same day gives the same section
    assert first["engine_support"] == json.loads(
        json.dumps(engine_support.engine_support(prod, DAY).to_json())
    )
    section = first["engine_support"]
    assert section["today"] == "2026-12-02"
    assert section["engine_version"] == "8.0.mysql_aurora.3.10.5"
    assert section["status"] == "supported"
    assert section["end_of_standard_support"] == "2028-04-30"
    assert section["engine_lifecycle_support"] == "open-source-rds-extended-support-disabled"
    assert section["extended_support_enrolled"] is False
    assert section["recommended_lts"] == "8.0.mysql_aurora.3.10.5"
    assert later["engine_support"]["status"] == "ending"
    assert [f["rule"] for f in later["findings"] if f["rule"].startswith("engine-")] == [
        "engine-standard-support-ending"
    ]
    # the contract keeps its earlier keys
    assert {"format_version", "stacks", "findings", "summary", "rto_budget"} <= set(first)


def test_the_text_plan_shows_the_engine_support_line():
    text = render_text(build_plan(load_environment("dev"), today=DAY))

    assert "Engine support on 2026-12-02: 8.0.mysql_aurora.3.10.5 is supported" in text
    assert "Past the end: enrolled in RDS Extended Support" in text
