"""Unit tests of the AWS rules (model.aws_rules): pure functions, no mocks.

Each rule either returns the value it accepts or raises RuleViolation naming the field,
the rule, the value and the fix.
"""

from __future__ import annotations

import datetime
import ipaddress

import pytest

from model import aws_rules
from model.aws_rules import CidrClaim, RuleViolation

GOOD_VERSION = "8.0.mysql_aurora.3.10.3"


def violation(call, *args, **kwargs) -> RuleViolation:
    with pytest.raises(RuleViolation) as info:
        call(*args, **kwargs)
    return info.value


# --- RuleViolation ---------------------------------------------------------------------------


def test_rule_violation_renders_field_rule_value_fix_and_source():
    exc = RuleViolation(field="a.b", rule="must be small", value=7, fix="use 1", source="Some Guide")

    assert str(exc) == "a.b: must be small (got 7). Fix: use 1 [source: Some Guide]"
    assert (exc.field, exc.rule, exc.value, exc.fix, exc.source) == (
        "a.b",
        "must be small",
        7,
        "use 1",
        "Some Guide",
    )
    assert isinstance(exc, ValueError)  # pydantic validators turn ValueErrors into field errors


def test_rule_violation_without_source_has_no_source_suffix():
    assert str(RuleViolation(field="f", rule="r", value="v", fix="x")) == "f: r (got 'v'). Fix: x"


# --- Regions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-5", "il-central-1"])
def test_known_regions_are_accepted(region):
    assert aws_rules.check_region("primary_region", region) == region


@pytest.mark.parametrize("region", ["us-east-9", "US-EAST-1", "useast1", "", "us-east-1 "])
def test_unknown_regions_are_rejected_naming_the_field(region):
    exc = violation(aws_rules.check_region, "secondary_regions[0]", region)

    assert exc.field == "secondary_regions[0]"
    assert exc.value == region
    assert "region" in exc.rule


def test_secondary_regions_may_be_empty_or_distinct():
    aws_rules.check_secondary_regions("secondary_regions", "us-east-1", [])
    aws_rules.check_secondary_regions("secondary_regions", "us-east-1", ["us-west-2", "eu-west-1"])


def test_secondary_region_equal_to_primary_is_rejected_at_its_index():
    exc = violation(
        aws_rules.check_secondary_regions, "secondary_regions", "us-east-1", ["eu-west-1", "us-east-1"]
    )

    assert exc.field == "secondary_regions[1]"
    assert exc.value == "us-east-1"
    assert "differ from the primary" in exc.rule


def test_duplicate_secondary_region_is_rejected_at_the_second_occurrence():
    exc = violation(
        aws_rules.check_secondary_regions,
        "secondary_regions",
        "us-east-1",
        ["us-west-2", "eu-west-1", "us-west-2"],
    )

    assert exc.field == "secondary_regions[2]"
    assert "only once" in exc.rule


def test_aws_allows_ten_secondary_regions_and_no_more():
    regions = sorted(aws_rules.AWS_REGIONS - {"us-east-1"})
    assert aws_rules.MAX_SECONDARY_REGIONS == 10

    aws_rules.check_secondary_regions("secondary_regions", "us-east-1", regions[:10])
    exc = violation(aws_rules.check_secondary_regions, "secondary_regions", "us-east-1", regions[:11])

    assert exc.field == "secondary_regions"
    assert "at most 10 secondary regions" in exc.rule
    assert exc.source == aws_rules.SECONDARY_REGIONS_SOURCE


# --- Accounts and roles ------------------------------------------------------------------------


def test_twelve_digit_account_id_is_accepted_including_leading_zeros():
    assert aws_rules.check_account_id("account_id", "012345678901") == "012345678901"


@pytest.mark.parametrize(
    "value",
    ["12345678901", "1234567890123", "12345678901a", "1234-5678-9012", " 123456789012", "123456789012\n", ""],
    ids=["11-digits", "13-digits", "letter", "dashes", "leading-space", "trailing-newline", "empty"],
)
def test_account_id_that_is_not_exactly_twelve_digits_is_rejected(value):
    exc = violation(aws_rules.check_account_id, "account_id", value)

    assert exc.rule == "an AWS account id is exactly 12 digits"
    assert "quote it" in exc.fix


