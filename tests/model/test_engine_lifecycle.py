"""Engine lifecycle rules: both version schemes, the dated table, upgrades and Extended Support."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from model import aws_rules
from model.aws_rules import RuleViolation, UpgradeKind
from model.environment import EnvironmentFileError, parse_environment

LTS_310 = "8.0.mysql_aurora.3.10.5"
V312 = "8.0.mysql_aurora.3.12.0"
V847 = "8.4.mysql_aurora.8.4.7"
V848 = "8.4.mysql_aurora.8.4.8"
DAY = datetime.date(2026, 12, 2)


def violation(fn: Any, *args: Any, **kwargs: Any) -> RuleViolation:
    with pytest.raises(RuleViolation) as info:
        fn(*args, **kwargs)
    return info.value


# --- parsing, families, metrics, ordering ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "major", "aurora", "display", "api"),
    [
        ("8.0.mysql_aurora.3.10.3", "8.0", (3, 10, 3), "3.10.3", "8.0.mysql_aurora.3.10.3"),
        ("8.0.mysql_aurora.3.04.4", "8.0", (3, 4, 4), "3.04.4", "8.0.mysql_aurora.3.04.4"),
        ("3.04.4", "8.0", (3, 4, 4), "3.04.4", "8.0.mysql_aurora.3.04.4"),
        ("8.4.mysql_aurora.8.4.7", "8.4", (8, 4, 7), "8.4.7", "8.4.mysql_aurora.8.4.7"),
        ("8.4.7", "8.4", (8, 4, 7), "8.4.7", "8.4.mysql_aurora.8.4.7"),
        ("5.7.mysql_aurora.2.11.2", "5.7", (2, 11, 2), "2.11.2", "5.7.mysql_aurora.2.11.2"),
    ],
)
def test_both_version_schemes_parse_to_major_display_number_and_api_string(text, major, aurora, display, api):
    parsed = aws_rules.parse_engine_version(text)

    assert (parsed.mysql_major, parsed.aurora, parsed.display, parsed.api_string) == (
        major,
        aurora,
        display,
        api,
    )


@pytest.mark.parametrize("text", ["8.0", "8.4", "mysql", "8.0.mysql_aurora.3", "9.9.9", ""])
def test_strings_of_neither_scheme_do_not_parse(text):
    with pytest.raises(ValueError, match="not an Aurora MySQL version"):
        aws_rules.parse_engine_version(text)


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("8.0.mysql_aurora.3.10.3", "aurora-mysql8.0"),
        ("3.10.3", "aurora-mysql8.0"),
        (V847, "aurora-mysql8.4"),
        ("8.4.7", "aurora-mysql8.4"),
        ("5.7.mysql_aurora.2.11.2", "aurora-mysql5.7"),
    ],
)
def test_parameter_group_family_of_either_scheme_comes_from_the_major_version(version, family):
    assert aws_rules.engine_parameter_family(version) == family


@pytest.mark.parametrize(
    ("version", "publishes"),
    [
        ("8.0.mysql_aurora.3.03.1", False),
        ("3.04.0", True),
        (V847, True),
        ("8.4.8", True),
        ("nonsense", False),
    ],
)
def test_rpo_lag_metric_availability_branches_on_the_major_version(version, publishes):
    assert aws_rules.engine_publishes_rpo_lag(version) is publishes


def test_versions_order_across_schemes_by_major_then_display_number():
    ordered = ["8.0.mysql_aurora.3.04.4", "8.0.mysql_aurora.3.10.0", LTS_310, V312, V847, V848]
    keys = [aws_rules.parse_engine_version(v).sort_key for v in ordered]

    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


# --- the dated table ----------------------------------------------------------------------------


def test_every_table_entry_cites_a_source_and_the_date_it_was_checked():
    catalog = aws_rules.engine_catalog()
    sections = [catalog["major_versions"], catalog["minor_lines"], catalog["versions"]]
    for section in sections:
        for name, info in section.items():
            assert info["source"].strip(), name
            datetime.date.fromisoformat(info["checked"])
            for field in info.get("unverified", []):
                assert field in info, f"{name}: unverified names an absent field {field}"


def test_every_version_belongs_to_a_dated_minor_line_of_a_known_major():
    lines = aws_rules.engine_catalog()["minor_lines"]
    for name, version in aws_rules.known_engine_versions().items():
        assert version.minor_line in lines, name
        datetime.date.fromisoformat(version.release_date)
        assert version.parsed.mysql_major in aws_rules.major_versions(), name
        assert version.minor_end_of_standard_support is not None


@pytest.mark.parametrize(
    ("version", "end", "ends_with"),
    [
        ("8.0.mysql_aurora.3.04.4", datetime.date(2026, 10, 31), "minor"),
        ("8.0.mysql_aurora.3.09.0", datetime.date(2026, 8, 31), "minor"),
        ("8.0.mysql_aurora.3.11.1", datetime.date(2026, 11, 13), "minor"),
        (LTS_310, datetime.date(2028, 4, 30), "major"),
        (V312, datetime.date(2027, 2, 17), "minor"),
        ("8.0.mysql_aurora.3.13.0", datetime.date(2027, 8, 27), "minor"),
        (V847, datetime.date(2027, 11, 30), "minor"),
        (V848, datetime.date(2027, 9, 3), "minor"),
    ],
)
def test_end_of_standard_support_dates_are_the_release_calendars(version, end, ends_with):
    entry = aws_rules.known_engine_versions()[version]

    assert entry.end_of_standard_support == end
    assert entry.support_ends_with == ends_with
    assert "CAL" in entry.source


def test_major_version_dates_are_the_release_calendars_and_a_month_counts_from_its_first_day():
    majors = aws_rules.major_versions()

    assert majors["8.0"].end_of_standard_support == datetime.date(2028, 4, 30)
    assert majors["8.0"].extended_support_year1_pricing_from == datetime.date(2028, 5, 1)
    assert majors["8.0"].end_of_extended_support == datetime.date(2029, 7, 31)
    assert majors["8.4"].end_of_standard_support == datetime.date(2032, 4, 1)  # "April 2032"
    assert majors["8.4"].end_of_standard_support_text == "2032-04"
    assert majors["8.4"].end_of_extended_support is None  # "To be determined"
    assert majors["8.4"].parameter_group_family == "aurora-mysql8.4"
    assert "rpo_lag_metric_from" in majors["8.4"].unverified


def test_only_the_3_10_and_3_04_lines_are_long_term_support():
    lts_lines = {v.minor_line for v in aws_rules.known_engine_versions().values() if v.lts}

    assert lts_lines == {"3.04", "3.10"}


@pytest.mark.parametrize(
    ("today", "recommended"),
    [(DAY, LTS_310), (datetime.date(2026, 6, 1), LTS_310), (datetime.date(2028, 1, 1), LTS_310)],
)
def test_recommended_version_is_the_newest_lts_release_in_standard_support(today, recommended):
    assert aws_rules.recommended_engine_version(today) == recommended


def test_newest_supported_target_skips_ended_lines_and_crosses_majors_only_when_allowed():
    same_major = aws_rules.newest_supported_target(
        "8.0.mysql_aurora.3.04.4", DAY, global_database=True, allow_major=False
    )
    any_major = aws_rules.newest_supported_target("8.0.mysql_aurora.3.04.4", DAY, global_database=True)
    after_3_13 = aws_rules.newest_supported_target(
        "8.0.mysql_aurora.3.13.0", datetime.date(2027, 9, 1), global_database=True, allow_major=False
    )

    assert same_major is not None and same_major.version == "8.0.mysql_aurora.3.13.0"
    assert any_major is not None and any_major.version == V848
    # 3.13 ended on 2027-08-27; nothing newer in 3.x is listed: no same-major target
    assert after_3_13 is None


def test_a_display_number_is_refused_naming_the_api_string_to_write():
    exc = violation(aws_rules.check_engine_version, "database.engine_version", "8.4.7", global_database=True)

    assert exc.field == "database.engine_version"
    assert "aurora_mysql_versions.yaml" in exc.rule
    assert exc.value == "8.4.7"
    assert "write the RDS API string 8.4.mysql_aurora.8.4.7" in exc.fix
    assert LTS_310 in exc.fix


def test_8_4_versions_are_accepted_for_global_databases():
    version = aws_rules.check_engine_version("database.engine_version", V847, global_database=True)

    assert version.global_database and version.parsed.mysql_major == "8.4"


# --- upgrades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target", "allow_major", "kind"),
    [
        ("8.0.mysql_aurora.3.10.3", LTS_310, False, UpgradeKind.MINOR),
        (LTS_310, V312, False, UpgradeKind.MINOR),
        (V847, V848, False, UpgradeKind.MINOR),
        (LTS_310, V847, True, UpgradeKind.MAJOR),
        (LTS_310, LTS_310, False, UpgradeKind.NONE),
    ],
)
def test_upgrade_kind_follows_the_major_version(current, target, allow_major, kind):
    result = aws_rules.check_engine_upgrade(
        "database.engine_version", current, target, allow_major=allow_major, global_database=True
    )

    assert result is kind


def test_a_downgrade_is_refused_naming_field_rule_value_and_the_newest_valid_target():
    exc = violation(
        aws_rules.check_engine_upgrade,
        "database.engine_version",
        V312,
        LTS_310,
        allow_major=False,
        global_database=True,
        today=DAY,
    )

    assert exc.field == "database.engine_version"
    assert "cannot downgrade" in exc.rule
    assert exc.value == LTS_310
    assert "8.0.mysql_aurora.3.13.0" in exc.fix  # newest valid target of 3.12.0 on that day


def test_a_major_upgrade_is_refused_unless_the_environment_allows_one():
    exc = violation(
        aws_rules.check_engine_upgrade,
        "database.engine_version",
        LTS_310,
        V847,
        allow_major=False,
        global_database=True,
        today=DAY,
    )

    assert "major version upgrade (8.0 -> 8.4)" in exc.rule
    assert exc.value == V847
    assert "database.allow_major_upgrade: true" in exc.fix
    assert "8.0.mysql_aurora.3.13.0" in exc.fix  # the newest target within 8.0


def test_an_unknown_upgrade_target_is_refused_as_not_listed():
    exc = violation(
        aws_rules.check_engine_upgrade,
        "--to",
        LTS_310,
        "8.4.mysql_aurora.8.4.10",
        allow_major=True,
        global_database=True,
    )

    assert exc.field == "--to"
    assert "aurora_mysql_versions.yaml" in exc.rule


# --- Extended Support ---------------------------------------------------------------------------


def _env(**database: Any) -> dict[str, Any]:
    return {
        "name": "prod",
        "account_id": "333333333333",
        "deploy_role_arn": "arn:aws:iam::333333333333:role/aurora-deploy",
        "primary_region": "us-east-1",
        "secondary_regions": ["us-west-2"],
        "deletion_policy": "protected",
        "cost_center": "db",
        "network": {"cidrs": {"us-east-1": "10.30.0.0/16", "us-west-2": "10.31.0.0/16"}},
        "database": {"engine_version": LTS_310, **database},
        "dns": {"zone_name": "prod.db.internal"},
    }


def test_a_protected_environment_must_state_its_extended_support_choice():
    with pytest.raises(EnvironmentFileError) as info:
        parse_environment(_env(), path="prod.yaml")

    (problem,) = info.value.problems
    assert problem.startswith("database.engine_lifecycle_support: a protected environment states")
    assert "open-source-rds-extended-support-disabled" in problem
    assert "per vCPU-hour" in problem


@pytest.mark.parametrize(
    "choice", ["open-source-rds-extended-support", "open-source-rds-extended-support-disabled"]
)
def test_either_explicit_choice_is_accepted_for_a_protected_environment(choice):
    env = parse_environment(_env(engine_lifecycle_support=choice), path="prod.yaml")

    assert env.database.engine_lifecycle_support == choice


def test_an_ephemeral_environment_may_keep_the_aws_default():
    env = parse_environment({**_env(), "deletion_policy": "ephemeral"}, path="x.yaml")

    assert env.database.engine_lifecycle_support is None


def test_an_unknown_lifecycle_value_is_refused_naming_the_valid_ones():
    with pytest.raises(EnvironmentFileError) as info:
        parse_environment(_env(engine_lifecycle_support="extended"), path="prod.yaml")

    (problem,) = info.value.problems
    assert problem.startswith("database.engine_lifecycle_support: must be one of")
    assert "(got 'extended')" in problem


@pytest.mark.parametrize("days", [-1, 3651])
def test_the_support_horizon_is_bounded(days):
    with pytest.raises(EnvironmentFileError) as info:
        parse_environment(
            _env(engine_lifecycle_support="open-source-rds-extended-support", support_horizon_days=days),
            path="prod.yaml",
        )

    assert info.value.problems[0].startswith("database.support_horizon_days:")
