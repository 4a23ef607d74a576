"""`infra rehome` through the CLI with the in-process runner: what moves, in which call, and
every refusal (message, exit code, nothing called, file untouched)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from model import naming
from model.environment import ENVIRONMENTS_DIR, Environment, load_environment_file
from model.topology import stacks_for
from orchestrator import cli
from orchestrator.cli import common as cli_common
from orchestrator.deploy import rehome as rehome_module
from orchestrator.deploy.engine import Orchestrator
from orchestrator.deploy.rehome import owned_urns
from orchestrator.deploy.runner import InProcessRunner, StackOperationError

runner_cli = CliRunner()

HOME, NEW_HOME, OTHER = "us-east-1", "eu-west-1", "us-west-2"


class FakeLive:
    def __init__(self, writer: str | None) -> None:
        self.writer = writer

    def writer_region(self, env: Environment) -> str | None:
        return self.writer


@pytest.fixture(scope="module")
def deployed() -> InProcessRunner:
    """prod deployed once by the real programs under mocks (module-scoped: it takes a while)."""
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    runner = InProcessRunner(account_id=env.account_id)
    assert Orchestrator(env, runner).up().ok
    return runner


@pytest.fixture
def world(deployed: InProcessRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    runner = InProcessRunner(account_id=deployed.account_id)
    runner.states = {k: type(v)(dict(v.resources), dict(v.outputs), dict(v.tags), v.last_update)
                     for k, v in deployed.states.items()}  # fmt: skip
    env_file = tmp_path / "prod.yaml"
    shutil.copy(ENVIRONMENTS_DIR / "prod.yaml", env_file)
    state: dict[str, Any] = {"runner": runner, "file": env_file, "live": FakeLive(NEW_HOME), "made": 0}

    def make_runner(env: Environment) -> InProcessRunner:
        state["made"] += 1
        return runner

    monkeypatch.setattr(cli_common, "make_runner", make_runner)
    monkeypatch.setattr(cli_common, "make_live", lambda env: state["live"])
    return state


def rehome(world: dict[str, Any], *args: str) -> Any:
    return runner_cli.invoke(cli.app, ["rehome", "--env-file", str(world["file"]), *args])


def test_owned_urns_are_exactly_resources_of_the_deployed_home_stack(deployed: InProcessRunner) -> None:
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    home_state = deployed.states[f"prod.{HOME}"].resources
    # Mocks name a top-level resource `pulumi:pulumi:Stack$<type>`; the engine leaves the root out.
    for urn in owned_urns(env, HOME):
        mock_urn = urn.replace("::aurora-global::", "::aurora-global::pulumi:pulumi:Stack$", 1)
        assert urn in home_state or mock_urn in home_state, f"{urn} is not in the home stack's state"
    # Every owned resource is declared at the stack's root: a state move re-parents nothing.
    assert all("$" not in urn.split("::")[2] for urn in owned_urns(env, HOME))
    # Every generated password of the home stack is under a moved component.
    passwords = [
        u for u, r in home_state.items() if r["type"] == "random:index/randomPassword:RandomPassword"
    ]
    assert len(passwords) == 5  # master, three users and the failover probe's user
    assert all(any(p.rpartition("::")[2].startswith(o.rpartition("::")[2] + "-") for o in owned_urns(env, HOME))
               for p in passwords)  # fmt: skip


def test_rehome_moves_every_owned_urn_in_one_state_move_then_rewrites_the_file(world: dict[str, Any]) -> None:
    before = world["file"].read_text()
    result = rehome(world, "--to", NEW_HOME, "--yes")
    assert result.exit_code == 0, result.output
    runner: InProcessRunner = world["runner"]
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    assert runner.moves == [(f"prod.{HOME}", f"prod.{NEW_HOME}", owned_urns(env, HOME), False)]
    assert [c for c in runner.calls if c[0] == "move"] == [("move", f"prod.{HOME}")]
    dest = runner.states[f"prod.{NEW_HOME}"].resources
    source = runner.states[f"prod.{HOME}"].resources
    assert not any("secrets-kms" in u or "-master" in u or "GlobalCluster" in u for u in source)
    assert [r["name"] for r in dest.values() if r["type"] == "aws:rds/globalCluster:GlobalCluster"] == [
        "prod-use1-aurora-global"
    ]
    assert (
        sum(r["type"] == "random:index/randomPassword:RandomPassword" for r in dest.values()) == 5
    )  # with the probe user's
    after = world["file"].read_text()
    # Exactly three lines differ: the home, the secondaries (the old home in the new one's slot)
    # and the secrets' region recorded right after the home; comments and layout are untouched.
    assert after == before.replace(
        f"primary_region: {HOME}\nsecondary_regions: [{OTHER}, {NEW_HOME}]",
        f"primary_region: {NEW_HOME}\nsecrets_region: {HOME}\nsecondary_regions: [{OTHER}, {HOME}]",
    )
    assert after != before
    assert load_environment_file(world["file"]).primary_region == NEW_HOME


def test_dry_run_shows_the_exact_move_and_changes_nothing(world: dict[str, Any]) -> None:
    before = world["file"].read_text()
    result = runner_cli.invoke(
        cli.app, ["rehome", "--env-file", str(world["file"]), "--to", NEW_HOME, "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    assert doc["urns"] == owned_urns(env, HOME)
    assert (doc["source_stack"], doc["dest_stack"], doc["moved"]) == (
        f"prod.{HOME}",
        f"prod.{NEW_HOME}",
        False,
    )
    assert doc["env_file_edit"] == [
        f"primary_region: {NEW_HOME}",
        f"secondary_regions: [{OTHER}, {HOME}]",
        f"secrets_region: {HOME}",
    ]
    assert doc["problems"] == []
    assert doc["updates_in_place"] == role_tag_updates("prod", HOME, NEW_HOME)
    assert world["runner"].moves == [] and world["made"] == 0
    assert world["file"].read_text() == before


def test_dry_run_text_tells_the_tag_updates_the_next_up_makes(world: dict[str, Any]) -> None:
    result = rehome(world, "--to", NEW_HOME, "--dry-run")
    assert result.exit_code == 0, result.output
    told = [line.strip() for line in result.stdout.splitlines() if "updates in place" in line]
    assert told == [
        f"the next `infra up` updates in place: {u}" for u in role_tag_updates("prod", HOME, NEW_HOME)
    ]


@pytest.mark.parametrize(
    ("to", "writer", "code", "message"),
    [
        (HOME, NEW_HOME, 2, f"--to {HOME}: {HOME} is already the home region of prod"),
        ("ap-south-1", "ap-south-1", 2, "--to ap-south-1: not a region of prod"),
        (NEW_HOME, HOME, 5, f"--to {NEW_HOME}: the writer of prod is in {HOME}, not {NEW_HOME}"),
        (NEW_HOME, None, 5, "the writer of prod could not be located"),
    ],
    ids=["current-home", "outside-environment", "not-the-writer", "writer-unknown"],
)
def test_rehome_refuses_bad_targets_with_one_line_and_changes_nothing(
    world: dict[str, Any], to: str, writer: str | None, code: int, message: str
) -> None:
    world["live"] = FakeLive(writer)
    before = world["file"].read_text()
    result = rehome(world, "--to", to, "--yes")
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert result.stderr.count("error:") == 1 and "nothing was changed" in result.stderr
    assert world["runner"].moves == [] and world["made"] == 0
    assert world["file"].read_text() == before


def test_rehome_refuses_a_regional_environment(world: dict[str, Any], tmp_path: Path) -> None:
    regional = tmp_path / "dev.yaml"
    shutil.copy(ENVIRONMENTS_DIR / "dev.yaml", regional)
    env = load_environment_file(regional)
    assert not env.is_global
    result = runner_cli.invoke(cli.app, ["rehome", "--env-file", str(regional), "--to", "eu-west-1", "--yes"])
    assert result.exit_code == 2, result.output
    assert "is a regional environment" in result.stderr
    assert world["runner"].moves == [] and world["made"] == 0


def test_rehome_without_yes_off_a_terminal_is_refused_before_anything_moves(world: dict[str, Any]) -> None:
    result = rehome(world, "--to", NEW_HOME)
    assert result.exit_code == 5
    assert "needs --yes" in result.stderr
    assert world["runner"].moves == [] and world["made"] == 0


def test_a_failed_state_move_leaves_the_file_and_both_states_unchanged(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner: InProcessRunner = world["runner"]
    before_file = world["file"].read_text()
    before = {k: dict(v.resources) for k, v in runner.states.items()}

    def refuse(op: str, spec: Any) -> None:
        if op == "move":
            raise StackOperationError(
                spec.name, "destination has a provider with different inputs", kind="failed"
            )

    runner.fault = refuse
    result = rehome(world, "--to", NEW_HOME, "--yes")
    assert result.exit_code == 4
    assert "nothing moved, file unchanged" in result.stderr
    assert {k: dict(v.resources) for k, v in runner.states.items()} == before
    assert world["file"].read_text() == before_file


def test_the_dest_stack_is_the_target_regions_stack(world: dict[str, Any]) -> None:
    env = load_environment_file(world["file"])
    assert f"prod.{NEW_HOME}" in {s.name for s in stacks_for(env)}


def role_tag_updates(env_name: str, old_home: str, new_home: str) -> list[str]:
    """The only changes a rehome leaves for the next `infra up`: the two clusters' role tag."""

    def cluster(region: str, was: str, now: str) -> str:
        short = naming.short_region(region)
        return (
            f"aws:rds/cluster:Cluster {env_name}-{short}-aurora-cluster: tags: "
            f'{{"AuroraRole": "{was}", "Name": "{env_name}-aurora-{short}"}} -> '
            f'{{"AuroraRole": "{now}", "Name": "{env_name}-aurora-{short}"}}'
        )

    return sorted([cluster(old_home, "primary", "secondary"), cluster(new_home, "secondary", "primary")])


