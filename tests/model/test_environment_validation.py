"""The environment validator: every bad-input kind of issues 2 and 3, and the checked-in files.

Bad files are built from a checked-in environment (loaded with yaml, mutated, dumped to
tmp_path). Every rejection must produce a message that names the file, the field, the
rule, the value received and the fix, and must list exactly the one problem planted.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from model import aws_rules
from model.environment import (
    DEFAULT_ENVIRONMENT,
    ENVIRONMENTS_DIR,
    DeletionPolicy,
    Environment,
    EnvironmentFileError,
    UnknownEnvironmentError,
    checked_in_environment_names,
    environment_path,
    load_environment,
    load_environment_file,
    parse_environment,
)

Mutation = Callable[[dict[str, Any]], None]


def checked_in(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(environment_path(name).read_text())
    return data


def write_env(tmp_path: Path, data: Any, filename: str = "candidate.yaml") -> Path:
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def setting(dotted: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        target = data
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value

    return mutate


def removing(dotted: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        target = data
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def combined(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


ELEVEN_SECONDARIES = [
    "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ca-central-1",
]  # fmt: skip


def with_secondaries(regions: list[str]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["secondary_regions"] = regions
        data["network"]["cidrs"] = {
            data["primary_region"]: data["network"]["cidrs"][data["primary_region"]],
            **{region: f"10.{150 + i}.0.0/16" for i, region in enumerate(regions)},
        }

    return mutate


@dataclass(frozen=True)
class BadInput:
    base: str
    mutate: Mutation
    field: str
    rule: str
    got: str
    """The value as the message renders it, e.g. "(got '2')"."""


BAD_INPUTS: dict[str, BadInput] = {
    # --- wrong types -----------------------------------------------------------------------
    "instance-count-quoted": BadInput(
        "prod", setting("database.instance_count", "2"),
        "database.instance_count", "valid integer", "(got '2')",
    ),
    "instance-count-float": BadInput(
        "prod", setting("database.instance_count", 2.5),
        "database.instance_count", "valid integer", "(got 2.5)",
    ),
    "account-id-unquoted-int": BadInput(
        "prod", setting("account_id", 333333333333), "account_id", "valid string", "(got 333333333333)"
    ),
    "nat-gateway-yes-string": BadInput(
        "prod", setting("network.nat_gateway", "yes"), "network.nat_gateway", "valid boolean", "(got 'yes')"
    ),
    "failover-automated-string": BadInput(
        "prod", setting("failover.automated", "true"), "failover.automated", "valid boolean", "(got 'true')"
    ),
    "secondary-regions-not-a-list": BadInput(
        "prod", setting("secondary_regions", "us-west-2"),
        "secondary_regions", "valid tuple", "(got 'us-west-2')",
    ),
    "backup-retention-quoted": BadInput(
        "prod", setting("database.backup_retention_days", "14"), "database.backup_retention_days",
        "valid integer", "(got '14')",
    ),
    "database-not-a-mapping": BadInput(
        "prod", setting("database", ["db.r6g.large"]),
        "database", "valid dictionary", "(got ['db.r6g.large'])",
    ),
    "deletion-policy-unknown": BadInput(
        "prod", setting("deletion_policy", "forever"), "deletion_policy", "'protected' or 'ephemeral'",
        "(got 'forever')",
    ),
    "required-field-missing": BadInput(
        "prod", removing("deletion_policy"), "deletion_policy", "is required", "(got nothing)"
    ),
    # --- unknown keys ------------------------------------------------------------------------
    "unknown-top-level-key": BadInput(
        "prod", setting("colour", "blue"), "colour", "unknown key", "(got 'blue')"
    ),
    "unknown-nested-key": BadInput(
        "prod", setting("database.engine", "aurora-mysql"),
        "database.engine", "unknown key", "(got 'aurora-mysql')",
    ),
    "misspelt-nested-key": BadInput(
        "prod", setting("dns.ttl", 5), "dns.ttl", "unknown key", "(got 5)"
    ),
    # --- identity ----------------------------------------------------------------------------
    "name-invalid": BadInput(
        "prod", setting("name", "Prod_1"), "name", "environment names are 1-20 lowercase", "(got 'Prod_1')"
    ),
    "account-id-11-digits": BadInput(
        "prod", setting("account_id", "33333333333"), "account_id", "exactly 12 digits", "(got '33333333333')"
    ),
    "account-id-letters": BadInput(
        "prod", setting("account_id", "33333333333x"),
        "account_id", "exactly 12 digits", "(got '33333333333x')",
    ),
    "role-arn-not-a-role": BadInput(
        "prod", setting("deploy_role_arn", "arn:aws:iam::333333333333:user/deployer"), "deploy_role_arn",
        "must be an IAM role ARN", "(got 'arn:aws:iam::333333333333:user/deployer')",
    ),
    "role-in-another-account": BadInput(
        "prod", setting("deploy_role_arn", "arn:aws:iam::111111111111:role/aurora-deploy"), "deploy_role_arn",
        "must live in the environment's own account", "(got 'arn:aws:iam::111111111111:role/aurora-deploy')",
    ),
    "cost-center-blank": BadInput(
        "prod", setting("cost_center", "  "), "cost_center", "must not be empty", "(got '  ')"
    ),
    # --- regions ----------------------------------------------------------------------------
    "primary-region-unknown": BadInput(
        "prod", setting("primary_region", "us-east-9"), "primary_region", "must be an AWS region code",
        "(got 'us-east-9')",
    ),
    "secondary-region-unknown": BadInput(
        "prod", setting("secondary_regions", ["us-west-2", "eu-west-9"]), "secondary_regions[1]",
        "must be an AWS region code", "(got 'eu-west-9')",
    ),
    "secondary-equals-primary": BadInput(
        "prod", setting("secondary_regions", ["us-east-1"]), "secondary_regions[0]",
        "must differ from the primary region", "(got 'us-east-1')",
    ),
    "secondary-regions-duplicated": BadInput(
        "prod", setting("secondary_regions", ["us-west-2", "eu-west-1", "us-west-2"]), "secondary_regions[2]",
        "may appear only once", "(got 'us-west-2')",
    ),
    "more-than-ten-secondaries": BadInput(
        "prod", with_secondaries(ELEVEN_SECONDARIES), "secondary_regions",
        "at most 10 secondary regions", f"(got {ELEVEN_SECONDARIES!r}"[:60],  # a bounded excerpt
    ),
    # --- network -----------------------------------------------------------------------------
    "cidr-missing-for-a-region": BadInput(
        "prod", removing("network.cidrs.eu-west-1"), "network.cidrs.eu-west-1",
        "every region of the environment needs a VPC CIDR block", "(got None)",
    ),
    "cidr-for-an-unused-region": BadInput(
        "prod", setting("network.cidrs.ap-south-1", "10.33.0.0/16"), "network.cidrs.ap-south-1",
        "names a region the environment does not use", "(got '10.33.0.0/16')",
    ),
    "cidrs-overlap-within-the-file": BadInput(
        "prod", setting("network.cidrs.us-west-2", "10.30.128.0/17"), "network.cidrs",
        "must not overlap",
        "prod/us-west-2 10.30.128.0/17 (this file) overlaps prod/us-east-1 10.30.0.0/16 (this file) "
        "(got '10.30.128.0/17')",
    ),
    "cidr-not-rfc1918": BadInput(
        "prod", setting("network.cidrs.us-east-1", "11.30.0.0/16"), "network.cidrs.us-east-1",
        "RFC 1918", "(got '11.30.0.0/16')",
    ),
    "cidr-prefix-too-wide": BadInput(
        "prod", setting("network.cidrs.us-east-1", "10.0.0.0/8"), "network.cidrs.us-east-1",
        "prefix length must be /16 to /24", "(got '10.0.0.0/8')",
    ),
    "cidr-prefix-too-narrow": BadInput(
        "prod", setting("network.cidrs.us-east-1", "10.30.0.0/26"), "network.cidrs.us-east-1",
        "prefix length must be /16 to /24", "(got '10.30.0.0/26')",
    ),
    "cidr-host-bits-set": BadInput(
        "prod", setting("network.cidrs.us-east-1", "10.30.0.1/16"), "network.cidrs.us-east-1",
        "no host bits set", "(got '10.30.0.1/16')",
    ),
    "cidr-not-an-address": BadInput(
        "prod", setting("network.cidrs.us-east-1", "ten-thirty"), "network.cidrs.us-east-1",
        "CIDR notation", "(got 'ten-thirty')",
    ),
    # --- database -----------------------------------------------------------------------------
    "engine-5-7": BadInput(
        "prod", setting("database.engine_version", "5.7.mysql_aurora.2.11.2"), "database.engine_version",
        "end-of-life engine", "(got '5.7.mysql_aurora.2.11.2')",
    ),
    "engine-unknown-version": BadInput(
        "prod", setting("database.engine_version", "8.0.mysql_aurora.3.99.0"), "database.engine_version",
        "must be an Aurora MySQL version listed", "(got '8.0.mysql_aurora.3.99.0')",
    ),
    "burstable-class-on-global": BadInput(
        "prod", setting("database.instance_class", "db.t4g.medium"), "database.instance_class",
        "burstable db.t* classes are not supported", "(got 'db.t4g.medium')",
    ),
    "unknown-instance-class": BadInput(
        "dev", setting("database.instance_class", "db.m5.large"), "database.instance_class",
        "must be an Aurora MySQL DB instance class", "(got 'db.m5.large')",
    ),
    "backtrack-on-global": BadInput(
        "prod", setting("database.backtrack_hours", 24), "database.backtrack_hours",
        "does not support backtrack on clusters in an Aurora global database", "(got 24)",
    ),
    "backtrack-over-72-hours": BadInput(
        "dev", setting("database.backtrack_hours", 73), "database.backtrack_hours",
        "the backtrack window is 0 to 72 hours", "(got 73)",
    ),
    "backtrack-negative": BadInput(
        "dev", setting("database.backtrack_hours", -1), "database.backtrack_hours",
        "the backtrack window is 0 to 72 hours", "(got -1)",
    ),
    "backup-retention-0": BadInput(
        "prod", setting("database.backup_retention_days", 0), "database.backup_retention_days",
        "1 to 35 days", "(got 0)",
    ),
    "backup-retention-36": BadInput(
        "prod", setting("database.backup_retention_days", 36), "database.backup_retention_days",
        "1 to 35 days", "(got 36)",
    ),
    "maintenance-window-free-text": BadInput(
        "prod", setting("database.maintenance_window", "sunday 4am"), "database.maintenance_window",
        "ddd:hh24:mi-ddd:hh24:mi", "(got 'sunday 4am')",
    ),
    "maintenance-window-ten-minutes": BadInput(
        "prod", setting("database.maintenance_window", "sun:04:30-sun:04:40"), "database.maintenance_window",
        "at least 30 minutes", "(got 'sun:04:30-sun:04:40')",
    ),
    "backup-window-overlaps-maintenance": BadInput(
        "prod",
        combined(
            setting("database.backup_window", "04:00-05:00"),
            setting("database.maintenance_window", "sun:04:30-sun:05:30"),
        ),
        "database.backup_window", "must not overlap the maintenance window",
        "(got 'backup 04:00-05:00, maintenance sun:04:30-sun:05:30')",
    ),
    "master-username-leading-underscore": BadInput(
        "prod", setting("database.master_username", "_dbadmin"), "database.master_username",
        "start with a letter", "(got '_dbadmin')",
    ),
    "database-name-leading-digit": BadInput(
        "prod", setting("database.database_name", "1app"), "database.database_name",
        "start with a letter", "(got '1app')",
    ),
    "backup-window-too-short": BadInput(
        "prod", setting("database.backup_window", "03:00-03:15"), "database.backup_window",
        "at least 30 minutes", "(got '03:00-03:15')",
    ),
    "instance-count-0": BadInput(
        "dev", setting("database.instance_count", 0),
        "database.instance_count", "at least 1 instances", "(got 0)",
    ),
    "instance-count-1-on-protected": BadInput(
        "prod", setting("database.instance_count", 1), "database.instance_count",
        "a protected environment needs a writer and a replica in another AZ", "(got 1)",
    ),
    "instance-count-17": BadInput(
        "prod", setting("database.instance_count", 17),
        "database.instance_count", "at most 16 instances", "(got 17)",
    ),
    "master-username-reserved": BadInput(
        "prod", setting("database.master_username", "rdsadmin"), "database.master_username",
        "not be a reserved name", "(got 'rdsadmin')",
    ),
    "log-export-unknown": BadInput(
        "prod", setting("database.log_exports", ["error", "postgresql"]), "database.log_exports",
        "Aurora MySQL exports only", "(got 'postgresql')",
    ),
    "enhanced-monitoring-interval-invalid": BadInput(
        "prod", setting("database.enhanced_monitoring_interval", 45), "database.enhanced_monitoring_interval",
        "must be one of 0, 1, 5, 10, 15, 30, 60", "(got 45)",
    ),
    "secret-rotation-days-0": BadInput(
        "prod", setting("database.secret_rotation_days", 0), "database.secret_rotation_days",
        "every 1 to 1000 days", "(got 0)",
    ),
    # --- dns -------------------------------------------------------------------------------------
    "zone-name-single-label": BadInput(
        "prod", setting("dns.zone_name", "internal"),
        "dns.zone_name", "at least two labels", "(got 'internal')",
    ),
    "zone-name-uppercase-underscore": BadInput(
        "prod", setting("dns.zone_name", "Prod_DB.internal"), "dns.zone_name", "lowercase letters",
        "(got 'Prod_DB.internal')",
    ),
    "ttl-0": BadInput(
        "prod", setting("dns.ttl_seconds", 0),
        "dns.ttl_seconds", "1 to 300 seconds", "(got 0)",
    ),
    "ttl-301": BadInput(
        "prod", setting("dns.ttl_seconds", 301),
        "dns.ttl_seconds", "1 to 300 seconds", "(got 301)",
    ),
    "insufficient-data-status-unknown": BadInput(
        "prod", setting("dns.insufficient_data_health_status", "Maybe"),
        "dns.insufficient_data_health_status",
        "Healthy, Unhealthy or LastKnownStatus", "(got 'Maybe')",
    ),
    # --- monitoring --------------------------------------------------------------------------------
    "alarm-period-30": BadInput(
        "prod", setting("monitoring.alarm_period_seconds", 30), "monitoring.alarm_period_seconds",
        "multiple of 60 seconds", "(got 30)",
    ),
    "alarm-evaluation-periods-0": BadInput(
        "prod", setting("monitoring.alarm_evaluation_periods", 0), "monitoring.alarm_evaluation_periods",
        "at least 1", "(got 0)",
    ),
    "health-check-every-0-minutes": BadInput(
        "prod", setting("monitoring.health_check_minutes", 0), "monitoring.health_check_minutes",
        "at most once a minute", "(got 0)",
    ),
    "lag-threshold-0": BadInput(
        "prod", setting("monitoring.replication_lag_threshold_ms", 0),
        "monitoring.replication_lag_threshold_ms",
        "must be greater than zero", "(got 0)",
    ),
    "cpu-threshold-negative": BadInput(
        "prod", setting("monitoring.cpu_threshold_percent", -5), "monitoring.cpu_threshold_percent",
        "must be greater than zero", "(got -5)",
    ),
    "connections-threshold-0": BadInput(
        "prod", setting("monitoring.connections_threshold", 0), "monitoring.connections_threshold",
        "must be greater than zero", "(got 0)",
    ),
    "log-retention-0": BadInput(
        "prod", setting("monitoring.log_retention_days", 0), "monitoring.log_retention_days",
        "must be greater than zero", "(got 0)",
    ),
    # --- failover ------------------------------------------------------------------------------------
    "failover-automated-on-regional": BadInput(
        "dev", setting("failover.automated", True), "failover.automated",
        "needs at least one secondary region", "(got True)",
    ),
    "rpo-budget-0": BadInput(
        "prod", setting("failover.rpo_budget_seconds", 0), "failover.rpo_budget_seconds",
        "must be greater than zero", "(got 0)",
    ),
    "unhealthy-minutes-negative": BadInput(
        "prod", setting("failover.unhealthy_minutes", -1), "failover.unhealthy_minutes",
        "must be greater than zero", "(got -1)",
    ),
    "cooldown-0": BadInput(
        "prod", setting("failover.cooldown_minutes", 0), "failover.cooldown_minutes",
        "must be greater than zero", "(got 0)",
    ),
}  # fmt: skip


def load_bad(tmp_path: Path, case: BadInput) -> EnvironmentFileError:
    data = copy.deepcopy(checked_in(case.base))
    case.mutate(data)
    path = write_env(tmp_path, data)
    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)
    return info.value


@pytest.mark.parametrize("case", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_is_rejected_with_file_field_rule_value_and_fix(tmp_path, case):
    # GIVEN a checked-in environment with exactly one fault planted
    # WHEN the file is validated
    error = load_bad(tmp_path, case)

    # THEN one problem is reported, naming the file, field, rule, value and fix
    message = str(error)
    assert error.path == str(tmp_path / "candidate.yaml")
    assert message.startswith(f"invalid environment file {tmp_path / 'candidate.yaml'}:")
    assert len(error.problems) == 1, error.problems
    problem = error.problems[0]
    assert problem.startswith(f"{case.field}: "), problem
    assert case.rule in problem
    assert case.got in problem
    fix = problem.split("Fix: ", 1)[1]
    assert fix.strip(), "the fix must say what to do"


def test_every_problem_of_a_file_with_several_faults_is_listed(tmp_path):
    data = checked_in("prod")
    combined(
        setting("database.instance_count", "2"),
        setting("colour", "blue"),
        setting("network.nat_gateway", "no"),
    )(data)

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(write_env(tmp_path, data))

    fields = sorted(p.split(":", 1)[0] for p in info.value.problems)
    assert fields == ["colour", "database.instance_count", "network.nat_gateway"]
    assert all("Fix: " in p for p in info.value.problems)


def test_backtrack_refusal_on_a_global_environment_names_the_alternative(tmp_path):
    error = load_bad(tmp_path, BAD_INPUTS["backtrack-on-global"])

    assert "point-in-time restore within backup_retention_days" in error.problems[0]
    assert "backtrack_hours: 0" in error.problems[0]


def test_engine_5_7_refusal_says_why_and_which_version_to_use(tmp_path):
    error = load_bad(tmp_path, BAD_INPUTS["engine-5-7"])

    assert "end of standard support" in error.problems[0]
    assert aws_rules.recommended_engine_version() in error.problems[0]


def test_secondary_limit_message_cites_the_aws_page(tmp_path):
    error = load_bad(tmp_path, BAD_INPUTS["more-than-ten-secondaries"])

    assert aws_rules.SECONDARY_REGIONS_SOURCE in error.problems[0]


def test_ten_secondary_regions_are_accepted(tmp_path):
    data = checked_in("prod")
    with_secondaries(ELEVEN_SECONDARIES[:10])(data)

    env = load_environment_file(write_env(tmp_path, data))

    assert len(env.secondary_regions) == 10


# --- File-level problems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "rule", "fix"),
    [
        ("", "is empty", "copy environments/dev.yaml"),
        ("   \n\n", "is empty", "copy environments/dev.yaml"),
        ("---\n", "is empty", "copy environments/dev.yaml"),
        ("name: [dev\naccount_id: '1'\n", "is not valid YAML", "correct the syntax"),
        ("name: dev\n  bad indent: x\n", "is not valid YAML", "correct the syntax"),
        ("- dev\n- prod\n", "must be a mapping of fields (got list)", "see README.md"),
        ("just words\n", "must be a mapping of fields (got str)", "see README.md"),
    ],
    ids=["empty", "whitespace-only", "empty-document", "unclosed-bracket", "bad-indent", "list", "scalar"],
)
def test_unusable_files_are_rejected_naming_the_file(tmp_path, content, rule, fix):
    path = tmp_path / "broken.yaml"
    path.write_text(content)

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)

    assert str(path) in str(info.value)
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.startswith("(file): ")
    assert rule in problem
    assert f"Fix: {fix}" in problem


def test_missing_file_is_rejected_listing_the_checked_in_environments(tmp_path):
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)

    assert str(path) in str(info.value)
    problem = info.value.problems[0]
    assert "does not exist" in problem
    assert "Fix: " in problem
    for name in ("dev", "prod", "staging"):
        assert name in problem
    assert "--env-file" in problem


def test_file_that_is_not_utf8_is_rejected(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"name: \xff\xfe\n")

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)

    assert "cannot be read" in info.value.problems[0]
    assert "Fix: " in info.value.problems[0]


def test_unknown_checked_in_environment_names_the_available_ones():
    with pytest.raises(UnknownEnvironmentError) as info:
        load_environment("nope")

    assert "environments/nope.yaml" in str(info.value)
    assert all(name in str(info.value) for name in checked_in_environment_names())


def test_parse_environment_names_the_source_given():
    with pytest.raises(EnvironmentFileError) as info:
        parse_environment({"name": "x"}, path="stack config aurora:environmentDefinition")

    assert str(info.value).startswith("invalid environment file stack config aurora:environmentDefinition:")


# --- Overlaps with other environments of the organisation ----------------------------------------


def qa_environment(cidr: str) -> dict[str, Any]:
    """A new regional environment 'qa' in its own account, claiming ``cidr`` in us-east-1."""
    data = checked_in("dev")
    data.update(
        name="qa",
        account_id="555555555555",
        deploy_role_arn="arn:aws:iam::555555555555:role/aurora-deploy",
        network={"cidrs": {"us-east-1": cidr}},
        dns={"zone_name": "qa.db.internal"},
    )
    return data


def test_new_environment_with_its_own_block_is_accepted(tmp_path):
    env = load_environment_file(write_env(tmp_path, qa_environment("10.99.0.0/16"), "qa.yaml"))

    assert env.name == "qa"


@pytest.mark.parametrize(
    ("cidr", "conflict"),
    [
        ("10.30.0.0/16", "prod/us-east-1 10.30.0.0/16"),
        ("10.31.128.0/17", "prod/us-west-2 10.31.0.0/16"),
        ("10.21.4.0/24", "staging/us-west-2 10.21.0.0/16"),
        ("10.10.0.0/20", "dev/us-east-1 10.10.0.0/16"),
    ],
    ids=["same-block-as-prod", "inside-prod-secondary-other-region", "inside-staging", "inside-dev"],
)
def test_block_overlapping_another_checked_in_environment_is_rejected(tmp_path, cidr, conflict):
    path = write_env(tmp_path, qa_environment(cidr), "qa.yaml")

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)

    assert info.value.path == str(path)
    problem = info.value.problems[0]
    assert problem.startswith("network.cidrs: ")
    assert "must not overlap across the regions and environments" in problem
    assert conflict in problem
    assert f"qa/us-east-1 {cidr}" in problem
    assert "Fix: choose a block no other environment or region uses" in problem


def test_overlap_with_a_checked_in_environment_names_both_files(tmp_path):
    path = write_env(tmp_path, qa_environment("10.30.0.0/16"), "qa.yaml")

    with pytest.raises(EnvironmentFileError) as info:
        load_environment_file(path)

    problem = info.value.problems[0]
    assert "prod/us-east-1 10.30.0.0/16 (environments/prod.yaml)" in problem
    assert f"qa/us-east-1 10.30.0.0/16 ({path})" in problem


def test_a_variant_of_an_environment_is_not_compared_with_its_own_checked_in_file(tmp_path):
    # A copy of prod (same name, same blocks) passed with --env-file is the same environment,
    # not a second claim on its blocks.
    data = checked_in("prod")
    data["database"]["instance_count"] = 3

    env = load_environment_file(write_env(tmp_path, data, "prod-bigger.yaml"))

    assert env.database.instance_count == 3


def test_organisation_check_can_be_skipped_for_a_single_file(tmp_path):
    env = load_environment_file(write_env(tmp_path, qa_environment("10.30.0.0/16")), check_organisation=False)

    assert env.network.cidrs == {"us-east-1": "10.30.0.0/16"}


# --- The checked-in environments --------------------------------------------------------------------


def test_checked_in_environments_include_dev_staging_prod_and_the_test_template():
    assert {"dev", "staging", "prod", "test"} <= set(checked_in_environment_names())


@pytest.mark.parametrize("name", checked_in_environment_names())
def test_every_checked_in_environment_loads_under_its_file_name(name):
    env = load_environment(name)

    assert env.name == name
    assert set(env.network.cidrs) == set(env.regions)


def test_checked_in_environments_use_disjoint_blocks_and_distinct_accounts():
    envs = [load_environment(name) for name in checked_in_environment_names()]
    claims = [c for env in envs for c in env.cidr_claims(source=f"environments/{env.name}.yaml")]

    aws_rules.check_no_overlap("network.cidrs", claims)
    assert len({env.account_id for env in envs}) == len(envs)


def test_default_environment_is_dev_never_prod():
    assert DEFAULT_ENVIRONMENT == "dev"
    assert environment_path(DEFAULT_ENVIRONMENT) == ENVIRONMENTS_DIR / "dev.yaml"


def test_dev_is_a_regional_ephemeral_cluster_with_a_24_hour_backtrack():
    dev = load_environment("dev")

    assert not dev.is_global
    assert dev.regions == (dev.primary_region,)
    assert dev.deletion_policy is DeletionPolicy.EPHEMERAL
    assert dev.backtrack_hours == 24


@pytest.mark.parametrize("name", ["staging", "prod", "test"])
def test_staging_prod_and_test_are_global_without_backtrack(name):
    env = load_environment(name)

    assert env.is_global
    assert env.primary_region not in env.secondary_regions
    assert env.backtrack_hours == 0


def test_prod_and_staging_are_protected_and_test_is_ephemeral():
    assert load_environment("prod").protected
    assert load_environment("staging").protected
    assert not load_environment("test").protected


def test_staging_states_its_deletion_policy_in_its_file():
    assert "deletion_policy" in checked_in("staging")


def test_backtrack_defaults_to_24_hours_on_regional_and_0_on_global(tmp_path):
    dev = checked_in("dev")
    dev["database"].pop("backtrack_hours", None)
    prod = checked_in("prod")
    prod["database"].pop("backtrack_hours", None)

    regional = load_environment_file(write_env(tmp_path, dev, "dev.yaml"))
    global_ = load_environment_file(write_env(tmp_path, prod, "prod.yaml"))

    assert regional.database.backtrack_hours is None
    assert regional.backtrack_hours == 24
    assert global_.backtrack_hours == 0


def test_optional_sections_take_their_documented_defaults(tmp_path):
    data = {
        "name": "mini",
        "account_id": "666666666666",
        "deploy_role_arn": "arn:aws:iam::666666666666:role/aurora-deploy",
        "primary_region": "eu-west-1",
        "deletion_policy": "ephemeral",
        "cost_center": "db-platform-mini",
        "network": {"cidrs": {"eu-west-1": "10.98.0.0/16"}},
        "database": {"engine_version": "8.0.mysql_aurora.3.10.3", "instance_count": 1},
        "dns": {"zone_name": "mini.db.internal"},
    }

    env = load_environment_file(write_env(tmp_path, data))

    assert env.secondary_regions == ()
    assert env.network.nat_gateway is False
    assert env.database.instance_class == "db.r6g.large"
    assert env.database.backup_retention_days == 7
    assert env.dns.ttl_seconds == 5
    assert env.dns.insufficient_data_health_status == "Unhealthy"
    assert env.failover.automated is False
    assert env.failover.dry_run is True
    assert env.monitoring.alarm_period_seconds == 60
    assert env.tags == {}


def test_required_tags_cannot_be_overridden_by_extra_tags(tmp_path):
    data = checked_in("prod")
    data["tags"] = {"Environment": "dev", "CostCenter": "someone-else", "Team": "db"}

    env = load_environment_file(write_env(tmp_path, data))

    assert env.base_tags() == {
        "Team": "db",
        "Environment": "prod",
        "Project": "aurora-global",
        "ManagedBy": "pulumi",
        "CostCenter": "db-platform-prod",
    }


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_definition_round_trips_through_stack_config(name):
    env = load_environment(name)

    again = parse_environment(json.loads(env.to_config_json()), path="config")

    assert again == env
    assert isinstance(again, Environment)
