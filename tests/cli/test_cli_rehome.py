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


def test_owned_urns_are_resources_of_the_deployed_home_stack_and_cover_its_passwords(
    deployed: InProcessRunner,
) -> None:
    env = load_environment_file(ENVIRONMENTS_DIR / "prod.yaml")
    home_state = deployed.states[f"prod.{HOME}"].resources
    # Mocks name a top-level resource `pulumi:pulumi:Stack$<type>`; the engine leaves the root out.
    for urn in owned_urns(env, HOME):
        mock_urn = urn.replace("::aurora-global::", "::aurora-global::pulumi:pulumi:Stack$", 1)
        assert urn in home_state or mock_urn in home_state, f"{urn} is not in the home stack's state"
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
    # Nothing stateful that the home owns stays behind: no password, secret, secret version,
    # global cluster or replica key (its rotation schedules stay: the secrets' region runs them)
    stateful = {
        "random:index/randomPassword:RandomPassword",
        "aws:secretsmanager/secret:Secret",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:rds/globalCluster:GlobalCluster",
        "aws:kms/replicaKey:ReplicaKey",
    }
    assert sorted(r["name"] for r in source.values() if r["type"] in stateful) == []
    assert not any("secrets-kms" in u or "-master" in u for u in source)
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
    told = [line.strip() for line in result.stdout.splitlines() if "also changes" in line]
    assert told == [
        f"the next `infra up` also changes: {u}" for u in role_tag_updates("prod", HOME, NEW_HOME)
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
        # THEN still nothing but the role tags changes, and eu-west-1 no longer uses its copy of
        # the secrets region's provider (dropped from its state by the next `infra up`)
        assert plan.problems == (), (to, plan.problems[:5])
        assert sorted(plan.updates) == [
            *role_tag_updates("prod", NEW_HOME, to),
            f"provider aws-prod-{HOME}: no longer used by prod.{NEW_HOME}, dropped from its state (no AWS change)",
        ]


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
    problems, _ = rehome_module.program_changes(env, swapped)
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


PROD_TEXT = (ENVIRONMENTS_DIR / "prod.yaml").read_text()


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            f"secondary_regions: [{OTHER}, {NEW_HOME}]\n",
            f"secondary_regions:\n  - {OTHER}\n  - {NEW_HOME}\n",
            f"secondary_regions: rehome rewrites only the one-line form `secondary_regions: [{OTHER}, "
            f"{NEW_HOME}]` (found 'secondary_regions:'); write the list that way",
        ),
        (
            f"primary_region: {HOME}\n",
            f"primary_region: {HOME}\nsecrets_region: null\n",
            "secrets_region: rehome rewrites only the one-line form `secrets_region: R` (found "
            "'secrets_region: null'); a secrets_region without a value means none: remove the line",
        ),
        (
            f"primary_region: {HOME}\n",
            f"primary_region:\n  {HOME}\n",
            f"primary_region: rehome rewrites only the one-line form `primary_region: {HOME}` (found "
            "'primary_region:'); write it that way",
        ),
    ],
    ids=["block-list", "null-secrets-region", "primary-on-two-lines"],
)
def test_a_layout_the_rewrite_cannot_keep_line_for_line_is_refused_naming_the_key_and_line(
    world: dict[str, Any], before: str, after: str, message: str
) -> None:
    # GIVEN prod's file with one key written in a form that loads but rehome does not rewrite
    world["file"].write_text(PROD_TEXT.replace(before, after, 1))
    # WHEN rehome is asked to act
    result = rehome(world, "--to", NEW_HOME, "--yes")
    # THEN one line names the file, the key, what was found and the fix; exit 2, nothing moved
    assert result.exit_code == 2, result.output
    assert f"error: {world['file']}: {message}; nothing was changed" in result.stderr
    assert result.stderr.count("nothing was changed") == 1
    assert world["runner"].moves == [] and world["file"].read_text() == PROD_TEXT.replace(before, after, 1)


def test_a_crlf_file_keeps_its_line_ends_and_mode_and_a_link_keeps_pointing_at_the_rewritten_file(
    world: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN prod's file with CRLF line ends, mode 0640, reached through a symbolic link
    real = tmp_path / "real" / "prod.yaml"
    real.parent.mkdir()
    real.write_bytes(PROD_TEXT.replace("\n", "\r\n").encode())
    real.chmod(0o640)
    world["file"].unlink()
    world["file"].symlink_to(real)
    # WHEN it is rehomed
    result = rehome(world, "--to", NEW_HOME, "--yes")
    assert result.exit_code == 0, result.output
    # THEN the link still points at the real file, which has exactly the three-line edit, in CRLF
    assert world["file"].is_symlink() and world["file"].resolve() == real.resolve()
    expected = PROD_TEXT.replace(
        f"primary_region: {HOME}\nsecondary_regions: [{OTHER}, {NEW_HOME}]",
        f"primary_region: {NEW_HOME}\nsecrets_region: {HOME}\nsecondary_regions: [{OTHER}, {HOME}]",
    )
    assert real.read_bytes() == expected.replace("\n", "\r\n").encode()
    assert real.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in real.parent.iterdir()] == ["prod.yaml"]  # no staging file left