def test_account_id_with_non_ascii_digits_is_rejected():
    violation(aws_rules.check_account_id, "account_id", "\uff11" * 12)  # FULLWIDTH DIGIT ONE x 12
    violation(aws_rules.check_account_id, "account_id", "\u0661" * 12)  # ARABIC-INDIC DIGIT ONE x 12


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::111111111111:role/aurora-deploy",
        "arn:aws:iam::111111111111:role/platform/deploy/aurora-deploy",
        "arn:aws-us-gov:iam::111111111111:role/deploy",
        "arn:aws-cn:iam::111111111111:role/deploy+ci@team.example=1,2",
    ],
)
def test_role_arns_in_the_account_are_accepted(arn):
    assert aws_rules.check_role_arn("deploy_role_arn", arn, "111111111111") == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::111111111111:user/aurora-deploy",
        "arn:aws:iam::11111111111:role/aurora-deploy",
        "arn:aws:sts::111111111111:assumed-role/aurora-deploy/session",
        "aurora-deploy",
        "arn:aws:iam::111111111111:role/",
        "arn:aws:iam::\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11:role/deploy",
        "arn:aws:iam::111111111111:role/d\u00e9ploy",
    ],
    ids=[
        "user",
        "short-account",
        "assumed-role",
        "bare-name",
        "empty-name",
        "non-ascii-account",
        "non-ascii-name",
    ],
)
def test_malformed_role_arns_are_rejected(arn):
    exc = violation(aws_rules.check_role_arn, "deploy_role_arn", arn, "111111111111")

    assert exc.field == "deploy_role_arn"
    assert "must be an IAM role ARN" in exc.rule


def test_role_in_another_account_is_rejected_and_the_fix_names_the_right_account():
    exc = violation(
        aws_rules.check_role_arn, "deploy_role_arn", "arn:aws:iam::222222222222:role/deploy", "111111111111"
    )

    assert "own account" in exc.rule
    assert "111111111111" in exc.fix


def test_role_account_is_not_compared_when_the_account_is_unknown():
    arn = "arn:aws:iam::222222222222:role/deploy"
    assert aws_rules.check_role_arn("deploy_role_arn", arn, None) == arn


# --- Network -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.30.0.0/16", "10.30.4.0/24", "172.16.0.0/16", "192.168.8.0/22"])
def test_private_ipv4_blocks_from_slash16_to_slash24_are_accepted(cidr):
    assert aws_rules.check_vpc_cidr("network.cidrs.us-east-1", cidr) == ipaddress.ip_network(cidr)


@pytest.mark.parametrize(
    ("cidr", "rule_fragment"),
    [
        ("10.0.0.0/8", "prefix length must be /16 to /24"),
        ("10.30.0.0/15", "prefix length must be /16 to /24"),
        ("10.30.0.0/25", "prefix length must be /16 to /24"),
        ("10.30.0.1/16", "no host bits set"),
        ("10.30.0.0/33", "CIDR notation"),
        ("not-a-cidr", "CIDR notation"),
        ("8.8.0.0/16", "RFC 1918"),
        ("172.32.0.0/16", "RFC 1918"),
        ("fd00::/48", "IPv4"),
    ],
    ids=[
        "slash8",
        "slash15",
        "slash25",
        "host-bits",
        "bad-prefix",
        "garbage",
        "public",
        "just-outside-172",
        "ipv6",
    ],
)
def test_unusable_vpc_blocks_are_rejected(cidr, rule_fragment):
    exc = violation(aws_rules.check_vpc_cidr, "network.cidrs.eu-west-1", cidr)

    assert exc.field == "network.cidrs.eu-west-1"
    assert rule_fragment in exc.rule
    assert exc.value == cidr


def claim(env: str, region: str, cidr: str, source: str = "environments/x.yaml") -> CidrClaim:
    return CidrClaim(environment=env, region=region, cidr=cidr, source=source)


def test_disjoint_and_adjacent_blocks_do_not_overlap():
    aws_rules.check_no_overlap(
        "network.cidrs",
        [
            claim("prod", "us-east-1", "10.30.0.0/17"),
            claim("prod", "us-west-2", "10.30.128.0/17"),
            claim("dev", "us-east-1", "10.10.0.0/16"),
        ],
    )
    aws_rules.check_no_overlap("network.cidrs", [])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("10.30.0.0/16", "10.30.0.0/16"),
        ("10.30.0.0/16", "10.30.200.0/24"),
        ("10.30.200.0/24", "10.30.0.0/16"),
    ],
    ids=["identical", "second-inside-first", "first-inside-second"],
)
def test_overlapping_blocks_are_rejected_naming_both_claims(first, second):
    exc = violation(
        aws_rules.check_no_overlap,
        "network.cidrs",
        [
            claim("prod", "us-east-1", first, "environments/prod.yaml"),
            claim("qa", "eu-west-1", second, "qa.yaml"),
        ],
    )

    assert exc.field == "network.cidrs"
    assert "must not overlap" in exc.rule
    assert exc.value == second
    assert f"prod/us-east-1 {first} (environments/prod.yaml)" in exc.rule
    assert f"qa/eu-west-1 {second} (qa.yaml)" in exc.rule


