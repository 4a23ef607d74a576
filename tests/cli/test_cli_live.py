"""`infra status` and `infra failover` through the CLI (AWS faked as in test_live_status)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from orchestrator import cli
from orchestrator.cli import common as cli_common
from orchestrator.deploy.runner import InProcessRunner
from orchestrator.operate import failover as failover_ops
from tests.support.live_aws import (
    HEALTHY,
    UNHEALTHY,
    AwsFakes,
    aws_fakes,
    env_data,
    given_live_state,
    healthy_deployment,
    stub_dns,
)

runner = CliRunner()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    yield from aws_fakes(monkeypatch)


@pytest.fixture
def env_file(tmp_path: Path, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(env_data()))
    monkeypatch.setattr(cli_common, "make_aws_session", lambda env, role_arn: aws.session())
    monkeypatch.setattr(cli_common, "make_runner", lambda env: InProcessRunner(account_id=env.account_id))
    return path


def test_status_of_a_healthy_environment_exits_0_and_shows_the_writer(aws: AwsFakes, env_file: Path) -> None:
    healthy_deployment(aws, datetime.now(UTC))
    stub_dns(aws, health={"us-east-1": HEALTHY, "us-west-2": UNHEALTHY})
    result = runner.invoke(cli.app, ["status", "--env-file", str(env_file), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["live"]["writer_region"] == "us-east-1" and doc["live"]["ok"] is True
    assert [s["name"] for s in doc["stacks"]] == [
        "prod.us-east-1",
        "prod.us-west-2",
        "prod.eu-west-1",
        "prod.dns",
        "prod.failover",
    ]
    assert doc["stacks"][0]["exists"] is False  # nothing deployed in this (in-process) backend


def test_status_after_a_failover_exits_0_and_shows_home_and_writer_apart(
    aws: AwsFakes, env_file: Path
) -> None:
    healthy_deployment(aws, datetime.now(UTC), writer="us-west-2")
    stub_dns(aws, health={"us-east-1": UNHEALTHY, "us-west-2": HEALTHY})
    result = runner.invoke(cli.app, ["status", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.stdout
    assert "Home region: us-east-1" in result.stdout and "Writer: us-west-2 (away from home" in result.stdout


def test_unplanned_failover_without_allow_data_loss_is_refused_and_calls_nothing(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws, writer="us-east-1")
    sessions: list[str] = []
    monkeypatch.setattr(cli_common, "make_aws_session", lambda env, role_arn: sessions.append(env.name))
    result = runner.invoke(
        cli.app, ["failover", "--env-file", str(env_file), "--to", "us-west-2", "--unplanned"]
    )
    assert result.exit_code == 5
    assert "--unplanned needs --allow-data-loss" in result.stderr
    assert "nothing was changed" in result.stderr.lower()
    assert sessions == [] and aws.action == {}  # refused before any credential was looked at


def test_failover_to_a_region_outside_the_environment_is_refused_before_any_credential_check(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions: list[str] = []
    monkeypatch.setattr(cli_common, "make_aws_session", lambda env, role_arn: sessions.append(env.name))
    result = runner.invoke(cli.app, ["failover", "--env-file", str(env_file), "--to", "ap-south-1", "--json"])
    assert result.exit_code == 5
    assert "--to ap-south-1: not a region of prod" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == 5
    assert sessions == []


def test_failover_dry_run_checks_the_preconditions_only(aws: AwsFakes, env_file: Path) -> None:
    given_live_state(aws)
    result = runner.invoke(
        cli.app, ["failover", "--env-file", str(env_file), "--to", "us-west-2", "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["plan"]["allowed"] is True and doc["plan"]["api"]["call"] == "switchover_global_cluster"
    assert doc["timeline"] is None and aws.action == {}


def test_switchover_of_a_protected_environment_needs_yes_when_not_interactive(
    aws: AwsFakes, env_file: Path
) -> None:
    given_live_state(aws)
    result = runner.invoke(cli.app, ["failover", "--env-file", str(env_file), "--to", "us-west-2"])
    assert result.exit_code == 5 and "--yes" in result.stderr
    assert aws.action == {}


def test_switchover_with_yes_runs_and_prints_the_timeline(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    calls: list[Any] = []

    def fake_execute(plan: Any, clients: Any, *, on_progress: Any) -> Any:
        calls.append(plan.request)
        return failover_ops.Timeline(
            env_name="prod",
            operation=plan.operation,
            global_cluster_id=plan.global_cluster_id,
            target_region=plan.target_region,
            file_primary_region="us-east-1",
            outcome="verified",
        )

    monkeypatch.setattr(failover_ops, "execute_failover", fake_execute)
    result = runner.invoke(cli.app, ["failover", "--env-file", str(env_file), "--to", "us-west-2", "--yes"])
    assert result.exit_code == 0, result.output
    assert calls == [{"GlobalClusterIdentifier": "prod-aurora-global",
                      "TargetDbClusterIdentifier": "arn:aws:rds:us-west-2:123456789012:cluster:prod-aurora-usw2"}]  # fmt: skip
    assert "After a failover" in result.stdout


def test_a_refused_switchover_under_json_carries_the_error_object(aws: AwsFakes, env_file: Path) -> None:
    # GIVEN a target whose engine version differs from the writer's (a failed precondition)
    given_live_state(aws, engines={"us-west-2": "8.0.mysql_aurora.3.04.0"})
    result = runner.invoke(cli.app, ["failover", "--env-file", str(env_file), "--to", "us-west-2", "--json"])
    assert result.exit_code == 5
    doc = json.loads(result.stdout)  # one document: the plan and the error
    assert doc["plan"]["allowed"] is False
    assert doc["error"]["code"] == 5 and doc["error"]["kind"] == "refused"
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        "error: " + doc["error"]["message"]
    ]
    assert aws.action == {}
