"""`infra failover` shares the deciders' flight lock; `infra failover arm|disarm|status`.

AWS is faked as in test_cli_live (Stubber for RDS, moto for CloudWatch, STS and the failover
tables); the failover request itself is replaced by a fake that records what it saw, so each
test can assert the lock state at the moment the request was sent and afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from lambda_src.failover.store import ArmRecord, DynamoRegionStore
from orchestrator import cli
from orchestrator.cli import common as cli_common
from orchestrator.deploy.runner import InProcessRunner
from orchestrator.operate import failover as failover_ops
from tests.support.live_aws import (
    EU,
    GLOBAL_ID,
    PRIMARY,
    WEST,
    AwsFakes,
    aws_fakes,
    env_data,
    failover_table,
    given_live_state,
    healthy_deployment,
    stub_dns,
)

runner = CliRunner()
MOVE = ["--to", WEST, "--yes"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsFakes]:
    yield from aws_fakes(monkeypatch)


def write_env(tmp_path: Path, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(env_data(**overrides)))

    def session(env: Any, role_arn: Any) -> Any:
        for region in env.regions:
            aws.read.setdefault(("sts", region), boto3.client("sts", region_name=region))
        verified = aws.session()
        verified.verify_account(env)  # moto's STS: the caller's ARN names who took the lock
        return verified

    monkeypatch.setattr(cli_common, "make_aws_session", session)
    monkeypatch.setattr(cli_common, "make_runner", lambda env: InProcessRunner(account_id=env.account_id))
    return path


@pytest.fixture
def env_file(tmp_path: Path, aws: AwsFakes, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_env(tmp_path, aws, monkeypatch)


def store(aws: AwsFakes, region: str) -> DynamoRegionStore:
    return DynamoRegionStore(
        client=aws.read[("dynamodb", region)],
        table=failover_table(region),
        global_cluster_id=GLOBAL_ID,
        region=region,
    )


def lock_item(aws: AwsFakes, region: str) -> dict[str, Any]:
    client = aws.read[("dynamodb", region)]
    if failover_table(region) not in client.list_tables()["TableNames"]:
        return {}
    answer = client.get_item(
        TableName=failover_table(region), Key={"pk": {"S": f"lock#{GLOBAL_ID}"}, "sk": {"S": "lock"}}
    )
    return answer.get("Item", {})


class FakeExecution:
    """Stands in for execute_failover: emits the events the real one would and records the lock
    items of every region at the moment the request is 'sent'."""

    def __init__(self, aws: AwsFakes, *, raises: type[failover_ops.FailoverError] | None = None) -> None:
        self.aws = aws
        self.raises = raises
        self.locks_at_request: dict[str, dict[str, Any]] | None = None

    def __call__(self, plan: Any, clients: Any, *, on_progress: Any) -> failover_ops.Timeline:
        timeline = failover_ops.Timeline(
            env_name="prod",
            operation=plan.operation,
            global_cluster_id=plan.global_cluster_id,
            target_region=plan.target_region,
            file_primary_region=PRIMARY,
        )
        now = datetime.now(UTC)
        on_progress(timeline.add(now, "requested", "switchover_global_cluster"))
        self.locks_at_request = {r: lock_item(self.aws, r) for r in (PRIMARY, WEST, EU)}
        if self.raises is failover_ops.FailoverRequestError:
            on_progress(timeline.add(now, "rejected", "InvalidGlobalClusterStateFault"))
            timeline.outcome = "rejected"
            raise failover_ops.FailoverRequestError("RDS rejected it", timeline, started=False)
        on_progress(timeline.add(now, "accepted", "Status=failing-over"))
        if self.raises is failover_ops.FailoverTimeoutError:
            timeline.outcome = "timed-out"
            raise failover_ops.FailoverTimeoutError("did not complete", timeline)
        on_progress(timeline.add(now, "verified", "the only writer"))
        timeline.outcome = "verified"
        return timeline


def run(env_file: Path, *args: str) -> Any:
    return runner.invoke(cli.app, ["failover", *args, "--env-file", str(env_file)])


# --- the operator's failover takes the lock -----------------------------------------------------


def test_a_switchover_holds_the_lock_in_every_region_but_the_writers_while_the_request_is_sent(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    fake = FakeExecution(aws)
    monkeypatch.setattr(failover_ops, "execute_failover", fake)

    result = run(env_file, *MOVE)

    assert result.exit_code == 0, result.output
    assert fake.locks_at_request is not None
    held = {r: item.get("lease_owner", {}).get("S", "") for r, item in fake.locks_at_request.items()}
    assert held[PRIMARY] == ""  # the writer's region is never needed (it may be the failed one)
    assert held[WEST].startswith("operator:arn:aws:sts::123456789012:") and held[EU] == held[WEST]
    # afterwards: the lease is given back and the promotion recorded (the cooldown binds the deciders)
    for region in (WEST, EU):
        item = lock_item(aws, region)
        assert "lease_owner" not in item
        assert item["last_failover_by"]["S"] == held[WEST]
        assert item["last_outcome"]["S"] == "operator-verified"


def test_a_live_automated_flight_refuses_the_operator_with_exit_5_and_nothing_is_sent(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    store(aws, EU).try_acquire(
        owner="decider:eu-west-1:abc", now=time.time(), lease_seconds=900, cooldown_seconds=3600
    )
    fake = FakeExecution(aws)
    monkeypatch.setattr(failover_ops, "execute_failover", fake)

    result = run(env_file, *MOVE, "--json")

    assert result.exit_code == 5
    doc = json.loads(result.stdout)
    assert doc["plan"]["failed_checks"] == ["no_flight_or_cooldown"]
    assert doc["plan"]["lock"]["lease_owner"] == "decider:eu-west-1:abc"
    assert fake.locks_at_request is None  # never sent
    assert lock_item(aws, WEST) == {}  # and nothing taken


def test_a_promotion_within_the_cooldown_refuses_even_break_glass(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    owner = "decider:us-west-2:1"
    ten_minutes_ago = time.time() - 600
    store(aws, WEST).try_acquire(owner=owner, now=ten_minutes_ago, lease_seconds=900, cooldown_seconds=3600)
    store(aws, WEST).record_failover(owner=owner, now=ten_minutes_ago, outcome="promoted")
    fake = FakeExecution(aws)
    monkeypatch.setattr(failover_ops, "execute_failover", fake)

    result = run(env_file, *MOVE, "--break-glass")

    assert result.exit_code == 5
    assert "the cooldown (failover.cooldown_minutes: 60) lasts until" in result.stdout
    assert fake.locks_at_request is None


def test_missing_failover_tables_refuse_and_name_infra_up_and_break_glass(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws, tables=False)
    fake = FakeExecution(aws)
    monkeypatch.setattr(failover_ops, "execute_failover", fake)

    result = run(env_file, *MOVE)

    assert result.exit_code == 5
    assert "the failover table prod-aurora-usw2-failover does not exist" in result.stdout
    assert "`infra up --env prod`" in result.stdout and "--break-glass" in result.stdout
    assert fake.locks_at_request is None


def test_break_glass_without_any_table_proceeds_without_the_lock_and_says_so(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws, tables=False)
    fake = FakeExecution(aws)
    monkeypatch.setattr(failover_ops, "execute_failover", fake)

    result = run(env_file, *MOVE, "--break-glass")

    assert result.exit_code == 0, result.output
    assert "proceeding WITHOUT the lock" in result.stderr
    assert fake.locks_at_request is not None


def test_a_request_rds_rejected_gives_the_lock_back_without_starting_the_cooldown(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    monkeypatch.setattr(
        failover_ops, "execute_failover", FakeExecution(aws, raises=failover_ops.FailoverRequestError)
    )

    result = run(env_file, *MOVE)

    assert result.exit_code == 4
    for region in (WEST, EU):
        item = lock_item(aws, region)
        assert "lease_owner" not in item and "last_failover_at" not in item
        assert item["last_outcome"]["S"] == "operator-rejected"


def test_a_request_that_may_still_complete_starts_the_cooldown(
    aws: AwsFakes, env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given_live_state(aws)
    monkeypatch.setattr(
        failover_ops, "execute_failover", FakeExecution(aws, raises=failover_ops.FailoverTimeoutError)
    )

    result = run(env_file, *MOVE)

    assert result.exit_code == 4
    assert all("last_failover_at" in lock_item(aws, r) for r in (WEST, EU))


# --- arm, disarm, status ------------------------------------------------------------------------


def test_disarm_reaches_every_region_and_status_reports_it(aws: AwsFakes, env_file: Path) -> None:
    given_live_state(aws)

    result = run(env_file, "disarm", "--reason", "drill tomorrow")
    assert result.exit_code == 0, result.output
    assert (
        "Disarmed automated failover of prod (generation 1) in us-east-1, us-west-2, eu-west-1."
        in result.stdout
    )

    status = runner.invoke(cli.app, ["failover", "status", "--env-file", str(env_file), "--json"])
    assert status.exit_code == 0, status.output
    automation = json.loads(status.stdout)["automation"]
    assert (automation["armed"], automation["generation"]) == (False, 1)
    assert all(
        r["armed"] is False and r["reason"] == "drill tomorrow" for r in automation["regions"].values()
    )


def test_arm_of_a_protected_environment_asks_first_and_then_wins_over_the_disarm(
    aws: AwsFakes, env_file: Path
) -> None:
    given_live_state(aws)
    assert run(env_file, "disarm").exit_code == 0

    refused = run(env_file, "arm")
    assert refused.exit_code == 5 and "--yes" in refused.stderr
    unchanged = [store(aws, r).read_arm() for r in (PRIMARY, WEST, EU)]
    assert all(r is not None and not r.armed and r.generation == 1 for r in unchanged)

    armed = run(env_file, "arm", "--yes", "--json")
    assert armed.exit_code == 0, armed.output
    assert json.loads(armed.stdout)["change"]["generation"] == 2
    assert "no decider is deployed" in armed.stderr  # env_data() has failover.automated false
    records = [store(aws, r).read_arm() for r in (PRIMARY, WEST, EU)]
    assert all(isinstance(r, ArmRecord) and r.armed and r.generation == 2 for r in records)


def test_arm_refuses_when_one_region_has_no_table_and_names_it(aws: AwsFakes, env_file: Path) -> None:
    given_live_state(aws)
    aws.read[("dynamodb", EU)].delete_table(TableName=failover_table(EU))

    result = run(env_file, "arm", "--yes")

    assert result.exit_code == 4
    assert "arm must be written to every region; unreachable: eu-west-1" in result.stderr
    assert store(aws, WEST).read_arm() is None  # nothing half-written


def test_status_exits_1_and_names_the_missing_table(aws: AwsFakes, env_file: Path) -> None:
    given_live_state(aws)
    aws.read[("dynamodb", EU)].delete_table(TableName=failover_table(EU))

    result = runner.invoke(cli.app, ["failover", "status", "--env-file", str(env_file)])

    assert result.exit_code == 1
    assert "eu-west-1: the failover table prod-aurora-euw1-failover does not exist" in result.stdout


def test_infra_status_shows_the_automation_state_and_a_missing_table_is_a_problem_when_automated(
    aws: AwsFakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_env(tmp_path, aws, monkeypatch, failover={"automated": True, "dry_run": True})
    healthy_deployment(aws, datetime.now(UTC))
    stub_dns(aws, health={PRIMARY: "Success", WEST: "Failure"})
    store(aws, WEST).write_arm(
        ArmRecord(armed=False, generation=3, changed_at=time.time(), changed_by="decider")
    )
    aws.read[("dynamodb", EU)].delete_table(TableName=failover_table(EU))

    result = runner.invoke(cli.app, ["status", "--env-file", str(env_file)])

    assert result.exit_code == 1
    assert "Automated failover: DISARMED (dry run: logs and notifies only)" in result.stdout
    assert "automated failover: eu-west-1: the failover table prod-aurora-euw1-failover does not exist" in (
        result.stdout
    )


# --- usage ---------------------------------------------------------------------------------------


def test_options_before_a_subcommand_are_a_usage_error(aws: AwsFakes, env_file: Path) -> None:
    result = runner.invoke(cli.app, ["failover", "--env-file", str(env_file), "status"])
    assert result.exit_code == 2
    assert "--env-file: options of `infra failover --to` given before `status`" in result.stderr


def test_failover_without_to_or_a_subcommand_is_a_usage_error(aws: AwsFakes) -> None:
    result = runner.invoke(cli.app, ["failover"])
    assert result.exit_code == 2 and "--to: missing" in result.stderr


def test_the_automation_commands_refuse_a_regional_environment_before_any_credential(
    aws: AwsFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions: list[str] = []
    monkeypatch.setattr(cli_common, "make_aws_session", lambda env, role_arn: sessions.append(env.name))
    for command in ("arm", "disarm", "status"):
        result = runner.invoke(cli.app, ["failover", command, "--env", "dev"])
        assert result.exit_code == 5 and "dev is a regional environment" in result.stderr
    assert sessions == []