# --- Engine ------------------------------------------------------------------------------------


def test_catalogued_engine_version_is_accepted_with_its_facts():
    version = aws_rules.check_engine_version("database.engine_version", GOOD_VERSION, global_database=True)

    assert version.version == GOOD_VERSION
    assert version.mysql.startswith("8.0.")
    assert version.global_database is True


@pytest.mark.parametrize("value", ["5.7.mysql_aurora.2.11.2", "5.7.mysql_aurora.2.12.0", "5.6.10a"])
def test_end_of_life_engines_are_rejected_with_the_reason_and_a_version_3_fix(value):
    exc = violation(aws_rules.check_engine_version, "database.engine_version", value, global_database=False)

    assert exc.rule.startswith("end-of-life engine")
    assert aws_rules.recommended_engine_version() in exc.fix
    assert "version 3" in exc.fix


def test_5_7_rejection_names_the_end_of_standard_support():
    exc = violation(
        aws_rules.check_engine_version,
        "database.engine_version",
        "5.7.mysql_aurora.2.11.2",
        global_database=True,
    )
    assert "MySQL 5.7" in exc.rule
    assert "2024-10-31" in exc.rule


@pytest.mark.parametrize("value", ["8.0.mysql_aurora.3.99.0", "8.0", "3.10.3", "8.0.mysql_aurora.3.10.3 "])
def test_versions_not_in_the_dated_catalog_are_rejected_listing_the_known_ones(value):
    exc = violation(aws_rules.check_engine_version, "database.engine_version", value, global_database=False)

    assert "aurora_mysql_versions.yaml" in exc.rule
    assert GOOD_VERSION in exc.fix


def test_version_without_global_database_support_is_rejected_only_for_global_environments(monkeypatch):
    catalog = dict(aws_rules.engine_catalog())
    catalog["versions"] = {
        **catalog["versions"],
        "8.0.mysql_aurora.3.11.9": {
            "mysql": "8.0.43",
            "release_date": "2026-01-01",
            "lts": False,
            "global_database": False,
            "minor_line": "3.11",
            "source": "test",
            "checked": "2026-12-02",
        },
    }
    monkeypatch.setattr(aws_rules, "engine_catalog", lambda: catalog)

    aws_rules.check_engine_version(
        "database.engine_version", "8.0.mysql_aurora.3.11.9", global_database=False
    )
    exc = violation(
        aws_rules.check_engine_version,
        "database.engine_version",
        "8.0.mysql_aurora.3.11.9",
        global_database=True,
    )
    assert "does not support Aurora global databases" in exc.rule


def test_engine_catalog_entries_are_dated_aurora_mysql_3_or_8_4_releases():
    catalog = aws_rules.engine_catalog()
    datetime.date.fromisoformat(catalog["checked"])
    versions = aws_rules.known_engine_versions()

    assert versions
    for name, version in versions.items():
        assert name.startswith(("8.0.mysql_aurora.3.", "8.4.mysql_aurora.8.4.")), name
        datetime.date.fromisoformat(version.release_date)
        assert aws_rules.engine_parameter_family(name) == "aurora-mysql" + name[:3]


def test_recommended_version_is_the_newest_lts_release_in_standard_support():
    versions = aws_rules.known_engine_versions()
    recommended = versions[aws_rules.recommended_engine_version()]
    checked = datetime.date.fromisoformat(aws_rules.engine_catalog()["checked"])

    assert recommended.lts and recommended.supported_on(checked)
    assert all(
        v.release_date <= recommended.release_date
        for v in versions.values()
        if v.lts and v.supported_on(checked)
    )


@pytest.mark.parametrize(
    ("version", "family"),
    [("8.0.mysql_aurora.3.10.3", "aurora-mysql8.0"), ("5.7.mysql_aurora.2.11.2", "aurora-mysql5.7")],
)
def test_parameter_group_family_follows_the_mysql_major_version(version, family):
    assert aws_rules.engine_parameter_family(version) == family


