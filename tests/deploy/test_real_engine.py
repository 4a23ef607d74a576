"""The Automation API runner against the real Pulumi engine (`pytest -m real_engine`).

The CLI and its Python language host are the ones `make engine` builds from the Go module
proxy (tools/engine/); the program is the throwaway project in
tests/fixtures/real_engine_project (stack config, outputs and ``pulumi.dynamic`` resources:
no cloud, no provider plugin). Each test gets its own ``file://`` backend, ``PULUMI_HOME``
and project copy, with automatic plugin acquisition off. The stacks carry the product's
names (``staging.us-east-1`` ..., ``organization/aurora-global/<stack>`` in the backend) and
are driven by :class:`orchestrator.deploy.automation.AutomationRunner` and the orchestration engine
exactly as ``infra`` drives them.

Without the binaries the tier skips (run ``make engine``); in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from model.environment import Environment, StateSettings, load_environment
from model.topology import StackSpec, stack_by_name, stack_config
from orchestrator.deploy.automation import AutomationRunner
from orchestrator.deploy.engine import Orchestrator
from orchestrator.deploy.runner import StackOperationError, StackResult
from tests.support.real_engine import (
    Recorder,
    cli,
    engine_environment,
    exported_resources,
    kill_cli_running,
    make_project,
    missing_engine_reason,
    policy_pack_launcher,
    wait_for,
)

pytestmark = pytest.mark.real_engine

PROJECT = "aurora-global"
DYNAMIC = "pulumi-python:dynamic:Resource"


@pytest.fixture(scope="session")
def engine_built() -> None:
    reason = missing_engine_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real-engine tier: {reason}")
    pytest.skip(reason)


@pytest.fixture
def project(engine_built: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in engine_environment(tmp_path / "pulumi-home").items():
        monkeypatch.setenv(key, value)
    # The same backend as the runner's, for the CLI commands a test runs itself.
    monkeypatch.setenv("PULUMI_BACKEND_URL", backend_url(tmp_path))
    return make_project(tmp_path / "project")


def backend_url(tmp_path: Path) -> str:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return f"file://{state}"


def file_backend(env: Environment, tmp_path: Path) -> Environment:
    """The environment with its state in a temp dir (passphrase secrets: no KMS)."""
    return env.model_copy(update={"state": StateSettings(backend_url=backend_url(tmp_path))})


@pytest.fixture
def staging(project: Path, tmp_path: Path) -> Environment:
    return file_backend(load_environment("staging"), tmp_path)


@pytest.fixture
def prod(project: Path, tmp_path: Path) -> Environment:
    return file_backend(load_environment("prod"), tmp_path)


@pytest.fixture
def notices() -> list[str]:
    return []


def runner_for(env: Environment, project: Path, notices: list[str]) -> AutomationRunner:
    # The real PulumiCommand: the `pulumi` found on PATH, i.e. the pinned build.
    return AutomationRunner(env, project_dir=project, notice=notices.append)


def qualified(stack: str) -> str:
    return f"organization/{PROJECT}/{stack}"


def urn(stack: str, name: str, typ: str = DYNAMIC) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{typ}::{name}"


def primary_config(env: Environment, **controls: Any) -> dict[str, Any]:
    spec = stack_by_name(env, f"{env.name}.{env.primary_region}")
    return {**stack_config(env, spec, {}), **{f"aurora:{k}": v for k, v in controls.items()}}


def up_primary(
    runner: AutomationRunner, env: Environment, progress: Recorder | None = None, **controls: Any
) -> StackResult:
    spec = stack_by_name(env, f"{env.name}.{env.primary_region}")
    return runner.up(spec, primary_config(env, **controls), progress or Recorder())


def resources_of(project: Path, stack: str) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in exported_resources(project, qualified(stack))}


# --- Stacks, config and outputs in waves ----------------------------------------------------------


def test_infra_up_creates_tagged_product_stacks_and_feeds_outputs_forward_in_waves(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN staging (primary, one secondary, DNS) on a fresh self-managed backend
    runner = runner_for(staging, project, notices)
    progress = Recorder()

    # WHEN the orchestration engine brings it up through the real CLI
    extra = {"aurora:expires-at": "2031-01-01T00:00:00Z"}
    report = Orchestrator(staging, runner, progress=progress, extra_tags=extra).up()

    # THEN the three stacks ran in dependency order and succeeded
    assert report.ok, report.failure
    assert [r.stack for r in report.results] == [
        "staging.us-east-1",
        "staging.us-west-2",
        "staging.dns",
        "staging.failover",
    ]
    primary, secondary, dns, _failover = report.results
    # AND the backend knows them under the self-managed names the product uses
    listed = json.loads(cli(project, "stack", "ls", "--json", "--fully-qualify-stack-names").stdout)
    assert sorted(s["name"] for s in listed) == sorted(
        qualified(s) for s in ("staging.us-east-1", "staging.us-west-2", "staging.dns", "staging.failover")
    )
    # AND the primary's outputs reached the secondary's config and program
    assert primary.outputs["global_cluster_identifier"] == "staging-global"
    assert secondary.outputs["fed_global_cluster_identifier"] == "staging-global"
    # AND a structured output (a dict) was fed as JSON config and read back as the same dict
    assert secondary.outputs["fed_secrets_kms_replica_arns"] == {
        "us-west-2": "arn:test:kms:us-west-2:key/mrk-1"
    }
    # AND the DNS stack got every regional stack's outputs under aurora:regions
    assert dns.outputs["fed_regions"]["us-east-1"]["vpcId"] == primary.outputs["vpc_id"]
    assert dns.outputs["fed_regions"]["us-west-2"]["vpcId"] == secondary.outputs["vpc_id"]
    assert dns.outputs["fed_regions"]["us-west-2"]["writerEndpoint"] == "staging-us-west-2.cluster.internal"
    assert dns.outputs["fed_global_writer_endpoint"] == "staging-global.global.internal"
    # AND the fed config is in the stack's own Pulumi.<stack>.yaml, as `pulumi config` shows it
    shown = json.loads(cli(project, "config", "--json", "--stack", qualified("staging.us-west-2")).stdout)
    assert shown["aurora:globalClusterIdentifier"]["value"] == "staging-global"
    assert (project / "Pulumi.staging.us-west-2.yaml").is_file()
    # AND every resource was reported created
    assert progress.statuses("staging-us-east-1-cluster") == ["creating", "created"]

    # AND a fresh runner reads each stack's tags back from the self-managed backend
    reader = runner_for(staging, project, [])
    listed = {s.name: s for s in reader.list_stacks()}
    assert {name: s.tags["aurora:role"] for name, s in listed.items()} == {
        "staging.us-east-1": "primary",
        "staging.us-west-2": "secondary",
        "staging.dns": "dns",
        "staging.failover": "failover",
    }
    assert {s.tags["aurora:environment"] for s in listed.values()} == {"staging"}
    info = reader.info(stack_by_name(staging, "staging.us-west-2"))
    assert info.tags["aurora:expires-at"] == "2031-01-01T00:00:00Z"
    # AND info reports the resource count, last update and outputs from the backend
    assert (
        info.exists and info.resource_count == 4 and info.last_update is not None
    )  # stack, provider, vpc, cluster
    assert info.outputs["fed_global_cluster_identifier"] == "staging-global"


def test_secret_config_is_encrypted_at_rest_and_reaches_the_program(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN a secret value passed to the runner as a secret ConfigValue
    password = "correct-horse-battery-staple-7"
    runner = runner_for(staging, project, notices)

    # WHEN the primary is brought up with it
    result = up_primary(runner, staging, masterPassword=auto.ConfigValue(value=password, secret=True))

    # THEN the program received the plaintext and exported it as a secret output
    assert result.outputs["master_password"] == password
    outputs = json.loads(
        cli(project, "stack", "output", "--json", "--stack", qualified("staging.us-east-1")).stdout
    )
    assert outputs["master_password"] == "[secret]"
    # AND neither the stack's config file nor its state holds the plaintext
    config_file = (project / "Pulumi.staging.us-east-1.yaml").read_text()
    assert "aurora:masterPassword:\n    secure: " in config_file and password not in config_file
    exported = cli(project, "stack", "export", "--stack", qualified("staging.us-east-1")).stdout
    assert password not in exported and "4dabf18193072939515e22adb298388d" in exported  # the secret signature


# --- Engine events ----------------------------------------------------------------------------------


def test_engine_events_report_create_update_delete_and_a_named_failure(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    runner = runner_for(staging, project, notices)
    cluster, extra = "staging-us-east-1-cluster", "staging-extra-record"

    # GIVEN a first update that creates the primary's records and an extra one
    created = Recorder()
    first = up_primary(runner, staging, created, extraResources=[extra])
    assert first.changes == {"create": 6}  # the stack, records provider, vpc, global cluster, cluster, extra
    assert created.statuses(cluster) == ["creating", "created"]
    assert created.statuses(extra) == ["creating", "created"]

    # WHEN the cluster changes and the extra record leaves the program
    changed = Recorder()
    second = up_primary(runner, staging, changed, clusterSize="2")

    # THEN the cluster is reported updating then updated, the extra deleting then deleted,
    # and an unchanged record once as "same"
    assert changed.statuses(cluster) == ["updating", "updated"]
    assert changed.statuses(extra) == ["deleting", "deleted"]
    assert changed.statuses("staging-us-east-1-vpc") == ["same"]
    assert second.changes == {"update": 1, "delete": 1, "same": 4}

    # WHEN the cluster's next update fails
    failing = Recorder()
    with pytest.raises(StackOperationError) as caught:
        up_primary(
            runner,
            staging,
            failing,
            clusterSize="3",
            failResource=cluster,
            failMessage="quota exceeded: 0 left",
        )

    # THEN the error names the stack, the resource with its type, and the provider's reason
    error = caught.value
    assert error.kind == "failed" and error.stack == "staging.us-east-1"
    assert error.resource == f"{cluster} ({DYNAMIC})"
    assert "quota exceeded: 0 left" in str(error)
    assert str(error).startswith(f"stack staging.us-east-1 failed at resource {cluster} ({DYNAMIC}): ")
    # AND the progress display saw it fail
    assert failing.statuses(cluster)[0] == "updating" and "failed" in failing.statuses(cluster)


def test_preview_returns_the_change_summary_and_changes_nothing(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN a deployed primary
    runner = runner_for(staging, project, notices)
    up_primary(runner, staging)
    spec = stack_by_name(staging, "staging.us-east-1")
    before = resources_of(project, "staging.us-east-1")

    # WHEN a change and an addition are previewed
    progress = Recorder()
    result = runner.preview(
        spec, primary_config(staging, clusterSize="4", extraResources=["staging-new"]), progress
    )

    # THEN the summary counts one update, one create and the unchanged rest
    assert result.operation == "preview"
    assert result.changes == {"update": 1, "create": 1, "same": 4}  # same: stack, provider, vpc, global
    # AND the planned steps were reported as planned, and the current outputs came back
    assert progress.statuses("staging-us-east-1-cluster") == ["update"]
    assert progress.statuses("staging-new") == ["create"]
    assert result.outputs["global_cluster_identifier"] == "staging-global"
    # AND nothing changed in the state
    assert resources_of(project, "staging.us-east-1").keys() == before.keys()


# --- Destroy and refresh ----------------------------------------------------------------------------


def test_destroy_runs_in_reverse_order_of_the_waves_and_empties_every_stack(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN staging deployed
    runner = runner_for(staging, project, notices)
    assert Orchestrator(staging, runner).up().ok
    progress = Recorder()

    # WHEN it is destroyed
    report = Orchestrator(staging, runner, progress=progress).destroy()

    # THEN DNS and the failover stack (peering) went first, then the secondary, then the
    # primary, each deleting all it had
    assert report.ok, report.failure
    assert [r.stack for r in report.results] == [
        "staging.dns",
        "staging.failover",
        "staging.us-west-2",
        "staging.us-east-1",
    ]
    # (the stack resource and the records provider count too)
    assert [r.changes.get("delete") for r in report.results] == [4, 4, 4, 5]
    # AND within the primary the cluster went before the global cluster and VPC it depends on
    deleted = [
        name
        for stack, _, _, name, status in progress.events
        if stack == "staging.us-east-1" and status == "deleted"
    ]
    assert deleted.index("staging-us-east-1-cluster") < deleted.index("staging-global")
    assert deleted.index("staging-us-east-1-cluster") < deleted.index("staging-us-east-1-vpc")
    # AND every stack is empty but still in the backend
    for spec in (
        stack_by_name(staging, s)
        for s in ("staging.dns", "staging.failover", "staging.us-west-2", "staging.us-east-1")
    ):
        info = runner.info(spec)
        assert info.exists and info.resource_count == 0


def test_up_with_refresh_reads_drift_from_the_provider_and_corrects_it(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN a deployed primary whose cluster drifted outside Pulumi (size 1 -> 9)
    runner = runner_for(staging, project, notices)
    up_primary(runner, staging)
    cluster = urn("staging.us-east-1", "staging-us-east-1-cluster")
    (project / "drift.json").write_text(json.dumps({"staging-us-east-1-cluster": {"size": "9"}}))

    # WHEN the stack is brought up with refresh
    progress = Recorder()
    result = runner.up(
        stack_by_name(staging, "staging.us-east-1"), primary_config(staging), progress, refresh=True
    )

    # THEN the refresh read the drifted size, and the update set it back to the program's
    assert "refreshing" in progress.statuses("staging-us-east-1-cluster")
    assert result.changes.get("update") == 1
    (project / "drift.json").unlink()
    assert resources_of(project, "staging.us-east-1")[cluster]["outputs"]["size"] == "1"


# --- Locks and parallel stacks ------------------------------------------------------------------------


def test_an_interrupted_update_leaves_a_lock_reported_with_its_holder_and_cancel_clears_it(
    staging: Environment, project: Path, notices: list[str], tmp_path: Path
) -> None:
    runner = runner_for(staging, project, notices)
    spec = stack_by_name(staging, "staging.us-east-1")
    locks = tmp_path / "state" / ".pulumi" / "locks" / "organization" / PROJECT / "staging.us-east-1"
    # GIVEN an update killed (SIGKILL: no chance to unlock) while its program starts
    interrupted: list[BaseException] = []

    def doomed() -> None:
        try:
            runner.up(spec, primary_config(staging, startupDelaySeconds="15"), Recorder())
        except BaseException as exc:
            interrupted.append(exc)

    worker = threading.Thread(target=doomed, name="doomed-up")
    worker.start()
    wait_for(lambda: locks.is_dir() and any(locks.iterdir()), timeout=60, what="the update's lock file")
    pid = kill_cli_running("up", qualified("staging.us-east-1"))
    worker.join(timeout=60)
    assert interrupted and isinstance(interrupted[0], StackOperationError)

    # WHEN the stack is brought up again
    with pytest.raises(StackOperationError) as caught:
        up_primary(runner, staging)

    # THEN it is reported locked, naming the dead update's pid and the command that clears it
    error = caught.value
    assert error.kind == "locked"
    assert f"(pid {pid})" in str(error)
    assert f"pulumi cancel --yes --stack {qualified('staging.us-east-1')}" in str(error)

    # WHEN the stale lock is cancelled, the next update succeeds
    runner.cancel(spec)
    assert not any(locks.iterdir())
    assert up_primary(runner, staging).changes.get("create") == 5
    assert [n for n in notices if "could not cancel" in n] == []


def test_two_secondaries_update_at_the_same_time_from_separate_workspaces(
    prod: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN prod's primary deployed, and secondaries whose cluster create can only finish once
    # both stacks' creates are running (a rendezvous in a shared directory)
    runner = runner_for(prod, project, notices)
    primary = up_primary(runner, prod)
    upstream = {"prod.us-east-1": primary.outputs}
    specs = [stack_by_name(prod, "prod.us-west-2"), stack_by_name(prod, "prod.eu-west-1")]
    slow = {"aurora:rendezvousDir": str(project / "rendezvous"), "aurora:rendezvousPeers": "2"}

    # WHEN both secondaries are brought up from two threads
    results: dict[str, StackResult] = {}
    errors: list[BaseException] = []

    def up(spec: StackSpec) -> None:
        try:
            results[spec.name] = runner.up(spec, {**stack_config(prod, spec, upstream), **slow}, Recorder())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=up, args=(spec,)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    # THEN both succeeded with their own config
    assert errors == []
    assert {name: r.outputs["fed_global_cluster_identifier"] for name, r in results.items()} == {
        "prod.us-west-2": "prod-global",
        "prod.eu-west-1": "prod-global",
    }
    # AND their clusters were being created at the same time (the updates overlapped)
    assert sorted(p.name for p in (project / "rendezvous").iterdir()) == [
        "prod-eu-west-1-cluster",
        "prod-us-west-2-cluster",
    ]
    spans = []
    for spec in specs:
        slug = spec.name.replace(".", "-")
        outs = resources_of(project, spec.name)[urn(spec.name, f"{slug}-cluster")]["outputs"]
        spans.append((outs["started"], outs["finished"]))
    assert max(start for start, _ in spans) < min(end for _, end in spans)


# --- State move (infra rehome) ---------------------------------------------------------------------------


def test_move_resources_moves_state_between_stacks_without_touching_the_resources(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the primary holding a record that should belong to the secondary
    runner = runner_for(staging, project, notices)
    primary_spec = stack_by_name(staging, "staging.us-east-1")
    secondary_spec = stack_by_name(staging, "staging.us-west-2")
    primary = up_primary(runner, staging, extraResources=["staging-movable"])
    secondary_config = stack_config(staging, secondary_spec, {"staging.us-east-1": primary.outputs})
    runner.up(secondary_spec, secondary_config, Recorder())
    moved_from = urn("staging.us-east-1", "staging-movable")
    created_id = resources_of(project, "staging.us-east-1")[moved_from]["id"]

    # WHEN it is moved with the runner
    runner.move_resources(primary_spec, secondary_spec, [moved_from])

    # THEN the secondary's state holds it (same id) and the primary's doesn't
    moved_to = urn("staging.us-west-2", "staging-movable")
    assert resources_of(project, "staging.us-west-2")[moved_to]["id"] == created_id
    assert moved_from not in resources_of(project, "staging.us-east-1")
    # AND once the programs agree (the secondary declares it, the primary no longer does),
    # neither update creates, deletes or changes anything
    progress = Recorder()
    after = runner.up(
        secondary_spec, {**secondary_config, "aurora:extraResources": ["staging-movable"]}, progress
    )
    assert after.changes == {"same": 5}  # the stack, the records provider, vpc, cluster, the moved one
    assert progress.statuses("staging-movable") == ["same"]
    assert up_primary(runner, staging).changes == {"same": 5}  # the stack, provider, vpc, global, cluster

    # AND moving a URN the source no longer holds is refused by the CLI, and changes nothing
    with pytest.raises(StackOperationError) as caught:
        runner.move_resources(primary_spec, secondary_spec, [moved_from])
    assert caught.value.kind == "failed" and caught.value.stack == "staging.us-east-1"
    assert "no resources found to move" in str(caught.value) and moved_from in str(caught.value)
    assert moved_to in resources_of(project, "staging.us-west-2")


# --- The CrossGuard pack -------------------------------------------------------------------------------------


def policy_preview(project: Path, tmp_path: Path) -> tuple[int, str]:
    """`pulumi preview --policy-pack` of the primary with the repository's pack."""
    result = cli(
        project,
        "preview",
        "--policy-pack",
        str(policy_pack_launcher(tmp_path / "policy-launcher")),
        "--stack",
        qualified("staging.us-east-1"),
        "--color",
        "never",
        check=False,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def test_policy_pack_rejects_a_resource_of_an_aws_type_without_an_explicit_provider(
    staging: Environment, project: Path, notices: list[str], tmp_path: Path
) -> None:
    # GIVEN the primary's program declares an Aurora cluster that no explicit provider manages
    runner = runner_for(staging, project, notices)
    spec = stack_by_name(staging, "staging.us-east-1")
    runner.preview(spec, primary_config(staging, unmanagedCluster="true"), Recorder())

    # WHEN it is previewed with the repository's policy pack
    code, output = policy_preview(project, tmp_path)

    # THEN the real engine ran the pack and its mandatory rule failed the preview, naming the resource
    assert code != 0, output
    assert "aurora-guardrails@v" in output
    assert "no-ambient-provider" in output and "mandatory" in output
    assert "staging-us-east-1-unmanaged-cluster" in output


def test_policy_pack_passes_a_program_that_breaks_no_rule(
    staging: Environment, project: Path, notices: list[str], tmp_path: Path
) -> None:
    # GIVEN the primary's program with records only (no resource of an AWS type)
    runner = runner_for(staging, project, notices)
    runner.preview(stack_by_name(staging, "staging.us-east-1"), primary_config(staging), Recorder())

    # WHEN it is previewed with the policy pack
    code, output = policy_preview(project, tmp_path)

    # THEN the pack ran and reported nothing
    assert code == 0, output
    assert "aurora-guardrails@v" in output
    assert "no-ambient-provider" not in output and "mandatory" not in output