def test_the_rewritten_file_keeps_every_resource_of_every_stack_for_each_possible_new_home() -> None:
    # GIVEN each checked-in global environment and each of its secondaries as the new home
    for name in ("prod", "staging"):
        path = ENVIRONMENTS_DIR / f"{name}.yaml"
        env = load_environment_file(path)
        for to in env.secondary_regions:
            # WHEN rehome plans the move (the writer is already there)
            plan = rehome_module.plan_rehome(env, to, to, path)
            # THEN the programs, given the rewritten file, declare every resource of every stack
            # as it is, inputs included: the owned ones by the new home's stack, nothing created,
            # deleted, replaced or changed but the two clusters' role tag
            assert plan.problems == (), (name, to, plan.problems[:5])
            assert sorted(plan.updates) == role_tag_updates(name, env.primary_region, to)


def test_a_second_rehome_from_a_rehomed_file_keeps_every_resource_and_input(tmp_path: Path) -> None:
    # GIVEN prod rehomed to eu-west-1 (the secrets stay in us-east-1)
    path = tmp_path / "prod.yaml"
    path.write_text((ENVIRONMENTS_DIR / "prod.yaml").read_text())
    first = rehome_module.plan_rehome(load_environment_file(path), NEW_HOME, NEW_HOME, path)
    path.write_text(first.new_text)
    env = load_environment_file(path, check_organisation=False)
    # WHEN it is rehomed again, to the remaining secondary and back to the secrets' region
    for to in (OTHER, HOME):
        plan = rehome_module.plan_rehome(env, to, to, path)
        # THEN still nothing but the role tags changes
        assert plan.problems == (), (to, plan.problems[:5])
        assert sorted(plan.updates) == role_tag_updates("prod", NEW_HOME, to)