@pytest.mark.parametrize(
    ("version", "publishes"),
    [
        ("8.0.mysql_aurora.3.03.1", False),
        ("8.0.mysql_aurora.3.04.0", True),
        ("8.0.mysql_aurora.3.04.4", True),
        ("8.0.mysql_aurora.3.10.3", True),
        ("5.7.mysql_aurora.2.11.2", False),
    ],
)
def test_rpo_lag_metric_is_published_from_aurora_mysql_3_04_0_on(version, publishes):
    assert aws_rules.engine_publishes_rpo_lag(version) is publishes


# --- Instances ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", ["db.r5.large", "db.r6g.large", "db.r6g.xlarge", "db.r7g.16xlarge", "db.x2g.large"]
)
def test_memory_optimized_classes_are_accepted_for_global_databases(cls):
    assert aws_rules.check_instance_class("database.instance_class", cls, global_database=True) == cls


@pytest.mark.parametrize("cls", ["db.t4g.medium", "db.t3.medium", "db.t4g.large"])
def test_burstable_classes_are_rejected_for_global_databases_but_fine_for_regional(cls):
    exc = violation(aws_rules.check_instance_class, "database.instance_class", cls, global_database=True)

    assert "burstable" in exc.rule
    assert "db.r6g.large" in exc.fix
    assert aws_rules.check_instance_class("database.instance_class", cls, global_database=False) == cls


@pytest.mark.parametrize("cls", ["db.m5.large", "r6g.large", "db.r6g", "db.r6g.huge", ""])
def test_non_aurora_classes_are_rejected_everywhere(cls):
    for global_database in (False, True):
        violation(
            aws_rules.check_instance_class, "database.instance_class", cls, global_database=global_database
        )


@pytest.mark.parametrize(("count", "protected"), [(1, False), (2, True), (16, False), (16, True)])
def test_instance_counts_within_limits_are_accepted(count, protected):
    assert aws_rules.check_instance_count("database.instance_count", count, protected=protected) == count


@pytest.mark.parametrize(
    ("count", "protected", "fragment"),
    [
        (0, False, "at least 1 instances"),
        (-1, False, "at least 1 instances"),
        (1, True, "a writer and a replica in another AZ"),
        (17, False, "at most 16 instances"),
    ],
    ids=["zero", "negative", "one-on-protected", "seventeen"],
)
def test_instance_counts_outside_limits_are_rejected(count, protected, fragment):
    exc = violation(aws_rules.check_instance_count, "database.instance_count", count, protected=protected)
    assert fragment in exc.rule


# --- Backtrack, backups --------------------------------------------------------------------------


@pytest.mark.parametrize("hours", [0, 1, 24, 72])
def test_backtrack_up_to_72_hours_is_accepted_on_regional_clusters(hours):
    assert aws_rules.check_backtrack("database.backtrack_hours", hours, global_database=False) == hours


@pytest.mark.parametrize("hours", [-1, 73, 1000])
def test_backtrack_outside_0_to_72_hours_is_rejected(hours):
    exc = violation(aws_rules.check_backtrack, "database.backtrack_hours", hours, global_database=False)
    assert "0 to 72 hours" in exc.rule


def test_backtrack_on_a_global_database_is_refused_with_the_reason_and_the_alternative():
    assert aws_rules.check_backtrack("database.backtrack_hours", 0, global_database=True) == 0
    exc = violation(aws_rules.check_backtrack, "database.backtrack_hours", 24, global_database=True)

    assert "does not support backtrack" in exc.rule
    assert "global database" in exc.rule
    assert "point-in-time restore" in exc.fix
    assert "Backtrack" in exc.source


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (35, True), (36, False)])
def test_backup_retention_is_1_to_35_days(days, ok):
    if ok:
        assert aws_rules.check_backup_retention("database.backup_retention_days", days) == days
    else:
        exc = violation(aws_rules.check_backup_retention, "database.backup_retention_days", days)
        assert "1 to 35 days" in exc.rule


@pytest.mark.parametrize("window", ["03:00-04:00", "23:30-00:00", "22:45-01:15", "00:00-00:30"])
def test_backup_windows_of_at_least_30_minutes_are_accepted_even_across_midnight(window):
    assert aws_rules.check_backup_window("database.backup_window", window) == window


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ("03:00-03:29", "at least 30 minutes"),
        ("03:00-03:00", "at least 30 minutes"),
        ("3:00-4:00", "hh24:mi-hh24:mi"),
        ("24:00-01:00", "hh24:mi-hh24:mi"),
        ("03:00 - 04:00", "hh24:mi-hh24:mi"),
    ],
)
def test_malformed_or_short_backup_windows_are_rejected(window, fragment):
    exc = violation(aws_rules.check_backup_window, "database.backup_window", window)
    assert fragment in exc.rule