def test_a_file_rehome_cannot_stage_next_to_refuses_before_the_state_moves(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a staging file that cannot be created next to the file (a read-only directory, which
    # root would write into anyway, so the refusal is simulated at open())
    real_open = open

    def refusing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith(".prod.yaml.rehome"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    result = rehome(world, "--to", NEW_HOME, "--yes")
    # THEN refused (5) with the reason and the path, before anything moved
    assert result.exit_code == 5, result.output
    assert "cannot be rewritten (Permission denied: " in result.stderr
    assert "the file and its directory must be writable; nothing was changed" in result.stderr
    assert world["runner"].moves == [] and world["file"].read_text() == PROD_TEXT


def test_a_writer_in_transition_refuses_the_rehome_and_changes_nothing(
    world: dict[str, Any],
) -> None:
    from orchestrator.operate.aws import WriterInTransitionError

    class Busy:
        def writer_region(self, env: Environment) -> str | None:
            raise WriterInTransitionError(
                "global cluster prod-aurora-global is in a switching-over operation"
            )

    world["live"] = Busy()
    result = rehome(world, "--to", NEW_HOME, "--yes")
    assert result.exit_code == 5, result.output
    assert (
        f"--to {NEW_HOME}: rehome needs the writer settled in {NEW_HOME}: global cluster prod-aurora-global is in a switching-over operation; nothing was changed"
    ) in result.stderr
    assert world["runner"].moves == [] and world["file"].read_text() == PROD_TEXT


def test_rehome_of_an_ephemeral_environment_rewrites_its_file_on_this_machine(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an environment known only as this machine's ephemeral definition
    from model import environment as environment_module

    ephemeral = tmp_path / "ephemeral"
    ephemeral.mkdir()
    (ephemeral / "prod.yaml").write_text(PROD_TEXT)
    monkeypatch.setattr(environment_module, "ENVIRONMENTS_DIR", tmp_path / "none")
    monkeypatch.setattr(environment_module, "EPHEMERAL_DIR", ephemeral)
    # WHEN it is rehomed by name
    result = runner_cli.invoke(cli.app, ["rehome", "--env", "prod", "--to", NEW_HOME, "--dry-run", "--json"])
    # THEN the file rehome would rewrite is that definition
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["env_file"] == str(ephemeral / "prod.yaml")


def test_the_file_rewrite_keeps_comments_on_the_rewritten_lines(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
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


def test_after_rehome_the_next_preview_changes_nothing_but_the_two_clusters_role_tag(
    world: dict[str, Any],
) -> None:
    # GIVEN prod deployed and rehomed to eu-west-1 through the CLI
    assert rehome(world, "--to", NEW_HOME, "--yes").exit_code == 0
    runner: InProcessRunner = world["runner"]
    env = load_environment_file(world["file"], check_organisation=False)
    # WHEN every stack is previewed with the rewritten file
    report = Orchestrator(env, runner).preview()
    # THEN nothing is created or deleted (the state move copied the secrets region's provider
    # along, as the real CLI does: tests/deploy/test_real_engine.py), and the only updates are
    # the old and new home's clusters (their AuroraRole tag, which the dry run listed)
    assert report.ok and report.home_region == NEW_HOME
    changes = {r.stack: r.changes for r in report.results}
    assert {stack: c["create"] + c["delete"] for stack, c in changes.items()} == dict.fromkeys(changes, 0)
    assert {stack: c["update"] for stack, c in changes.items() if c["update"]} == {
        f"prod.{HOME}": 1,
        f"prod.{NEW_HOME}": 1,
    }
    dest = runner.states[f"prod.{NEW_HOME}"].resources
    assert any(u.endswith("::aws-prod-us-east-1") for u in dest)  # the copied provider


def test_a_second_rehome_leaves_only_the_unused_provider_copy_to_drop_as_the_dry_run_said(
    world: dict[str, Any],
) -> None:
    # GIVEN prod rehomed to eu-west-1, deployed with the new file, and the writer then in us-west-2
    assert rehome(world, "--to", NEW_HOME, "--yes").exit_code == 0
    runner: InProcessRunner = world["runner"]
    assert Orchestrator(load_environment_file(world["file"], check_organisation=False), runner).up().ok
    world["live"] = FakeLive(OTHER)
    # WHEN it is rehomed again, to us-west-2
    dry = rehome(world, "--to", OTHER, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert rehome(world, "--to", OTHER, "--yes").exit_code == 0
    report = Orchestrator(load_environment_file(world["file"], check_organisation=False), runner).preview()
    # THEN the dry run told the one delete the next preview shows: eu-west-1's copy of the
    # secrets region's provider, which nothing there uses any more (no AWS change)
    told = [u for u in json.loads(dry.stdout)["updates_in_place"] if u.startswith("provider ")]
    assert told == [
        f"provider aws-prod-us-east-1: no longer used by prod.{NEW_HOME}, dropped from its state (no AWS change)"
    ]
    changes = {r.stack: r.changes for r in report.results}
    assert {stack: c["delete"] for stack, c in changes.items() if c["delete"]} == {f"prod.{NEW_HOME}": 1}
    assert {stack: c["create"] for stack, c in changes.items()} == dict.fromkeys(changes, 0)
    assert {stack: c["update"] for stack, c in changes.items() if c["update"]} == {
        f"prod.{NEW_HOME}": 1,
        f"prod.{OTHER}": 1,
    }