def test_an_input_that_follows_the_home_instead_of_the_region_order_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the deciders' table map ordered by the home's regions (home first), not region_order
    monkeypatch.setattr(
        naming,
        "failover_tables",
        lambda env: {r: naming.failover_table_name(env.name, r) for r in env.regions},
    )
    path = ENVIRONMENTS_DIR / "prod.yaml"
    env = load_environment_file(path)
    # WHEN rehome plans the move
    plan = rehome_module.plan_rehome(env, NEW_HOME, NEW_HOME, path)
    # THEN every decider's environment would change (a Lambda update nobody asked for): refused,
    # naming the resource and the field
    deciders = [p for p in plan.problems if "automation-decider-function gets other inputs" in p]
    assert len(deciders) == 3 and len(plan.problems) == 3, plan.problems
    assert all("(it would be updated or replaced): environment: " in p for p in deciders)


def test_a_plain_swap_of_home_and_secondary_is_what_the_check_refuses(tmp_path: Path) -> None:
    # GIVEN prod with home and first secondary swapped by hand and no secrets_region (the
    # procedure an earlier README described)
    source = ENVIRONMENTS_DIR / "prod.yaml"
    env = load_environment_file(source)
    swapped_path = tmp_path / "prod.yaml"
    swapped_path.write_text(
        source.read_text().replace(
            f"primary_region: {HOME}\nsecondary_regions: [{OTHER}, {NEW_HOME}]",
            f"primary_region: {NEW_HOME}\nsecondary_regions: [{OTHER}, {HOME}]",
        )
    )
    swapped = load_environment_file(swapped_path, check_organisation=False)
    # WHEN the programs are compared
    problems = rehome_module.program_problems(env, swapped)
    # THEN the secrets key would be replaced in another region and the global cluster and the
    # users' generated passwords re-created under other names: exactly what rehome refuses
    assert (
        "aws:kms/key:Key prod-secrets-kms-key moves from aws-prod-us-east-1 region us-east-1 to "
        "aws-prod-eu-west-1 region eu-west-1 (it would be replaced)"
    ) in problems
    assert (
        "aws:rds/globalCluster:GlobalCluster prod-use1-aurora-global is not declared by any program "
        "(it would be deleted)"
    ) in problems
    assert (
        "aws:rds/globalCluster:GlobalCluster prod-euw1-aurora-global is new in prod.eu-west-1 (it would be created)"
        in problems
    )
    assert any("RandomPassword prod-use1-database-app-password is not declared" in p for p in problems)