@pytest.mark.parametrize(
    "window", ["sun:04:30-sun:05:30", "mon:00:00-mon:00:30", "sat:23:45-sun:00:15", "sun:23:30-mon:00:30"]
)
def test_weekly_maintenance_windows_of_at_least_30_minutes_are_accepted(window):
    assert aws_rules.check_maintenance_window("database.maintenance_window", window) == window


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ("sunday 4am", "ddd:hh24:mi-ddd:hh24:mi"),
        ("Sun:04:30-Sun:05:30", "ddd:hh24:mi-ddd:hh24:mi"),
        ("sun:4:30-sun:5:30", "ddd:hh24:mi-ddd:hh24:mi"),
        ("04:30-05:30", "ddd:hh24:mi-ddd:hh24:mi"),
        ("sun:04:30-sun:04:59", "at least 30 minutes"),
        ("sun:23:50-mon:00:10", "at least 30 minutes"),
    ],
)
def test_malformed_or_short_maintenance_windows_are_rejected(window, fragment):
    exc = violation(aws_rules.check_maintenance_window, "database.maintenance_window", window)
    assert fragment in exc.rule


@pytest.mark.parametrize(
    ("backup", "maintenance"),
    [
        ("03:00-04:00", "sun:04:30-sun:05:30"),
        ("04:00-04:30", "sun:04:30-sun:05:30"),  # touching is not overlapping
        ("23:00-23:30", "mon:00:00-mon:00:30"),
    ],
)
def test_disjoint_backup_and_maintenance_windows_are_accepted(backup, maintenance):
    aws_rules.check_windows_disjoint("database.backup_window", backup, maintenance)


@pytest.mark.parametrize(
    ("backup", "maintenance"),
    [
        ("04:00-05:00", "sun:04:30-sun:05:30"),
        ("05:00-06:00", "wed:04:30-wed:05:30"),
        ("23:30-00:30", "mon:00:00-mon:00:30"),  # the daily backup crosses midnight into Monday
        ("23:45-00:15", "sun:23:30-mon:00:30"),
    ],
    ids=["same-morning", "other-weekday", "backup-across-midnight", "both-across-the-week-boundary"],
)
def test_overlapping_backup_and_maintenance_windows_are_rejected(backup, maintenance):
    exc = violation(aws_rules.check_windows_disjoint, "database.backup_window", backup, maintenance)

    assert exc.rule == "the backup window must not overlap the maintenance window"
    assert exc.value == f"backup {backup}, maintenance {maintenance}"


def test_backup_overlapping_the_monday_part_of_a_week_wrapping_maintenance_window_is_rejected():
    violation(
        aws_rules.check_windows_disjoint, "database.backup_window", "00:00-00:30", "sun:23:30-mon:00:30"
    )


# --- Identifiers -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["prod-aurora-use1", "a", "A1", "x" * 63, "prod-aurora-global"])
def test_valid_db_identifiers_are_accepted(value):
    assert aws_rules.check_db_identifier("cluster_identifier", value) == value


@pytest.mark.parametrize(
    "value",
    ["", "1prod", "-prod", "prod-", "prod--aurora", "prod_aurora", "prod.aurora", "x" * 64],
    ids=[
        "empty",
        "leading-digit",
        "leading-hyphen",
        "trailing-hyphen",
        "double-hyphen",
        "underscore",
        "dot",
        "64",
    ],
)
def test_invalid_db_identifiers_are_rejected(value):
    exc = violation(aws_rules.check_db_identifier, "cluster_identifier", value)
    assert "1-63 letters, digits or hyphens" in exc.rule


def test_group_names_may_be_255_characters_but_not_256():
    assert aws_rules.check_group_name("name", "g" * 255)
    violation(aws_rules.check_group_name, "name", "g" * 256)
    violation(aws_rules.check_group_name, "name", "prod--params")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("prod-aurora-use1-health", True), ("a_b", True), ("f" * 64, True),
     ("f" * 65, False), ("prod.health", False), ("", False)],
)  # fmt: skip
def test_lambda_function_names_are_1_to_64_letters_digits_hyphens_underscores(value, ok):
    if ok:
        assert aws_rules.check_function_name("function_name", value) == value
    else:
        violation(aws_rules.check_function_name, "function_name", value)


