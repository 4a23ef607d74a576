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
from orchestrator.deploy.automation import AutomationRunner, resource_name
from orchestrator.deploy.engine import Orchestrator
from orchestrator.deploy.runner import StackOperationError, StackResult
from tests.support.real_engine import (
    Recorder,
    cli,
    engine_environment,
    exported_resources,
    kill_cli_holding_lock,
    make_project,
    missing_engine_reason,
    policy_pack_launcher,
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
    pid = kill_cli_holding_lock("up", qualified("staging.us-east-1"), locks, timeout=60)
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


# --- Aliases and state move of the owned resources (infra rehome) -----------------------------------

CLUSTER_T, SETUP_T, CREDENTIALS_T = (
    "aurora:database:AuroraCluster",
    "aurora:database:DatabaseSetup",
    "aurora:credentials:Credentials",
)
CREDENTIAL_PARTS = ("staging-app-password", "staging-app-secret", "staging-app-secret-version")


def owned_urns(stack: str, *, nested: bool) -> dict[str, str]:
    """Name -> URN of the owned resources, under their components (nested) or at the root."""
    setup = f"{SETUP_T}$" if nested else ""
    return {
        "staging-aurora-global": urn(
            stack, "staging-aurora-global", f"{CLUSTER_T}${DYNAMIC}" if nested else DYNAMIC
        ),
        "staging-app-credentials": urn(stack, "staging-app-credentials", f"{setup}{CREDENTIALS_T}"),
        **{part: urn(stack, part, f"{setup}{CREDENTIALS_T}${DYNAMIC}") for part in CREDENTIAL_PARTS},
    }


def ids_by_name(resources: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    return {resource_name(u): r.get("id") for u, r in resources.items()}


def test_full_urn_aliases_move_a_resource_and_a_component_with_its_children_to_the_root_unchanged(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the primary with the global cluster under the AuroraCluster component and the
    # credentials component (three records) under the DatabaseSetup component
    runner = runner_for(staging, project, notices)
    spec = stack_by_name(staging, "staging.us-east-1")
    assert up_primary(runner, staging, ownedLayout="nested").changes == {"create": 12}
    before = resources_of(project, "staging.us-east-1")
    nested, root = owned_urns("staging.us-east-1", nested=True), owned_urns("staging.us-east-1", nested=False)
    assert set(nested.values()) <= before.keys()

    # WHEN the program declares them at the root, the global cluster and the credentials
    # component aliased to their former full URN, the credentials' children with no alias
    planned = Recorder()
    preview = runner.preview(spec, primary_config(staging, ownedLayout="root"), planned)
    progress = Recorder()
    result = up_primary(runner, staging, progress, ownedLayout="root")

    # THEN the engine plans and reports nothing but "same": no create, delete or update, and
    # no step of its own for the URN change
    assert preview.changes == {"same": 12} and planned.events == []
    assert result.changes == {"same": 12}
    for name in nested:
        assert progress.statuses(name) == ["same"], name
    # AND the state holds them under their root URNs (the children under the moved
    # component's new URN), with the same ids, and none under the old URNs
    after = resources_of(project, "staging.us-east-1")
    assert set(root.values()) <= after.keys() and not set(nested.values()) & after.keys()
    assert ids_by_name(after) == ids_by_name(before)
    stack_urn = urn("staging.us-east-1", "aurora-global-staging.us-east-1", "pulumi:pulumi:Stack")
    assert after[root["staging-aurora-global"]]["parent"] == stack_urn
    assert after[root["staging-app-credentials"]]["parent"] == stack_urn
    for part in CREDENTIAL_PARTS:
        assert after[root[part]]["parent"] == root["staging-app-credentials"]
    # AND the next update is a no-op too (the aliases matched once; nothing is left to rename)
    assert up_primary(runner, staging, ownedLayout="root").changes == {"same": 12}


def up_with_owned_nested_in_the_primary(
    staging: Environment, project: Path, notices: list[str], **secondary_controls: Any
) -> tuple[AutomationRunner, dict[str, Any]]:
    """The primary holding the owned resources nested, the secondary without them."""
    runner = runner_for(staging, project, notices)
    primary = up_primary(runner, staging, ownedLayout="nested")
    secondary_spec = stack_by_name(staging, "staging.us-west-2")
    secondary_config = {
        **stack_config(staging, secondary_spec, {"staging.us-east-1": primary.outputs}),
        "aurora:ownedLayout": "absent",
        **{f"aurora:{k}": v for k, v in secondary_controls.items()},
    }
    runner.up(secondary_spec, secondary_config, Recorder())
    return runner, secondary_config


def test_state_move_re_parents_moved_resources_to_the_root_keeping_children_under_their_moved_component(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the owned resources nested in the primary, whose components stay there
    runner, secondary_config = up_with_owned_nested_in_the_primary(staging, project, notices)
    primary_spec = stack_by_name(staging, "staging.us-east-1")
    secondary_spec = stack_by_name(staging, "staging.us-west-2")
    source_before = resources_of(project, "staging.us-east-1")
    nested = owned_urns("staging.us-east-1", nested=True)

    # WHEN the global cluster and the credentials component (not its children) are moved
    runner.move_resources(
        primary_spec, secondary_spec, [nested["staging-aurora-global"], nested["staging-app-credentials"]]
    )

    # THEN the secondary holds the two at its root and the credentials' children (moved with
    # their component) under the component's root URN, with their ids
    moved = owned_urns("staging.us-west-2", nested=False)
    dest = resources_of(project, "staging.us-west-2")
    assert set(moved.values()) <= dest.keys()
    stack_urn = urn("staging.us-west-2", "aurora-global-staging.us-west-2", "pulumi:pulumi:Stack")
    assert dest[moved["staging-aurora-global"]]["parent"] == stack_urn
    assert dest[moved["staging-app-credentials"]]["parent"] == stack_urn
    for part in CREDENTIAL_PARTS:
        assert dest[moved[part]]["parent"] == moved["staging-app-credentials"]
        assert dest[moved[part]]["id"] == source_before[nested[part]]["id"]
    # AND their dependencies were rewritten to the destination's URNs
    assert sorted(dest[moved["staging-app-secret-version"]]["dependencies"]) == [
        moved["staging-app-password"],
        moved["staging-app-secret"],
    ]
    # AND the source lost all five and kept the components they were under
    source = resources_of(project, "staging.us-east-1")
    assert not set(nested.values()) & source.keys()
    assert urn("staging.us-east-1", "staging-us-east-1-db-setup", SETUP_T) in source
    assert urn("staging.us-east-1", "staging-us-east-1-aurora", CLUSTER_T) in source

    # WHEN the secondary's program declares them at the root (same names) and the primary's
    # no longer declares them
    progress = Recorder()
    dest_up = runner.up(secondary_spec, {**secondary_config, "aurora:ownedLayout": "root"}, progress)
    source_up = up_primary(runner, staging, ownedLayout="absent")

    # THEN neither update creates, deletes or changes anything
    # (secondary: stack, provider, vpc, cluster, its two components, the five moved)
    assert dest_up.changes == {"same": 11}
    for name in moved:
        assert progress.statuses(name) == ["same"], name
    # (primary: stack, provider, vpc, global, cluster, the two components left behind)
    assert source_up.changes == {"same": 7}


def test_state_move_points_moved_resources_at_the_destinations_provider_of_the_same_urn_and_inputs(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN both stacks declaring the records provider with the same name and inputs ({}):
    # one provider URN, each stack its own provider id
    runner, _ = up_with_owned_nested_in_the_primary(staging, project, notices)
    provider_urn = urn("staging.us-west-2", "records", "pulumi:providers:pulumi-python")
    dest_provider = resources_of(project, "staging.us-west-2")[provider_urn]
    source_provider = resources_of(project, "staging.us-east-1")[
        urn("staging.us-east-1", "records", "pulumi:providers:pulumi-python")
    ]
    assert dest_provider["id"] != source_provider["id"]
    nested = owned_urns("staging.us-east-1", nested=True)

    # WHEN records using the source's provider are moved
    runner.move_resources(
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
        [nested["staging-aurora-global"], nested["staging-app-credentials"]],
    )

    # THEN the move succeeds and they use the destination's provider (its URN and id), which
    # is unchanged and alone
    dest = resources_of(project, "staging.us-west-2")
    for name, moved_urn in owned_urns("staging.us-west-2", nested=False).items():
        if name != "staging-app-credentials":  # a component has no provider
            assert dest[moved_urn]["provider"] == f"{provider_urn}::{dest_provider['id']}", name
    assert dest[provider_urn] == dest_provider
    assert [u for u in dest if ":pulumi:providers:" in u] == [provider_urn]


def test_state_move_refuses_a_provider_whose_urn_the_destination_holds_with_other_inputs_and_moves_nothing(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the secondary's records provider with other inputs than the primary's
    runner, _ = up_with_owned_nested_in_the_primary(staging, project, notices, recordsProviderTag="us-west-2")
    source_before = resources_of(project, "staging.us-east-1")
    dest_before = resources_of(project, "staging.us-west-2")
    nested = owned_urns("staging.us-east-1", nested=True)

    # WHEN records using the primary's provider are moved
    with pytest.raises(StackOperationError) as caught:
        runner.move_resources(
            stack_by_name(staging, "staging.us-east-1"),
            stack_by_name(staging, "staging.us-west-2"),
            [nested["staging-aurora-global"], nested["staging-app-credentials"]],
        )

    # THEN the CLI refuses ("error: provider <dest URN> already exists in destination stack":
    # it names neither the inputs nor the source), and the runner says what differs and the fix
    provider_urn = urn("staging.us-west-2", "records", "pulumi:providers:pulumi-python")
    assert caught.value.kind == "failed" and caught.value.stack == "staging.us-east-1"
    assert (
        f"already holds provider {provider_urn} with other inputs than the provider of that name in "
        in str(caught.value)
    )
    assert isinstance(caught.value.__cause__, auto.CommandError)
    assert f"error: provider {provider_urn} already exists in destination stack" in str(
        caught.value.__cause__
    )
    # AND neither state changed
    assert resources_of(project, "staging.us-east-1") == source_before
    assert resources_of(project, "staging.us-west-2") == dest_before


def test_state_move_copies_a_provider_the_destination_lacks_and_switching_to_the_destinations_own_deletes_only_the_copy(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the owned records on a provider named after the old home's region, and the
    # secondary with a provider named after its own (other name, other inputs), as the
    # product's aws-<env>-<region> providers are
    east = {"name": "records-us-east-1", "tag": "us-east-1"}
    west = {"name": "records-us-west-2", "tag": "us-west-2"}
    runner = runner_for(staging, project, notices)
    primary = up_primary(runner, staging, ownedLayout="nested", ownedProvider=east)
    secondary_spec = stack_by_name(staging, "staging.us-west-2")
    secondary_config = {
        **stack_config(staging, secondary_spec, {"staging.us-east-1": primary.outputs}),
        "aurora:ownedLayout": "absent",
        "aurora:ownedProvider": west,
    }
    runner.up(secondary_spec, secondary_config, Recorder())
    source_provider_urn = urn("staging.us-east-1", "records-us-east-1", "pulumi:providers:pulumi-python")
    source_provider = resources_of(project, "staging.us-east-1")[source_provider_urn]
    nested = owned_urns("staging.us-east-1", nested=True)

    # WHEN the owned resources are moved
    runner.move_resources(
        stack_by_name(staging, "staging.us-east-1"),
        secondary_spec,
        [nested["staging-aurora-global"], nested["staging-app-credentials"]],
    )

    # THEN the secondary holds a copy of the old home's provider (same id and inputs) that
    # the moved records use, and the primary keeps its provider
    copied_urn = urn("staging.us-west-2", "records-us-east-1", "pulumi:providers:pulumi-python")
    dest = resources_of(project, "staging.us-west-2")
    assert (dest[copied_urn]["id"], dest[copied_urn]["inputs"]) == (
        source_provider["id"],
        {"tag": "us-east-1"},
    )
    moved_global = owned_urns("staging.us-west-2", nested=False)["staging-aurora-global"]
    assert dest[moved_global]["provider"] == f"{copied_urn}::{source_provider['id']}"
    kept = resources_of(project, "staging.us-east-1")[source_provider_urn]
    assert (kept["id"], kept["inputs"]) == (source_provider["id"], source_provider["inputs"])

    # WHEN the secondary's program declares them at the root on its own provider
    progress = Recorder()
    result = runner.up(secondary_spec, {**secondary_config, "aurora:ownedLayout": "root"}, progress)

    # THEN the only change is the copied provider's delete (a state-only resource): the
    # moved records are "same", because this dynamic provider's DiffConfig asks for no
    # replacement when a resource's provider changes (an AWS provider whose region differs
    # may: the engine replaces a resource whose new provider's DiffConfig says replace)
    assert result.changes == {"delete": 1, "same": 12}
    assert [(name, status) for _, _, _, name, status in progress.events if status != "same"] == [
        ("records-us-east-1", "deleting"),
        ("records-us-east-1", "deleted"),
    ]
    own_urn = urn("staging.us-west-2", "records-us-west-2", "pulumi:providers:pulumi-python")
    after = resources_of(project, "staging.us-west-2")
    assert copied_urn not in after
    assert after[moved_global]["provider"] == f"{own_urn}::{after[own_urn]['id']}"


def test_state_move_refuses_a_resource_whose_urn_the_destination_already_holds_and_moves_nothing(
    staging: Environment, project: Path, notices: list[str]
) -> None:
    # GIVEN the owned resources moved once, then created again in the primary (its program
    # still declared them): a second rehome finds their URNs in the secondary already
    runner, _ = up_with_owned_nested_in_the_primary(staging, project, notices)
    nested = owned_urns("staging.us-east-1", nested=True)
    source_spec, dest_spec = (
        stack_by_name(staging, "staging.us-east-1"),
        stack_by_name(staging, "staging.us-west-2"),
    )
    owned = [nested["staging-aurora-global"], nested["staging-app-credentials"]]
    runner.move_resources(source_spec, dest_spec, owned)
    assert up_primary(runner, staging, ownedLayout="nested").changes == {"create": 5, "same": 7}
    source_before, dest_before = (
        resources_of(project, "staging.us-east-1"),
        resources_of(project, "staging.us-west-2"),
    )

    # WHEN they are moved again
    with pytest.raises(StackOperationError) as caught:
        runner.move_resources(source_spec, dest_spec, owned)

    # THEN the CLI refuses ("error: resource <dest URN> already exists in destination stack",
    # one colliding URN as the destination calls it), the runner names it with the way out,
    # and neither state changed
    held = [
        u
        for u in owned_urns("staging.us-west-2", nested=False).values()
        if f"resource {u} " in str(caught.value)
    ]
    assert len(held) == 1, str(caught.value)
    assert "already exists in destination stack" in str(caught.value.__cause__)
    assert "pulumi state delete --stack <stack> <urn>" in str(caught.value)
    assert resources_of(project, "staging.us-east-1") == source_before
    assert resources_of(project, "staging.us-west-2") == dest_before
