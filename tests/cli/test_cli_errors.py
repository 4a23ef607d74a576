"""Every command ends with one error line and a documented exit code (issue 10 §3).

The matrix is generated from the CLI's own command tree: each command, with the minimal valid
arguments from ARGUMENTS (a test fails when a command has no entry), in each broken state of
tests/support/cli_states.py, in text and in --json mode.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from model import yaml_loader
from model.environment import environment_path
from orchestrator import cli
from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID_ENVIRONMENT,
    EXIT_REFUSED,
    EXIT_USAGE,
)
from tests.support.cli_states import STATES, command_tree, enter_state

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 130}

# command -> (minimal valid arguments, needs the cloud: pulumi and/or AWS)
ARGUMENTS: dict[str, tuple[list[str], bool]] = {
    "plan": (["--env", "dev"], False),
    "rules": ([], False),
    "preview": (["--env", "dev"], True),
    "up": (["--env", "dev", "--yes"], True),
    "destroy": (["--env", "dev", "--yes"], True),
    "status": (["--env", "dev"], True),
    "failover": (["--env", "staging", "--to", "us-west-2", "--dry-run"], True),
    "failover status": (["--env", "staging"], True),
    "failover arm": (["--env", "staging", "--yes"], True),
    "failover disarm": (["--env", "staging"], True),
    "rehome": (["--env", "staging", "--to", "us-west-2", "--dry-run"], True),
    "ephemeral up": (["--from", "test", "--ttl", "1h", "--name", "test-zz99"], True),
    "ephemeral list": ([], True),
    "ephemeral reap": ([], True),
    "db status": (["--env", "dev"], True),
    "db migrate": (["--env", "dev"], True),
    "db promote": (["--from", "dev", "--to", "staging", "--dry-run"], True),
    "upgrade check": (["--env", "staging", "--to", "8.0.mysql_aurora.3.10.5"], True),
}
COMMANDS = command_tree(cli.app)
runner = CliRunner()


def invoke(args: list[str]) -> Any:
    return runner.invoke(cli.app, args)


def test_the_matrix_covers_every_command_of_the_cli() -> None:
    # A new command needs an entry here: it is then run in every broken state below.
    assert set(ARGUMENTS) == set(COMMANDS)


def test_every_command_offers_json() -> None:
    lacking = [
        path
        for path, command in COMMANDS.items()
        if "--json" not in {o for p in command.params for o in p.opts}
    ]
    assert lacking == []


def assert_ends_cleanly(result: Any, *, json_mode: bool) -> None:
    assert result.exit_code in DOCUMENTED_EXIT_CODES, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code in (0, 1):
        return
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    if json_mode:
        doc = json.loads(result.stdout)  # exactly one document
        assert doc["error"]["code"] == result.exit_code
        assert doc["error"]["kind"] and doc["error"]["message"]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("path", sorted(ARGUMENTS))
@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_every_command_in_every_broken_state_ends_with_one_error_line_and_a_documented_code(
    path: str, state: str, json_mode: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the process in a broken state (no pulumi, no credentials, unreachable backend)
    enter_state(state, monkeypatch, tmp_path)
    args, needs_cloud = ARGUMENTS[path]
    if path == "plan" and (state != "no-pulumi" or not json_mode):
        pytest.skip("plan needs no cloud (and is slow): one run shows it is unaffected")

    # WHEN the command runs
    result = invoke([*path.split(), *args, *(["--json"] if json_mode else [])])

    # THEN it ends with a documented code: failed (4) when it needs what the state broke
    assert_ends_cleanly(result, json_mode=json_mode)
    if needs_cloud:
        assert result.exit_code == EXIT_FAILED, result.output
    else:
        assert result.exit_code in (0, 1), result.output


def test_no_pulumi_binary_is_named_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    enter_state("no-pulumi", monkeypatch, tmp_path)
    result = invoke(["ephemeral", "list", "--json"])
    assert result.exit_code == EXIT_FAILED
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "missing_cli" and "pulumi" in error["message"]


def test_missing_credentials_are_named_with_a_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    enter_state("no-credentials", monkeypatch, tmp_path)
    result = invoke(["db", "status", "--env", "dev", "--json"])
    assert result.exit_code == EXIT_FAILED
    error = json.loads(result.stdout)["error"]
    assert "credentials" in error["message"].lower() and "--role-arn" in error["message"]


def test_an_unreachable_backend_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    enter_state("unreachable-backend", monkeypatch, tmp_path)
    result = invoke(["ephemeral", "reap", "--json"])
    assert result.exit_code == EXIT_FAILED
    assert json.loads(result.stdout)["error"]["kind"] == "backend"


# --- Checks that need no cloud come first ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["failover", "--env", "staging", "--to", "ap-south-1"], "not a region of staging"),
        (["failover", "--env", "staging", "--to", "us-west-2", "--unplanned"], "needs --allow-data-loss"),
        (["failover", "--env", "dev", "--to", "us-east-1"], "regional environment"),
        (["db", "promote", "--from", "prod", "--to", "staging"], "against the promotion chain"),
        (["db", "promote", "--from", "staging", "--to", "dev"], "takes its migrations from the repository"),
        (["db", "promote", "--from", "staging", "--to", "staging"], "both staging"),
    ],
    ids=["failover-outside", "unplanned-without-data-loss", "failover-regional", "promote-down",
         "promote-into-dev", "promote-to-itself"],
)  # fmt: skip
def test_cloud_free_refusals_come_before_any_credential_check(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    enter_state("no-credentials", monkeypatch, tmp_path)
    reached: list[str] = []
    monkeypatch.setattr(common, "make_aws_session", lambda env, role_arn: reached.append(env.name))
    monkeypatch.setattr(common, "make_schema_target", lambda env, role_arn=None: reached.append(env.name))

    result = invoke([*args, "--json"])

    assert result.exit_code == EXIT_REFUSED, result.output
    assert expected in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == EXIT_REFUSED
    assert reached == []


# --- Usage errors and unexpected failures ---------------------------------------------------------


@pytest.mark.parametrize("ttl", ["99999999999999999999d", "9" * 400 + "m", "0m", "forever"])
def test_an_absurd_ttl_is_a_usage_error_before_anything_runs(
    ttl: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    enter_state("unreachable-backend", monkeypatch, tmp_path)
    result = invoke(["ephemeral", "up", "--ttl", ttl, "--json"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stderr.startswith("error: --ttl: ")
    assert len(result.stderr) < 400
    assert json.loads(result.stdout)["error"]["kind"] == "usage"


def test_env_and_env_file_together_is_one_usage_line_under_json() -> None:
    result = invoke(["plan", "--env", "dev", "--env-file", str(environment_path("dev")), "--json"])
    assert result.exit_code == EXIT_USAGE
    assert json.loads(result.stdout)["error"] == {
        "code": EXIT_USAGE,
        "kind": "usage",
        "message": "--env/--env-file: give either --env or --env-file, not both",
    }


def test_an_unexpected_exception_is_one_line_naming_its_type_and_exit_4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(env: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(common, "make_runner", broken)
    monkeypatch.delenv(common.DEBUG_VARIABLE, raising=False)
    result = invoke(["preview", "--env", "dev", "--json"])
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.strip().splitlines() == [
        "error: unexpected KeyError: 'surprise' (INFRA_DEBUG=1 shows the traceback)"
    ]
    assert json.loads(result.stdout)["error"]["kind"] == "internal"


def test_infra_debug_shows_the_unexpected_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(env: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(common, "make_runner", broken)
    monkeypatch.setenv(common.DEBUG_VARIABLE, "1")
    result = invoke(["preview", "--env", "dev"])
    assert isinstance(result.exception, KeyError)


# --- Environment-file path failures through the CLI (issue 10 §1) ---------------------------------


@pytest.mark.parametrize("kind", ["directory", "symlink-loop", "missing", "huge", "duplicate"])
def test_every_env_file_failure_exits_3_with_a_fix(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        target = tmp_path
    elif kind == "symlink-loop":
        target = tmp_path / "loop.yaml"
        os.symlink(target, target)
    elif kind == "missing":
        target = tmp_path / "absent.yaml"
    elif kind == "huge":
        target = tmp_path / "huge.yaml"
        target.write_text("a: " + "b" * (yaml_loader.MAX_FILE_BYTES + 10) + "\n")
    else:
        target = tmp_path / "twice.yaml"
        target.write_text(environment_path("prod").read_text() + "deletion_policy: ephemeral\n")

    result = invoke(["plan", "--env-file", str(target)])

    assert result.exit_code == EXIT_INVALID_ENVIRONMENT, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: invalid environment file ")
    assert "Fix: " in result.stderr
    assert "Usage:" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr) < 4000
