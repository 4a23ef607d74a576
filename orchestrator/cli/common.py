"""What every command shares: exit codes, options, error output, environment resolution, and the
seams tests replace (runner, live view, AWS session, schema target).

Exit codes (README, "Exit codes"):
  0 success; 1 a check found problems (plan findings, status problems); 2 usage error;
  3 invalid or unknown environment definition; 4 a stack program or operation failed
  (including a locked stack or an unreachable backend); 5 refused or aborted (protected
  environment without the explicit flag, writer moved by a failover, operator said no);
  130 interrupted (Ctrl-C): running operations were cancelled, re-run to resume.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from model.environment import (
    DEFAULT_ENVIRONMENT,
    Environment,
    EnvironmentFileError,
    UnknownEnvironmentError,
    load_environment,
    load_environment_file,
)

if TYPE_CHECKING:
    from orchestrator.deploy.engine import LiveView
    from orchestrator.deploy.runner import StackRunner
    from orchestrator.operate.aws import AwsSession
    from orchestrator.operate.db import SchemaTarget


EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INVALID_ENVIRONMENT = 3
EXIT_FAILED = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        help=f"Checked-in environment (environments/NAME.yaml). Default: {DEFAULT_ENVIRONMENT}.",
    ),
]
EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="Any environment file (instead of --env).", dir_okay=False),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document to stdout instead of text.")
]


def err(message: str) -> None:
    typer.echo(message, err=True)


def resolve_environment(env: str | None, env_file: Path | None) -> Environment:
    """Load and validate the environment, or exit 3 with the validator's message."""
    if env is not None and env_file is not None:
        raise typer.BadParameter("give either --env or --env-file, not both", param_hint="--env/--env-file")
    try:
        if env_file is not None:
            return load_environment_file(env_file)
        return load_environment(env or DEFAULT_ENVIRONMENT)
    except (EnvironmentFileError, UnknownEnvironmentError) as exc:
        err(f"error: {exc}")
        err("Nothing was run.")
        raise typer.Exit(code=EXIT_INVALID_ENVIRONMENT) from None


YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Don't ask for confirmation (protected environments ask).")
]
TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target-stack",
        help="Run one stack (e.g. prod.eu-west-1); its inputs are read from the stacks it depends on.",
    ),
]


RoleArnOption = Annotated[
    str | None,
    typer.Option(
        "--role-arn", help="Role to assume in the environment's account (default: your credentials)."
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]


def make_runner(env: Environment) -> StackRunner:
    """The Automation API runner (real deployments). Tests replace this function."""
    from orchestrator.deploy.automation import AutomationRunner

    return AutomationRunner(env, notice=lambda text: err(f"notice: {text}"))


def make_live(env: Environment) -> LiveView | None:
    """Read-only AWS view used to detect a moved writer. Tests replace this function."""
    from orchestrator.operate.readings import BotoLiveView

    return BotoLiveView(make_aws_session(env, None))


def make_aws_session(env: Environment, role_arn: str | None) -> AwsSession:
    """A verified session on the environment's account. Tests replace this function."""
    from orchestrator.operate.aws import connect

    return connect(env, role_arn=role_arn)


def make_schema_target(env: Environment, role_arn: str | None = None) -> SchemaTarget:
    """Clients on the environment's account. Tests replace this function."""
    from orchestrator.operate.db import target_for

    return target_for(env, role_arn=role_arn)


def confirm_protected(env: Environment, action: str, yes: bool) -> None:
    if not env.protected or yes:
        return
    if not sys.stdin.isatty():
        err(f"error: {env.name} is a protected environment; {action} needs --yes when not run interactively.")
        raise typer.Exit(code=EXIT_REFUSED)
    if not typer.confirm(f"{env.name} is a protected environment. {action.capitalize()}?", default=False):
        err("Aborted: nothing was changed.")
        raise typer.Exit(code=EXIT_REFUSED)


def schema_call(call: Callable[[], object]) -> object:
    from orchestrator.operate.aws import LiveError
    from orchestrator.operate.schema import SchemaError

    try:
        return call()
    except (SchemaError, LiveError) as exc:
        err(f"error: {exc}")
        err("Nothing was changed by this command beyond what it reports above.")
        raise typer.Exit(code=EXIT_FAILED) from None
