"""Whatever the validator accepts, AWS and the product's own Lambda code accept too (issue 10 §2).

Each refusal of the bootstrap Lambda and each AWS limit on names, tags, e-mail endpoints and
expiry times is paired with the validator: the validator refuses what the deployment would
refuse, and accepts what it accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src.common import bootstrap_sql as bootstrap
from model import aws_rules
from model.environment import (
    APP_USERS,
    EnvironmentFileError,
    ExpiryError,
    environment_path,
    load_environment_file,
    parse_environment,
    parse_expiry,
)


def prod_with(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(environment_path("prod").read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return data


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(EnvironmentFileError) as info:
        parse_environment(data, path="candidate.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def bootstrap_refuses(database: str = "app", master: str = "dbadmin") -> bool:
    users = [bootstrap.UserSpec(role, name, "pw") for role, name in APP_USERS.items()]
    try:
        bootstrap.validate(database, users, master_username=master)
    except bootstrap.InvalidBootstrapRequest:
        return True
    return False


# --- Database name and master user: the bootstrap Lambda's refusals --------------------------------


def test_the_application_users_are_the_ones_bootstrap_knows():
    assert set(APP_USERS) == set(bootstrap.ROLE_PRIVILEGES)


def test_the_system_schemas_are_the_ones_bootstrap_refuses():
    assert aws_rules.SYSTEM_SCHEMAS == bootstrap.SYSTEM_SCHEMAS


@pytest.mark.parametrize("name", [*sorted(bootstrap.SYSTEM_SCHEMAS), "SYS", "Mysql"])
def test_a_database_name_bootstrap_refuses_is_refused_by_the_plan(name):
    if len(name) > 16:  # information_schema, performance_schema: over the product's limit too
        assert bootstrap_refuses(database=name)
        assert "1-16 ASCII letters" in refusal(prod_with(database__database_name=name))
        return
    assert bootstrap_refuses(database=name)
    problem = refusal(prod_with(database__database_name=name))
    assert problem.startswith("database.database_name: must not be a system schema")
    assert f"(got {name!r})" in problem


@pytest.mark.parametrize("name", ["app", "orders", "app_v2", "A1"])
def test_a_database_name_the_plan_accepts_bootstrap_accepts(name):
    env = parse_environment(prod_with(database__database_name=name), path="candidate.yaml")
    assert env.database.database_name == name
    assert not bootstrap_refuses(database=name)


@pytest.mark.parametrize("user", sorted(APP_USERS.values()))
def test_a_master_username_equal_to_an_application_user_is_refused_as_bootstrap_would(user):
    assert bootstrap_refuses(master=user)
    problem = refusal(prod_with(database__master_username=user))
    assert problem.startswith("database.master_username: ")
    # app_rw etc. contain underscores: refused by the RDS rule first, which is also true
    assert "no underscores" in problem or "application users" in problem


def test_the_application_user_rule_itself_names_the_users():
    with pytest.raises(aws_rules.RuleViolation) as info:
        aws_rules.check_master_username("database.master_username", "approot", application_users=["approot"])
    assert "bootstrap refuses a user that is the master user" in info.value.rule


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("db_admin", "no underscores"),  # RDS CreateDBCluster: letters or numbers only
        ("select", "MySQL reserved word"),
        ("Table", "MySQL reserved word"),
        ("rdsadmin", "reserved name"),
        ("a" * 17, "1-16 ASCII letters"),
    ],
)
def test_master_usernames_rds_refuses_are_refused(name, rule):
    assert rule in refusal(prod_with(database__master_username=name))


@pytest.mark.parametrize("name", ["order", "select", "database"])
def test_database_names_that_are_mysql_reserved_words_are_refused(name):
    assert "MySQL reserved word" in refusal(prod_with(database__database_name=name))


# --- Tags: AWS's limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "rule"),
    [
        ({"aws:owner": "x"}, "tag keys starting with aws: are reserved"),
        ({"AWS:Owner": "x"}, "tag keys starting with aws: are reserved"),
        ({"Owner": "aws:me"}, "tag values starting with aws: are reserved"),
        ({"k" * 129: "x"}, "a tag key is 1-128"),
        ({"Owner": "v" * 257}, "a tag value is 0-256"),
        ({"Owner": "semi;colon"}, "a tag value is 0-256 letters, digits, spaces or _ . : / = + - @"),
        ({f"Extra{i}": "x" for i in range(45)}, "at most 50 tags per resource"),
    ],
    ids=["aws-key", "aws-key-upper", "aws-value", "long-key", "long-value", "bad-character", "too-many"],
)
def test_tags_aws_refuses_are_refused(tags, rule):
    assert rule in refusal(prod_with(tags=tags))


def test_the_largest_tags_aws_accepts_are_accepted():
    tags = {f"Extra{i}": "v" * 256 for i in range(43)} | {"k" * 128: "Team A/b.c:d=e+f-g@h_i"}
    env = parse_environment(prod_with(tags=tags), path="candidate.yaml")
    # the providers' default tags plus a cluster's own (Name, AuroraRole): exactly AWS's limit
    assert len(env.base_tags()) + aws_rules.RESOURCE_OWN_TAGS == aws_rules.MAX_TAGS_PER_RESOURCE


def test_a_cost_center_too_long_for_a_tag_value_is_refused_naming_cost_center():
    problem = refusal(prod_with(cost_center="c" * 257))
    assert problem.startswith("cost_center: a tag value is 0-256")


# --- Notification e-mail addresses ----------------------------------------------------------------


@pytest.mark.parametrize("address", ["oncall", "oncall@", "@example.com", "on call@example.com",
                                     "oncall@example", "a@b..com", "x" * 250 + "@example.com"])  # fmt: skip
def test_a_notification_address_that_is_not_an_email_address_is_refused(address):
    problem = refusal(prod_with(monitoring__notification_emails=["ok@example.com", address]))
    assert problem.startswith("monitoring.notification_emails[1]: must be an e-mail address")


def test_ordinary_email_addresses_are_accepted():
    addresses = ["oncall@example.com", "db-team+alerts@mail.example.co.uk", "First.Last@example.io"]
    env = parse_environment(prod_with(monitoring__notification_emails=addresses), path="candidate.yaml")
    assert env.monitoring.notification_emails == tuple(addresses)


# --- Expiry: one parser for the validator and the reaper -----------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2026-12-31T18:00:00Z", "2026-12-31T18:00:00+00:00", "2026-12-31T19:00:00+01:00",
     "2026-12-31T18:00:00.000Z", "2026-12-31 18:00:00Z", "2026-12-31T18:00Z"],
)  # fmt: skip
def test_every_iso_8601_form_with_a_zone_is_read_as_the_same_instant(text):
    assert parse_expiry(text) == datetime(2026, 12, 31, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["tomorrow", "2026-12-31", "2026-12-31T18:00:00", "", "31/12/2026 18:00Z"])
def test_an_expiry_without_a_time_or_a_zone_is_refused(text):
    with pytest.raises(ExpiryError):
        parse_expiry(text)
    data = yaml.safe_load(environment_path("test").read_text())
    data["expires_at"] = text
    problem = refusal(data)
    assert problem.startswith("expires_at: must be an ISO 8601 timestamp with a time zone")


def test_an_accepted_expiry_is_stored_in_the_one_spelling_the_tags_use(tmp_path: Path):
    data = yaml.safe_load(environment_path("test").read_text())
    data["expires_at"] = "2026-12-31T19:00:00+01:00"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_environment_file(path, check_organisation=False).expires_at == "2026-12-31T18:00:00Z"
