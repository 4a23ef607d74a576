"""Orchestration with the in-process runner: order, parallelism, feeding, faults, resume, destroy."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from model.environment import Environment, load_environment
from model.topology import StackSpec, stacks_for
from orchestrator.analysis.plan import build_plan
from orchestrator.deploy import engine as engine_module
from orchestrator.deploy.engine import EngineMoveRefusedError, Interrupted, Orchestrator
from orchestrator.deploy.runner import InProcessRunner, StackOperationError


@pytest.fixture(scope="module")
def prod() -> Environment:
    return load_environment("prod")


@pytest.fixture(scope="module")
def prod_plan_urns(prod: Environment) -> dict[str, set[str]]:
    plan = build_plan(prod, evaluate_rules=False)
    return {s.spec.name: {r.urn for r in s.run.resources} for s in plan.stacks}


class RecordingRunner(InProcessRunner):
    """Also records the config each stack ran with."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.configs: dict[str, dict[str, Any]] = {}

    def up(self, spec, config, progress, *, refresh=False, tags=None):  # type: ignore[no-untyped-def]
        self.configs[spec.name] = dict(config)
        return super().up(spec, config, progress, refresh=refresh, tags=tags)


def runner_for(env: Environment, **kwargs: Any) -> RecordingRunner:
    return RecordingRunner(account_id=env.account_id, **kwargs)


def test_up_runs_primary_then_secondaries_together_then_dns(prod: Environment) -> None:
    # GIVEN secondaries that take a while in AWS
    runner = runner_for(prod, durations={"secondary": 0.3})
    # WHEN the environment is deployed
    report = Orchestrator(prod, runner).up()
    # THEN the primary finished before any secondary started, both secondaries started before
    # either finished (parallel), and DNS started after both finished
    assert report.ok
    calls = runner.calls
    index = {call: i for i, call in enumerate(calls)}
    assert index[("up-commit", "prod.us-east-1")] < index[("up", "prod.us-west-2")]
    assert index[("up", "prod.eu-west-1")] < index[("up-commit", "prod.us-west-2")]
    assert index[("up", "prod.us-west-2")] < index[("up-commit", "prod.eu-west-1")]
    assert index[("up", "prod.dns")] > max(
        index[("up-commit", "prod.us-west-2")], index[("up-commit", "prod.eu-west-1")]
    )
    assert index[("up", "prod.failover")] > max(
        index[("up-commit", "prod.us-west-2")], index[("up-commit", "prod.eu-west-1")]
    )
    assert [r.stack for r in report.results] == [
        "prod.us-east-1",
        "prod.us-west-2",
        "prod.eu-west-1",
        "prod.dns",
        "prod.failover",
    ]


def test_secondaries_receive_the_primary_global_cluster_identifier_as_config(prod: Environment) -> None:
    runner = runner_for(prod)
    report = Orchestrator(prod, runner).up()
    primary_outputs = report.results[0].outputs
    for secondary in ("prod.us-west-2", "prod.eu-west-1"):
        config = runner.configs[secondary]
        assert (
            config["aurora:globalClusterIdentifier"]
            == primary_outputs["global_cluster_identifier"]
            == "prod-aurora-global"
        )
        assert config["aurora:masterSecretArn"] == primary_outputs["master_secret_arn"]
    regions = runner.configs["prod.dns"]["aurora:regions"]
    assert regions["us-west-2"]["writerEndpoint"] == report.results[1].outputs["cluster_endpoint"]
    assert regions["us-east-1"]["writerHealthAlarmName"] == "prod-aurora-use1-writer-health"


def test_stacks_carry_environment_role_and_policy_tags(prod: Environment) -> None:
    runner = runner_for(prod)
    Orchestrator(prod, runner).up()
    info = runner.info(stacks_for(prod)[1])
    assert info.tags == {
        "aurora:environment": "prod",
        "aurora:role": "secondary",
        "aurora:deletion-policy": "protected",
    }


def _all_steps(env: Environment) -> list[tuple[str, str]]:
    return [(phase, spec.name) for spec in stacks_for(env) for phase in ("up", "up-commit")]


