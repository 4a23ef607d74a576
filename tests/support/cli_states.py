"""The broken states every CLI command must end cleanly in (issue 10 §3), and the command tree.

Each state replaces the CLI's seams (``orchestrator.cli.common.make_*``) the way the real
world breaks them, using the real code wherever it runs offline:

* ``no-pulumi``: no ``pulumi`` on PATH, the real AutomationRunner (it refuses to start); AWS
  endpoints refuse connections (real boto3 clients on a closed local port).
* ``no-credentials``: no AWS credentials anywhere (environment scrubbed, config files absent,
  instance metadata off) and the real ``connect``; the runner fails as the Pulumi CLI does
  without credentials.
* ``unreachable-backend``: every runner operation fails as the AutomationRunner reports an
  unusable state backend; AWS endpoints refuse connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
import typer
import typer.main
from botocore.config import Config

from model.environment import Environment
from orchestrator.cli import common
from orchestrator.deploy.runner import StackOperationError
from orchestrator.operate.aws import AwsSession, connect
from orchestrator.operate.db import SchemaTarget

STATES = ("no-pulumi", "no-credentials", "unreachable-backend")

_DEAD_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})


def command_tree(app: typer.Typer) -> dict[str, click.Command]:
    """Every runnable command of the CLI by its path ("plan", "db promote", ...): the leaves, and
    a group that runs on its own too (``infra failover --to``)."""
    leaves: dict[str, click.Command] = {}

    def walk(command: click.Command, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            if path and getattr(command, "invoke_without_command", False):
                leaves[path] = command
            for name, sub in subcommands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            leaves[path] = command

    walk(typer.main.get_command(app), "")
    return leaves


def dead_client(service: str, region: str) -> Any:
    """A real client whose endpoint refuses connections at once."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=_DEAD_CONFIG,
    )


class FailingRunner:
    """A StackRunner each of whose operations fails with ``error``."""

    def __init__(self, error: Callable[[str], StackOperationError]) -> None:
        self._error = error

    def _fail(self, spec: Any, *args: Any, **kwargs: Any) -> Any:
        raise self._error(getattr(spec, "name", "?"))

    preview = up = destroy = info = cancel = remove = _fail

    def list_stacks(self) -> list[Any]:
        raise self._error("*")


def _no_credentials_error(stack: str) -> StackOperationError:
    return StackOperationError(
        stack,
        "error: No valid credential sources found. Please see the AWS provider documentation for details",
        kind="failed",
    )


def _backend_error(stack: str) -> StackOperationError:
    return StackOperationError(
        stack,
        'error: failed to load checkpoint: blob (key ".pulumi/meta.yaml") (code=Unknown): dial tcp: '
        "lookup state-bucket.s3.amazonaws.com: no such host. The state backend could not be used",
        kind="backend",
    )


def _dead_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def session(env: Environment, role_arn: str | None) -> AwsSession:
        return connect(env, client_factory=dead_client)

    def target(env: Environment, role_arn: str | None = None) -> SchemaTarget:
        aws = connect(env, client_factory=dead_client)
        return SchemaTarget.of(
            env,
            lambda_client=aws.action_client("lambda", env.primary_region),
            s3_client=aws.client("s3", env.primary_region),
        )

    def live(env: Environment) -> Any:
        from orchestrator.operate.readings import BotoLiveView

        return BotoLiveView(session(env, None))

    monkeypatch.setattr(common, "make_aws_session", session)
    monkeypatch.setattr(common, "make_schema_target", target)
    monkeypatch.setattr(common, "make_live", live)


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def enter_state(state: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Put the process (and the CLI's seams) into ``state``."""
    # Never the real backend's notices or the lead's ephemeral definitions: a private directory.
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    if state == "no-pulumi":
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        monkeypatch.setattr(common, "make_runner", _real_runner)
        _dead_aws(monkeypatch)
    elif state == "no-credentials":
        _no_credentials(monkeypatch, tmp_path)
        monkeypatch.setattr(common, "make_runner", lambda env: FailingRunner(_no_credentials_error))
        # The real seams: connect() with whatever credentials the (scrubbed) environment has.
        for name in ("make_aws_session", "make_schema_target", "make_live"):
            monkeypatch.setattr(common, name, getattr(_REAL_SEAMS, name))
    elif state == "unreachable-backend":
        monkeypatch.setattr(common, "make_runner", lambda env: FailingRunner(_backend_error))
        _dead_aws(monkeypatch)
    else:  # pragma: no cover - a typo in a test
        raise ValueError(state)


def _real_runner(env: Environment) -> Any:
    return _REAL_SEAMS.make_runner(env)


class _RealSeams:
    """The seams as the CLI defines them (captured before any test replaces them)."""

    make_runner = staticmethod(common.make_runner)
    make_aws_session = staticmethod(common.make_aws_session)
    make_schema_target = staticmethod(common.make_schema_target)
    make_live = staticmethod(common.make_live)


_REAL_SEAMS = _RealSeams()


def states() -> Iterator[str]:
    yield from STATES
