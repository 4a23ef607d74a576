"""`infra upgrade check`: the read-only preflight against botocore Stubber answers per region
(moto has no DescribeOrderableDBInstanceOptions upgrade targets nor global-cluster switchover)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from typer.testing import CliRunner

from model.aws_rules import UpgradeKind
from orchestrator.cli import EXIT_FINDINGS, EXIT_OK, app
from orchestrator.cli import common as cli_common
from orchestrator.operate.upgrade import UpgradePreflight, preflight_upgrade
from tests.support.live_aws import (
    ENGINE,
    EU,
    GLOBAL_ID,
    PRIMARY,
    WEST,
    AwsFakes,
    aws_fakes,
    cluster_arn,
    db_cluster,
    env_data,
    given_failover_tables,
    global_cluster,
    make_env,
    put_lag,
)

MINOR = "8.0.mysql_aurora.3.10.5"
MAJOR = "8.4.mysql_aurora.8.4.7"
REGIONS = (PRIMARY, WEST, EU)
CLASS = "db.r6g.large"
LIFECYCLE = {"engine_lifecycle_support": "open-source-rds-extended-support-disabled"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    yield from aws_fakes(monkeypatch)


def env(target: str = MINOR, **database: Any) -> Any:
    return make_env(database={"engine_version": target, **LIFECYCLE, **database})


def engine_answer(
    version: str, *, targets: dict[str, bool] | None = None, global_ok: bool = True, family: str | None = None
) -> dict[str, Any]:
    """A DescribeDBEngineVersions answer; ``targets`` maps each ValidUpgradeTarget to IsMajorVersionUpgrade."""
    return {
        "DBEngineVersions": [
            {
                "Engine": "aurora-mysql",
                "EngineVersion": version,
                "DBParameterGroupFamily": family
                or ("aurora-mysql8.4" if version.startswith("8.4") else "aurora-mysql8.0"),
                "Status": "available",
                "SupportsGlobalDatabases": global_ok,
                "ValidUpgradeTarget": [
                    {
                        "Engine": "aurora-mysql",
                        "EngineVersion": t,
                        "IsMajorVersionUpgrade": major,
                        "SupportsGlobalDatabases": global_ok,
                    }
                    for t, major in (targets or {}).items()
                ],
            }
        ]
    }


def orderable(version: str, *, offered: bool = True, global_ok: bool = True) -> dict[str, Any]:
    options = (
        [
            {
                "Engine": "aurora-mysql",
                "EngineVersion": version,
                "DBInstanceClass": CLASS,
                "SupportsGlobalDatabases": global_ok,
                "Vpc": True,
            }
        ]
        if offered
        else []
    )
    return {"OrderableDBInstanceOptions": options}


def given(
    aws: AwsFakes,
    target: str,
    *,
    running: str = ENGINE,
    major: bool = False,
    offered: dict[str, bool] | None = None,
    valid: dict[str, bool] | None = None,
    global_ok: dict[str, bool] | None = None,
    sync: dict[str, str] | None = None,
    engines: dict[str, str] | None = None,
) -> dict[str, Stubber]:
    """Every read of the preflight, in the order it makes them, region by region."""
    given_failover_tables(aws)  # the switchover preconditions read the flight lock
    stubbers = {region: aws.stub("rds", region) for region in REGIONS}
    answer = global_cluster(sync=sync)
    answer["GlobalClusters"][0]["EngineVersion"] = running
    stubbers[PRIMARY].add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})
    for region in REGIONS:
        stub = stubbers[region]
        stub.add_response(
            "describe_orderable_db_instance_options",
            orderable(target, offered=(offered or {}).get(region, True)),
            {"Engine": "aurora-mysql", "EngineVersion": target, "DBInstanceClass": CLASS, "Vpc": True},
        )
        targets = {target: major} if (valid or {}).get(region, True) else {"8.0.mysql_aurora.3.10.4": False}
        stub.add_response(
            "describe_db_engine_versions",
            engine_answer(running, targets=targets, global_ok=(global_ok or {}).get(region, True)),
            {"Engine": "aurora-mysql", "EngineVersion": running},
        )
        stub.add_response(
            "describe_db_engine_versions",
            engine_answer(target, global_ok=(global_ok or {}).get(region, True)),
            {"Engine": "aurora-mysql", "EngineVersion": target},
        )
    # the switchover preconditions (plan_failover towards the first secondary)
    stubbers[WEST].add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})
    for region in REGIONS:
        engine = (engines or {}).get(region, running)
        stubbers[region].add_response(
            "describe_db_clusters",
            db_cluster(region, engine=engine),
            {"DBClusterIdentifier": cluster_arn(region)},
        )
    cloudwatch = aws.moto("cloudwatch", WEST)
    put_lag(
        cloudwatch,
        WEST,
        source=PRIMARY,
        value_ms=150.0,
        at=datetime.now(UTC) - timedelta(minutes=1),
        metric="AuroraGlobalDBRPOLag",
    )
    return stubbers


def failed(result: UpgradePreflight) -> list[str]:
    return [f"{c.region or '*'}:{c.name}" for c in result.problems]


def test_a_minor_upgrade_offered_everywhere_is_a_go_with_the_secondaries_first_order(aws: AwsFakes) -> None:
    given(aws, MINOR)

    result = preflight_upgrade(env(), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == []
    assert result.go and result.kind is UpgradeKind.MINOR
    assert result.current == ENGINE
    regions_checked = {c.region for c in result.checks if c.name == "valid_upgrade_target"}
    assert regions_checked == set(REGIONS)
    assert any(c.name == "switchover:engine_versions_match" and c.passed for c in result.checks)
    (step_primary, step_secondaries) = result.steps
    assert step_primary.startswith(f"prod.{PRIMARY}: GlobalCluster engine_version {ENGINE} -> {MINOR}")
    assert f"secondaries [{WEST}, {EU}] first, then the primary {PRIMARY}" in step_primary
    assert "members ignore engine_version" in step_secondaries
    assert "Go: every check passes. Nothing was changed." in result.render_text()
    aws.assert_all_responses_used()


def test_a_target_not_offered_for_the_instance_class_in_one_region_is_a_problem_there(aws: AwsFakes) -> None:
    given(aws, MINOR, offered={EU: False})

    result = preflight_upgrade(env(), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == [f"{EU}:offered_for_instance_class"]
    problem = result.problems[0]
    assert f"{MINOR} is not offered for {CLASS} in {EU}" in problem.message
    assert "No go: eu-west-1:offered_for_instance_class." in result.render_text()


def test_a_target_that_is_not_a_valid_upgrade_target_is_a_problem_naming_the_valid_ones(
    aws: AwsFakes,
) -> None:
    given(aws, MINOR, valid={WEST: False})

    result = preflight_upgrade(env(), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == [f"{WEST}:valid_upgrade_target"]
    assert "(valid: 8.0.mysql_aurora.3.10.4)" in result.problems[0].message


def test_a_target_without_global_database_support_in_a_region_is_a_problem(aws: AwsFakes) -> None:
    given(aws, MINOR, global_ok={WEST: False})

    result = preflight_upgrade(env(), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert set(failed(result)) == {f"{WEST}:global_database_supported"}


def test_failing_switchover_preconditions_are_problems_of_the_upgrade(aws: AwsFakes) -> None:
    given(aws, MINOR, sync={EU: "pending-resync"}, engines={EU: "8.0.mysql_aurora.3.10.4"})

    result = preflight_upgrade(env(), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == [
        f"{WEST}:switchover:engine_versions_match",
        f"{WEST}:switchover:members_synchronized",
    ]
    assert not result.go


def test_a_major_upgrade_without_allow_major_upgrade_is_refused_before_any_regional_read(
    aws: AwsFakes,
) -> None:
    stubbers = {PRIMARY: aws.stub("rds", PRIMARY)}
    answer = global_cluster()
    stubbers[PRIMARY].add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})

    result = preflight_upgrade(env(ENGINE), MAJOR, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == ["*:upgrade_allowed"]
    message = result.problems[0].message
    assert message.startswith("--to: a major version upgrade (8.0 -> 8.4) needs the environment to allow one")
    assert "database.allow_major_upgrade: true" in message
    aws.assert_all_responses_used()


def test_a_major_upgrade_plan_creates_the_new_family_groups_before_pointing_members_at_them(
    aws: AwsFakes,
) -> None:
    given(aws, MAJOR, major=True)

    result = preflight_upgrade(
        env(MAJOR, allow_major_upgrade=True), MAJOR, clients=aws.session(), now=datetime.now(UTC)
    )

    assert failed(result) == []
    assert result.kind is UpgradeKind.MAJOR
    create, modify, repoint, *secondaries = result.steps
    assert create.startswith(
        f"prod.{PRIMARY}: create the aurora-mysql8.4 cluster and instance parameter groups"
    )
    assert "ModifyGlobalCluster to 8.4.mysql_aurora.8.4.7 with AllowMajorVersionUpgrade" in modify
    assert "point the primary cluster and its instances at the aurora-mysql8.4 groups" in repoint
    assert [s.split(":")[0] for s in secondaries] == [f"prod.{WEST}", f"prod.{EU}"]
    assert all("create the aurora-mysql8.4 groups" in s for s in secondaries)


def test_a_downgrade_is_refused_with_the_newest_valid_target(aws: AwsFakes) -> None:
    stub = aws.stub("rds", PRIMARY)
    answer = global_cluster()
    answer["GlobalClusters"][0]["EngineVersion"] = MINOR
    stub.add_response("describe_global_clusters", answer, {"GlobalClusterIdentifier": GLOBAL_ID})

    result = preflight_upgrade(env(MINOR), ENGINE, clients=aws.session(), now=datetime.now(UTC))

    assert failed(result) == ["*:upgrade_allowed"]
    assert "cannot downgrade" in result.problems[0].message


def test_the_file_not_naming_the_target_is_a_warning_and_the_first_step(aws: AwsFakes) -> None:
    given(aws, MINOR)

    result = preflight_upgrade(env(ENGINE), MINOR, clients=aws.session(), now=datetime.now(UTC))

    assert result.go
    warning = next(c for c in result.checks if c.name == "environment_file_names_target")
    assert not warning.passed and not warning.blocking
    assert result.steps[0].startswith(f"first set database.engine_version: {MINOR}")


def test_the_cli_prints_a_table_and_exits_0_on_go_and_1_on_problems(
    aws: AwsFakes, monkeypatch, tmp_path
) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(env_data(database={"engine_version": MINOR, **LIFECYCLE})))
    monkeypatch.setattr(cli_common, "make_aws_session", lambda _env, _role: aws.session())
    given(aws, MINOR)
    runner = CliRunner()

    ok = runner.invoke(app, ["upgrade", "check", "--env-file", str(path), "--to", MINOR])
    assert ok.exit_code == EXIT_OK, ok.output
    assert "region" in ok.output and "valid_upgrade_target" in ok.output

    given(aws, MINOR, offered={WEST: False})
    bad = runner.invoke(app, ["upgrade", "check", "--env-file", str(path), "--to", MINOR, "--json"])
    assert bad.exit_code == EXIT_FINDINGS, bad.output
    document = json.loads(bad.stdout)
    assert document["go"] is False
    assert document["problems"] == [f"{WEST}:offered_for_instance_class"]