@pytest.mark.parametrize("phase,stack", _all_steps(load_environment("prod")))
def test_a_failure_at_any_step_of_up_stops_there_and_a_rerun_converges_without_duplicates(
    prod: Environment, prod_plan_urns: dict[str, set[str]], phase: str, stack: str
) -> None:
    # GIVEN a fault injected at one step of one stack
    armed = {"on": True}

    def fault(operation: str, spec: StackSpec) -> None:
        if armed["on"] and (operation, spec.name) == (phase, stack):
            raise StackOperationError(spec.name, "injected", resource="aws:rds/cluster:Cluster::x")

    runner = runner_for(prod, fault=fault)
    orch = Orchestrator(prod, runner)
    # WHEN up runs
    report = orch.up()
    # THEN it stops at that stack, names it and the resource, and starts nothing after its wave
    assert not report.ok
    assert report.failure is not None and report.failure.stack == stack
    assert report.failure.resource == "aws:rds/cluster:Cluster::x"
    specs = {s.name: s for s in stacks_for(prod)}
    failed_wave = (
        0 if specs[stack].role.value == "primary" else 1 if specs[stack].role.value == "secondary" else 2
    )
    later = {
        s.name
        for s in stacks_for(prod)
        if (0 if s.role.value == "primary" else 1 if s.role.value == "secondary" else 2) > failed_wave
    }
    assert set(report.skipped) == later
    assert not any(name in later for _, name in runner.calls)
    assert stack not in runner.states  # the failing stack committed nothing
    # WHEN the fault is gone and up runs again
    armed["on"] = False
    second = orch.up()
    # THEN every stack holds exactly the planned resources, each once
    assert second.ok
    for name, urns in prod_plan_urns.items():
        assert set(runner.states[name].resources) == urns
    # AND stacks finished by the first run had nothing to create the second time
    for result in second.results:
        if result.stack not in {stack, *later} and result.stack in runner.states:
            assert result.changes["create"] == 0, result.stack


@pytest.mark.parametrize("stack", [s.name for s in stacks_for(load_environment("prod"))])
def test_a_failure_at_any_step_of_destroy_stops_in_reverse_order_and_a_rerun_finishes(
    prod: Environment, stack: str
) -> None:
    armed = {"on": False}

    def fault(operation: str, spec: StackSpec) -> None:
        if armed["on"] and (operation, spec.name) == ("destroy", stack):
            raise StackOperationError(spec.name, "injected")

    runner = runner_for(prod, fault=fault)
    orch = Orchestrator(prod, runner)
    assert orch.up().ok
    armed["on"] = True
    report = orch.destroy()
    assert not report.ok and report.failure is not None and report.failure.stack == stack
    assert stack in runner.states
    # the primary (global cluster) is never destroyed while a secondary or DNS remains
    if "prod.us-east-1" not in runner.states:
        assert not {"prod.us-west-2", "prod.eu-west-1", "prod.dns", "prod.failover"} & set(runner.states)
    armed["on"] = False
    assert orch.destroy().ok
    assert runner.states == {}
    destroys = [name for op, name in runner.calls if op == "destroy"]
    assert destroys.index("prod.dns") < destroys.index("prod.us-east-1")
    # the peering and its routes go before any VPC they join
    assert destroys.index("prod.failover") < min(
        destroys.index(s) for s in ("prod.us-east-1", "prod.us-west-2", "prod.eu-west-1")
    )


def test_destroy_goes_dns_then_secondaries_then_primary_and_leaves_nothing(
    prod: Environment, prod_plan_urns: dict[str, set[str]]
) -> None:
    runner = runner_for(prod)
    orch = Orchestrator(prod, runner)
    orch.up()
    report = orch.destroy()
    assert [r.stack for r in report.results] == [
        "prod.dns",
        "prod.failover",
        "prod.us-west-2",
        "prod.eu-west-1",
        "prod.us-east-1",
    ]
    assert {r.stack: r.changes["delete"] for r in report.results} == {
        k: len(v) for k, v in prod_plan_urns.items()
    }
    assert all(not runner.info(s).exists for s in stacks_for(prod))


def test_destroying_a_never_deployed_environment_does_nothing(prod: Environment) -> None:
    runner = runner_for(prod)
    report = Orchestrator(prod, runner).destroy()
    assert report.ok and [op for op, _ in runner.calls] == []


def test_target_stack_without_its_upstream_in_the_backend_fails_naming_it(prod: Environment) -> None:
    report = Orchestrator(prod, runner_for(prod)).up(target_stack="prod.eu-west-1")
    assert report.failure is not None and report.failure.kind == "missing"
    assert "prod.us-east-1" in str(report.failure) and "does not exist in the backend" in str(report.failure)


def test_target_stack_reads_its_inputs_from_the_deployed_upstream(prod: Environment) -> None:
    runner = runner_for(prod)
    orch = Orchestrator(prod, runner)
    orch.up()
    runner.calls.clear()
    report = orch.up(target_stack="prod.eu-west-1")
    assert report.ok and {name for _, name in runner.calls} == {"prod.eu-west-1"}
    assert runner.configs["prod.eu-west-1"]["aurora:globalClusterIdentifier"] == "prod-aurora-global"


class MovedWriter:
    def writer_region(self, env: Environment) -> str | None:
        return "us-west-2"