def test_rehome_refuses_and_names_what_the_programs_would_not_keep(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN programs that, with the rewritten file, would re-create the global cluster
    monkeypatch.setattr(
        rehome_module,
        "program_changes",
        lambda env, new_env: (
            [
                "aws:rds/globalCluster:GlobalCluster prod-use1-aurora-global is not declared by any "
                "program (it would be deleted)"
            ],
            [],
        ),
    )
    before = world["file"].read_text()
    result = runner_cli.invoke(
        cli.app, ["rehome", "--env-file", str(world["file"]), "--to", NEW_HOME, "--dry-run", "--json"]
    )
    # THEN the dry run lists why, and the command refuses (5) with nothing moved
    assert result.exit_code == 5, result.output
    assert json.loads(result.stdout)["problems"] == [
        "aws:rds/globalCluster:GlobalCluster prod-use1-aurora-global is not declared by any program (it would be deleted)"
    ]
    assert result.stderr.count("error:") == 1 and "would not keep 1 resources" in result.stderr
    applied = rehome(world, "--to", NEW_HOME, "--yes")
    assert applied.exit_code == 5 and "nothing was changed" in applied.stderr
    assert world["runner"].moves == [] and world["made"] == 0
    assert world["file"].read_text() == before


def test_rehome_there_and_back_keeps_the_region_order_and_restores_the_file_byte_for_byte(
    tmp_path: Path,
) -> None:
    source = ENVIRONMENTS_DIR / "prod.yaml"
    path = tmp_path / "prod.yaml"
    path.write_text(source.read_text())
    original = load_environment_file(source)
    for to in (NEW_HOME, OTHER, HOME):
        env = load_environment_file(path, check_organisation=False)
        text, _ = rehome_module.rewrite_home(path.read_text(), path, env, to)
        path.write_text(text)
        moved = load_environment_file(path, check_organisation=False)
        assert moved.primary_region == to
        assert moved.secrets_home == HOME  # the secrets never move
        assert moved.region_order == original.region_order
    assert path.read_text() == source.read_text()


def test_the_file_rewrite_refuses_a_layout_it_cannot_rewrite_line_for_line(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    block = "primary_region: us-east-1\nsecondary_regions:\n  - eu-west-1\n"
    with pytest.raises(rehome_module.RehomeUsageError, match="one-line forms"):
        rehome_module.rewrite_home(
            block, path, load_environment_file(ENVIRONMENTS_DIR / "prod.yaml"), "eu-west-1"
        )
    text = (
        (ENVIRONMENTS_DIR / "prod.yaml")
        .read_text()
        .replace("primary_region: us-east-1\n", "# home\nprimary_region: us-east-1  # initial writer\n")
    )
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    new, edit = rehome_module.rewrite_home(text, path, env, "eu-west-1")
    assert new == text.replace(
        "primary_region: us-east-1  # initial writer\nsecondary_regions: [us-west-2, eu-west-1]",
        "primary_region: eu-west-1  # initial writer\nsecrets_region: us-east-1\nsecondary_regions: [us-west-2, us-east-1]",
    )
    assert edit == (
        "primary_region: eu-west-1  # initial writer",
        "secondary_regions: [us-west-2, us-east-1]",
        "secrets_region: us-east-1",
    )


def test_after_rehome_the_next_preview_creates_and_deletes_nothing_in_any_stack(
    world: dict[str, Any],
) -> None:
    # GIVEN prod deployed and rehomed to eu-west-1 through the CLI
    assert rehome(world, "--to", NEW_HOME, "--yes").exit_code == 0
    runner: InProcessRunner = world["runner"]
    env = load_environment_file(world["file"], check_organisation=False)
    # WHEN every stack is previewed with the rewritten file
    report = Orchestrator(env, runner).preview()
    # THEN no stack deletes anything and the only resource to create is the secrets region's
    # provider in the new home, which the real `pulumi state move` copies in with the moved
    # resources (tests/deploy/test_real_engine.py; this in-memory runner doesn't)
    assert report.ok and report.home_region == NEW_HOME
    changes = {r.stack: r.changes for r in report.results}
    assert {stack: c["delete"] for stack, c in changes.items()} == dict.fromkeys(changes, 0)
    assert {stack: c["create"] for stack, c in changes.items() if c["create"]} == {f"prod.{NEW_HOME}": 1}
    dest = runner.states[f"prod.{NEW_HOME}"].resources
    assert not any(u.endswith("::aws-prod-us-east-1") for u in dest)  # the one to create
