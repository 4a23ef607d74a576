"""`infra up|preview|destroy|ephemeral` through the CLI, with the in-process runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from model.environment import Environment
from model.topology import StackSpec
from orchestrator import cli
from orchestrator.cli import common as cli_common
from orchestrator.cli import deploying as cli_deploying
from orchestrator.deploy.runner import InProcessRunner, StackOperationError

runner_cli = CliRunner()


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, Any]:
    """One in-process 'backend' per account, shared by every CLI call of a test."""
    from model import environment

    monkeypatch.setattr(environment, "EPHEMERAL_DIR", tmp_path / "ephemeral")
    state: dict[str, Any] = {"runners": {}, "fault": None}

    def make_runner(env: Environment) -> InProcessRunner:
        runners = state["runners"]
        if env.account_id not in runners:
            runners[env.account_id] = InProcessRunner(
                account_id=env.account_id, fault=lambda op, spec: state["fault"] and state["fault"](op, spec)
            )
        return runners[env.account_id]

    monkeypatch.setattr(cli_common, "make_runner", make_runner)
    monkeypatch.setattr(cli_common, "make_live", lambda env: None)
    state["migrated"] = []
    monkeypatch.setattr(
        cli_deploying, "apply_repository_migrations", lambda env: state["migrated"].append(env.name)
    )
    return state


def invoke(*args: str, input: str | None = None) -> Any:
    return runner_cli.invoke(cli.app, list(args), input=input)


def test_up_deploys_every_stack_and_prints_the_endpoints(backend: dict[str, Any]) -> None:
    result = invoke("up", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert "up of dev: done" in result.stdout
    assert "dev.us-east-1" in result.stdout and "dev.dns" in result.stdout
    assert "cluster_endpoint: dev-aurora-use1.cluster-" in result.stdout
    assert "writer_name: writer.dev.db.internal" in result.stdout
    assert "[dev.us-east-1] up" in result.stderr  # per-resource progress
    assert backend["migrated"] == ["dev"]  # dev's schema comes from the repository, applied after up


def test_up_of_a_promotion_sourced_environment_applies_no_migrations(backend: dict[str, Any]) -> None:
    assert invoke("up", "--env", "staging", "--yes").exit_code == 0
    assert backend["migrated"] == []


def test_up_json_reports_each_stack_and_its_changes(backend: dict[str, Any]) -> None:
    result = invoke("up", "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["failed"] is None
    assert [s["stack"] for s in doc["stacks"]] == ["dev.us-east-1", "dev.dns"]
    assert doc["stacks"][0]["changes"]["create"] > 20


def test_failed_stack_exits_4_naming_it_and_the_rerun_resumes(backend: dict[str, Any]) -> None:
    def fault(operation: str, spec: StackSpec) -> None:
        if (operation, spec.name) == ("up", "dev.dns"):
            raise StackOperationError(spec.name, "Route 53 said no", resource="dev-zone")

    backend["fault"] = fault
    first = invoke("up", "--env", "dev")
    assert first.exit_code == 4
    assert "FAILED: stack dev.dns failed at resource dev-zone: Route 53 said no" in first.stdout
    assert "re-run the same command" in first.stdout
    backend["fault"] = None
    second = invoke("up", "--env", "dev", "--json")
    assert second.exit_code == 0
    changes = {s["stack"]: s["changes"] for s in json.loads(second.stdout)["stacks"]}
    assert changes["dev.us-east-1"]["create"] == 0 and changes["dev.dns"]["create"] > 0


def test_protected_environment_needs_yes_when_not_interactive(backend: dict[str, Any]) -> None:
    result = invoke("up", "--env", "prod")
    assert result.exit_code == 5
    assert "protected environment" in result.stderr and "--yes" in result.stderr
    assert backend["runners"] == {}  # nothing was run


def test_protected_environment_deploys_with_yes(backend: dict[str, Any]) -> None:
    result = invoke("up", "--env", "prod", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert [s["stack"] for s in json.loads(result.stdout)["stacks"]] == [
        "prod.us-east-1", "prod.us-west-2", "prod.eu-west-1", "prod.dns", "prod.failover"
    ]  # fmt: skip


def test_destroy_refuses_a_protected_environment_and_explains_snapshots(backend: dict[str, Any]) -> None:
    result = invoke("destroy", "--env", "prod", "--yes")
    assert result.exit_code == 5
    assert (
        "protected" in result.stderr
        and "final snapshot" in result.stderr
        and "--allow-protected" in result.stderr
    )


def test_destroy_removes_every_stack_in_reverse_order(backend: dict[str, Any]) -> None:
    assert invoke("up", "--env", "dev").exit_code == 0
    result = invoke("destroy", "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    assert [s["stack"] for s in json.loads(result.stdout)["stacks"]] == ["dev.dns", "dev.us-east-1"]
    assert backend["runners"]["111111111111"].states == {}


def test_up_after_a_failover_proceeds_and_reports_home_and_writer_regions(
    backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Moved:
        def writer_region(self, env: Environment) -> str:
            return "us-west-2"

    monkeypatch.setattr(cli_common, "make_live", lambda env: Moved())
    result = invoke("up", "--env", "staging", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert "notice: the writer of staging is in us-west-2" in result.stderr
    document = json.loads(result.stdout)
    assert (document["home_region"], document["writer_region"]) == ("us-east-1", "us-west-2")
    text = invoke("preview", "--env", "staging")
    assert text.exit_code == 0 and "home region us-east-1, writer in us-west-2" in text.stdout


def test_preview_target_stack_with_missing_upstream_exits_4(backend: dict[str, Any]) -> None:
    result = invoke("preview", "--env", "prod", "--target-stack", "prod.eu-west-1")
    assert result.exit_code == 4
    assert "needs the outputs of prod.us-east-1, which does not exist in the backend" in result.stdout


def test_unknown_environment_exits_3(backend: dict[str, Any]) -> None:
    result = invoke("up", "--env", "nope")
    assert result.exit_code == 3 and "unknown environment 'nope'" in result.stderr


def test_ephemeral_up_list_and_reap(backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN two ephemeral environments from the test template
    first = invoke("ephemeral", "up", "--from", "test", "--ttl", "1h", "--name", "test-aa11", "--json")
    assert first.exit_code == 0, first.output
    second = invoke("ephemeral", "up", "--from", "test", "--ttl", "2h", "--name", "test-bb22", "--json")
    assert second.exit_code == 0, second.output
    runner = backend["runners"]["444444444444"]
    # THEN their stacks carry expiry and distinct CIDR slots, and their VPCs don't overlap
    slots = {runner.states[f"test-{n}.us-east-1"].tags["aurora:cidr-slot"] for n in ("aa11", "bb22")}
    assert slots == {"0", "1"}
    vpcs = {
        r["inputs"]["cidrBlock"]
        for name in ("test-aa11.us-east-1", "test-bb22.us-east-1")
        for r in runner.states[name].resources.values()
        if r["type"] == "aws:ec2/vpc:Vpc"
    }
    assert vpcs == {"10.128.0.0/16", "10.132.0.0/16"}
    listed = json.loads(invoke("ephemeral", "list", "--json").stdout)
    assert [e["name"] for e in listed] == ["test-aa11", "test-bb22"] and not any(e["expired"] for e in listed)

    # WHEN time passes beyond the first one's expiry and the reaper runs
    later = datetime.now(UTC) + timedelta(minutes=90)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    monkeypatch.setattr(cli_deploying, "datetime", Later)
    dry = invoke("ephemeral", "reap", "--dry-run", "--json")
    assert json.loads(dry.stdout)[0]["destroyed"][0] == "test-aa11.dns"
    assert "test-aa11.us-east-1" in runner.states  # dry run destroyed nothing
    reaped = invoke("ephemeral", "reap", "--json")
    # THEN only the expired one is gone, DNS first, primary last
    assert reaped.exit_code == 0, reaped.output
    [outcome] = json.loads(reaped.stdout)
    assert outcome["destroyed"] == [
        "test-aa11.dns",
        "test-aa11.failover",
        "test-aa11.us-west-2",
        "test-aa11.us-east-1",
    ]
    assert not any(name.startswith("test-aa11") for name in runner.states)
    assert "test-bb22.us-east-1" in runner.states


def test_a_failed_reap_is_reported_and_does_not_stop_the_others(
    backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("test-cc33", "test-dd44"):
        assert invoke("ephemeral", "up", "--ttl", "30m", "--name", name).exit_code == 0

    def fault(operation: str, spec: StackSpec) -> None:
        if (operation, spec.name) == ("destroy", "test-cc33.us-west-2"):
            raise StackOperationError(spec.name, "InvalidGlobalClusterStateFault")

    backend["fault"] = fault
    later = datetime.now(UTC) + timedelta(hours=1)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return later

    monkeypatch.setattr(cli_deploying, "datetime", Later)
    result = invoke("ephemeral", "reap", "--json")
    assert result.exit_code == 4
    outcomes = {o["env"]: o for o in json.loads(result.stdout)}
    assert "InvalidGlobalClusterStateFault" in outcomes["test-cc33"]["error"]
    assert outcomes["test-cc33"]["destroyed"] == ["test-cc33.dns", "test-cc33.failover"]
    assert outcomes["test-dd44"]["error"] is None and len(outcomes["test-dd44"]["destroyed"]) == 4


def test_ephemeral_ttl_is_validated() -> None:
    result = invoke("ephemeral", "up", "--ttl", "forever")
    assert result.exit_code == 2 and "--ttl" in result.output


def test_an_ephemeral_environment_can_be_named_in_status_and_destroy_on_the_same_machine(
    backend: dict[str, Any],
) -> None:
    created = invoke("ephemeral", "up", "--ttl", "1h", "--name", "test-ee55")
    assert created.exit_code == 0, created.output
    assert "test-ee55" in created.stderr and "--env test-ee55" in created.stderr
    runner = backend["runners"]["444444444444"]
    assert "test-ee55.us-east-1" in runner.states
    destroyed = invoke("destroy", "--env", "test-ee55", "--json")
    assert destroyed.exit_code == 0, destroyed.output
    assert not any(name.startswith("test-ee55") for name in runner.states)