@pytest.mark.parametrize("value", ["dev", "prod", "test-ab12", "e" * 20])
def test_valid_environment_names_are_accepted(value):
    assert aws_rules.check_environment_name("name", value) == value


@pytest.mark.parametrize(
    "value",
    ["Prod", "prod_1", "1prod", "prod-", "te--st", "e" * 21, "", "prod.eu"],
    ids=[
        "uppercase",
        "underscore",
        "leading-digit",
        "trailing-hyphen",
        "double-hyphen",
        "21-chars",
        "empty",
        "dot",
    ],
)
def test_invalid_environment_names_are_rejected(value):
    exc = violation(aws_rules.check_environment_name, "name", value)
    assert "environment names" in exc.rule


# --- DNS, alarms, misc ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("prod.db.internal", "prod.db.internal"), ("prod.db.internal.", "prod.db.internal"), ("a-1.b", "a-1.b")],
)
def test_zone_names_are_accepted_without_the_trailing_dot(value, normalised):
    assert aws_rules.check_zone_name("dns.zone_name", value) == normalised


@pytest.mark.parametrize(
    "value",
    ["internal", "Prod.db.internal", "prod_db.internal", "-prod.internal", "prod-.internal", "prod..internal",
     ("a" * 64) + ".internal", ".".join(["abcdefghi"] * 26)],
    ids=["one-label", "uppercase", "underscore", "leading-hyphen", "trailing-hyphen", "empty-label",
         "64-char-label", "over-253"],
)  # fmt: skip
def test_invalid_zone_names_are_rejected(value):
    exc = violation(aws_rules.check_zone_name, "dns.zone_name", value)
    assert "DNS name" in exc.rule


@pytest.mark.parametrize(("ttl", "ok"), [(0, False), (1, True), (5, True), (300, True), (301, False)])
def test_writer_record_ttl_is_1_to_300_seconds(ttl, ok):
    if ok:
        assert aws_rules.check_ttl("dns.ttl_seconds", ttl) == ttl
    else:
        assert "1 to 300 seconds" in violation(aws_rules.check_ttl, "dns.ttl_seconds", ttl).rule


@pytest.mark.parametrize(("period", "ok"), [(60, True), (120, True), (300, True), (10, False), (30, False),
                                            (90, False), (0, False)])  # fmt: skip
def test_alarm_periods_are_whole_minutes_for_route53_health_checks(period, ok):
    if ok:
        assert aws_rules.check_alarm_period("monitoring.alarm_period_seconds", period) == period
    else:
        exc = violation(aws_rules.check_alarm_period, "monitoring.alarm_period_seconds", period)
        assert "multiple of 60 seconds" in exc.rule


@pytest.mark.parametrize(("period", "evaluations"), [(60, 1), (60, 1440), (3600, 48)])
def test_alarm_windows_within_a_day_or_with_hourly_periods_are_accepted(period, evaluations):
    aws_rules.check_alarm_window("monitoring.alarm_evaluation_periods", period, evaluations)


@pytest.mark.parametrize(
    ("period", "evaluations", "fragment"),
    [(60, 0, "at least 1"), (60, 1441, "may not exceed one day"), (300, 289, "may not exceed one day")],
)
def test_alarm_windows_without_periods_or_beyond_a_day_are_rejected(period, evaluations, fragment):
    exc = violation(aws_rules.check_alarm_window, "monitoring.alarm_evaluation_periods", period, evaluations)
    assert fragment in exc.rule


@pytest.mark.parametrize(("value", "ok"), [(1, True), (0.5, True), (0, False), (-3, False)])
def test_thresholds_must_be_positive(value, ok):
    if ok:
        assert aws_rules.check_positive("monitoring.cpu_threshold_percent", value) == value
    else:
        assert violation(aws_rules.check_positive, "monitoring.cpu_threshold_percent", value).value == value


def test_schedules_run_at_most_once_a_minute():
    assert aws_rules.check_schedule_minutes("monitoring.health_check_minutes", 1) == 1
    assert "once a minute" in violation(aws_rules.check_schedule_minutes, "m", 0).rule


def test_require_keys_names_the_first_missing_key():
    aws_rules.require_keys("regions.us-east-1", {"vpcId": "v"}, ["vpcId"], fix="deploy it")
    exc = violation(
        aws_rules.require_keys, "regions.us-east-1", {"vpcId": "v"}, ["vpcId", "alarm"], fix="deploy it"
    )

    assert exc.field == "regions.us-east-1.alarm"
    assert exc.rule == "is required"
    assert exc.fix == "deploy it"
