"""The Automation API runner against a real Pulumi CLI (skipped where there is none).

Needs: the ``pulumi`` binary on PATH, the aws resource plugin at the version the provider SDK
pins, and AWS credentials that can assume the environment's deploy role (the providers assume
it even for a preview). ``up``/``destroy`` of an ephemeral environment also need
``INFRA_IT_ALLOW_DEPLOY=1``: they create and delete real AWS resources.

Each test runs on a copy of the project (so the stacks' ``Pulumi.<stack>.yaml`` files land
in the copy, not in the checkout) against a temporary file backend with a throwaway
passphrase. ``INFRA_IT_ENV`` picks the environment (default ``dev``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from model.environment import PROJECT_ROOT, Environment, StateSettings, load_environment
from model.topology import stack_config, stacks_for
from orchestrator.deploy.automation import AutomationRunner, aws_plugin_version
from orchestrator.deploy.engine import Orchestrator
from orchestrator.deploy.ephemeral import generate, used_slots
from orchestrator.deploy.runner import ProgressEvent

pytestmark = pytest.mark.pulumi_cli

PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "pyproject.toml")
PROJECT_DIRS = ("components", "orchestrator", "lambda_src", "environments", "migrations")


@pytest.fixture(scope="module")
def pulumi_binary() -> str:
    binary = shutil.which("pulumi")
    if binary is None:
        pytest.skip("the `pulumi` binary is not on PATH (install the Pulumi CLI: pulumi.com/docs/install)")
    version = aws_plugin_version()
    try:
        listed = subprocess.run(
            [binary, "plugin", "ls", "--json"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(
            f"`pulumi plugin ls --json` failed ({exc}); cannot tell whether the aws plugin is installed"
        )
    plugins = json.loads(listed or "[]")
    found = [p.get("version") for p in plugins if p.get("name") == "aws" and p.get("kind") == "resource"]
    if version not in found:
        pytest.skip(
            f"the aws resource plugin {version} is not installed "
            f"(found: {', '.join(map(str, found)) or 'none'}); "
            f"run `pulumi plugin install resource aws {version}`"
        )
    return binary


def _aws_credentials_reason() -> str | None:
    import boto3

    if boto3.Session().get_credentials() is None:
        return "no AWS credentials (environment, profile or role) for the providers' deploy-role assumption"
    return None


@pytest.fixture(scope="module")
def aws_credentials(pulumi_binary: str) -> None:
    reason = _aws_credentials_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's program in a directory of its own, using this interpreter's virtualenv."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests' interpreter is not a virtualenv; the program needs one with the pinned deps")
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(PROJECT_ROOT / name, root / name)
    for name in PROJECT_DIRS:
        if (PROJECT_ROOT / name).exists():
            shutil.copytree(PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    settings = (root / "Pulumi.yaml").read_text()
    (root / "Pulumi.yaml").write_text(settings.replace("virtualenv: .venv", f"virtualenv: {sys.prefix}"))
    return root


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Environment:
    """The environment under test with its state in a temporary file backend."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-test-only")
    state = tmp_path / "state"
    state.mkdir()
    env = load_environment(os.environ.get("INFRA_IT_ENV", "dev"))
    return env.model_copy(update={"state": StateSettings(backend_url=f"file://{state}")})


def _ignore(_: ProgressEvent) -> None:
    return None


def test_preview_of_the_primary_stack_plans_resources(
    aws_credentials: None, project_copy: Path, environment: Environment
) -> None:
    # GIVEN a real CLI, the aws plugin and credentials
    runner = AutomationRunner(environment, project_dir=project_copy, notice=lambda _: None)
    primary = stacks_for(environment)[0]
    events: list[ProgressEvent] = []

    # WHEN the primary stack is previewed
    result = runner.preview(primary, stack_config(environment, primary, {}), events.append)

    # THEN resources would be created, the engine reported them, and the config file was written
    assert result.changes.get("create", 0) > 0, result.changes
    assert any(status == "create" for *_, status in events)
    assert (project_copy / f"Pulumi.{primary.name}.yaml").read_text().count("aurora:environment") == 1


@pytest.fixture
def deploy_allowed(aws_credentials: None) -> None:
    if os.environ.get("INFRA_IT_ALLOW_DEPLOY") != "1":
        pytest.skip(
            "INFRA_IT_ALLOW_DEPLOY=1 is not set: up/destroy would create and delete real AWS resources"
        )


@pytest.fixture
def ephemeral(
    deploy_allowed: None, project_copy: Path, environment: Environment
) -> Iterator[tuple[Environment, AutomationRunner]]:
    runner = AutomationRunner(environment, project_dir=project_copy, notice=lambda _: None)
    env, _ = generate(
        environment,
        ttl=timedelta(hours=2),
        now=datetime.now(UTC),
        used_slots=used_slots(runner.list_stacks()),
    )
    assert env.state == environment.state  # the template's temporary backend
    yield env, runner
    # Whatever happened, leave nothing behind in the account.
    Orchestrator(env, runner).destroy()


def test_ephemeral_environment_comes_up_and_goes_away(
    ephemeral: tuple[Environment, AutomationRunner],
) -> None:
    env, runner = ephemeral
    orchestrator = Orchestrator(env, runner)

    # WHEN the environment is brought up
    up = orchestrator.up()

    # THEN every stack is deployed and has outputs
    assert up.ok, up.failure
    for spec in stacks_for(env):
        info = runner.info(spec)
        assert info.exists and info.resource_count > 0 and info.outputs, spec.name

    # WHEN it is destroyed
    down = orchestrator.destroy()

    # THEN no stack has resources left
    assert down.ok, down.failure
    assert all(runner.info(spec).resource_count == 0 for spec in stacks_for(env))