def test_up_after_a_failover_feeds_every_stack_the_same_inputs_and_reports_where_the_writer_is(
    prod: Environment,
) -> None:
    # GIVEN the environment deployed while the writer was at home
    at_home = runner_for(prod)
    Orchestrator(prod, at_home).up()
    # WHEN it is deployed again after a failover moved the writer to us-west-2
    moved = runner_for(prod)
    notices: list[str] = []
    report = Orchestrator(prod, moved, live=MovedWriter(), notice=notices.append).up()
    # THEN it proceeds, every stack gets exactly the config it got before (nothing to change),
    assert report.ok and [r.stack for r in report.results] == [
        r.stack for r in Orchestrator(prod, at_home).up().results
    ]
    assert moved.configs == at_home.configs
    # AND the run says where the writer and the home region are, apart
    assert (report.home_region, report.writer_region) == ("us-east-1", "us-west-2")
    assert report.to_json()["writer_region"] == "us-west-2" and report.to_json()["home_region"] == "us-east-1"
    assert len(notices) == 1 and "the writer of prod is in us-west-2" in notices[0]
    assert "home region" in notices[0] and "infra failover --env prod --to us-east-1" in notices[0]


def test_ctrl_c_cancels_running_stacks_and_says_how_to_resume(
    prod: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = runner_for(prod, durations={"primary": 0.2})
    started = threading.Event()
    real_wait = engine_module.wait

    def interrupting_wait(futures: Any, return_when: Any = None) -> Any:
        started.wait(0.05)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine_module, "wait", interrupting_wait)
    orch = Orchestrator(prod, runner)
    with pytest.raises(Interrupted) as caught:
        orch.up()
    monkeypatch.setattr(engine_module, "wait", real_wait)
    assert "Re-run the same command to resume" in str(caught.value)
    assert caught.value.running == ["prod.us-east-1"] and runner.cancelled == {"prod.us-east-1"}


def test_preview_changes_nothing(prod: Environment) -> None:
    runner = runner_for(prod)
    report = Orchestrator(prod, runner).preview()
    assert report.ok and runner.states == {}
    assert Counter(op for op, _ in runner.calls) == {"preview": 5}
    assert report.results[0].changes["create"] > 50


def test_preview_of_a_never_deployed_environment_previews_the_primary_and_explains_the_rest(
    prod: Environment,
) -> None:
    class PreviewWithoutOutputs(RecordingRunner):
        def preview(self, spec, config, progress):  # type: ignore[no-untyped-def]
            result = super().preview(spec, config, progress)
            result.outputs = {}  # a real preview produces no outputs
            return result

    report = Orchestrator(prod, PreviewWithoutOutputs(account_id=prod.account_id)).preview()
    assert report.ok
    notes = {r.stack: r.note for r in report.results}
    assert notes["prod.us-east-1"] is None
    assert "needs output 'global_cluster_identifier' of stack prod.us-east-1" in str(notes["prod.us-west-2"])
    assert "deploy prod.us-east-1 first" in str(notes["prod.dns"])


class RunningEngine:
    def __init__(self, version: str | None) -> None:
        self.version = version

    def writer_region(self, env: Environment) -> str | None:
        return env.primary_region

    def engine_version(self, env: Environment) -> str | None:
        return self.version


def test_up_refuses_a_downgrade_from_the_running_engine_before_any_stack_runs(prod: Environment) -> None:
    runner = runner_for(prod)
    with pytest.raises(EngineMoveRefusedError) as caught:
        Orchestrator(prod, runner, live=RunningEngine("8.0.mysql_aurora.3.12.0")).up()
    message = str(caught.value)
    assert message.startswith("database.engine_version: Aurora cannot downgrade an engine")
    assert "infra upgrade check --env prod --to 8.0.mysql_aurora.3.10.5" in message
    assert runner.calls == []


def test_up_refuses_a_major_upgrade_the_file_does_not_allow(prod: Environment) -> None:
    major = prod.model_copy(
        update={"database": prod.database.model_copy(update={"engine_version": "8.4.mysql_aurora.8.4.7"})}
    )
    runner = runner_for(major)
    with pytest.raises(EngineMoveRefusedError) as caught:
        Orchestrator(major, runner, live=RunningEngine("8.0.mysql_aurora.3.10.5")).up()
    assert "database.allow_major_upgrade: true" in str(caught.value)
    assert runner.calls == []


@pytest.mark.parametrize("running", [None, "8.0.mysql_aurora.3.10.3", "8.0.mysql_aurora.3.10.5"])
def test_up_proceeds_on_a_first_deploy_a_minor_upgrade_or_no_change(prod: Environment, running) -> None:
    runner = runner_for(prod)
    report = Orchestrator(prod, runner, live=RunningEngine(running)).up()
    assert report.ok
