"""What every command shares: exit codes, options, error output, environment resolution, and the
seams tests replace (runner, live view, AWS session, schema target).

Exit codes (README, "Exit codes"):
  0 success; 1 a check found problems (plan findings, status problems); 2 usage error;
  3 invalid or unknown environment definition; 4 a stack program or operation failed
  (including a locked stack or an unreachable backend); 5 refused or aborted (protected
  environment without the explicit flag, writer moved by a failover, operator said no);
  130 interrupted (Ctrl-C): running operations were cancelled, re-run to resume.

Every command runs inside :func:`guarded`: whatever goes wrong ends in one ``error:`` line on
stderr and one of these codes (never a traceback; ``INFRA_DEBUG=1`` re-raises unexpected
errors), and with ``--json`` in one ``{"error": {"code", "kind", "message"}}`` document on
stdout when the command had not printed its own.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import click
import typer

from model.environment import (
    DEFAULT_ENVIRONMENT,
    Environment,
    EnvironmentFileError,
    UnknownEnvironmentError,
    load_environment,
    load_environment_file,
)
from model.excerpt import excerpt

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
    typer.Option("--env-file", help="Any environment file (instead of --env)."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document to stdout instead of text.")
]


def err(message: str) -> None:
    if message.startswith("error: "):
        _invocation.last_error = message.removeprefix("error: ")
    typer.echo(message, err=True)


# --- One way to fail ---------------------------------------------------------------------------

KIND_BY_CODE = {
    EXIT_FINDINGS: "findings",
    EXIT_USAGE: "usage",
    EXIT_INVALID_ENVIRONMENT: "invalid_environment",
    EXIT_FAILED: "failed",
    EXIT_REFUSED: "refused",
    EXIT_INTERRUPTED: "interrupted",
}
DEBUG_VARIABLE = "INFRA_DEBUG"


class _Invocation(threading.local):
    """What the running command has said so far (one command per process, tests in sequence)."""

    json_output = False
    document_written = False
    last_error: str | None = None


_invocation = _Invocation()


def write_document(doc: object) -> None:
    """Print the command's one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    _invocation.document_written = True


def fail(code: int, message: str, *, kind: str | None = None, **details: Any) -> NoReturn:
    """End the command: one ``error:`` line on stderr (the message's first line carries the gist;
    an environment file's problems follow indented) and, under --json, one error document on
    stdout, unless the command already printed its document. Exits ``code``."""
    err(f"error: {message}")
    if _invocation.json_output and not _invocation.document_written:
        body: dict[str, Any] = {
            "code": code,
            "kind": kind or KIND_BY_CODE.get(code, "failed"),
            "message": message,
        }
        body.update(details)
        write_document({"error": body})
    raise typer.Exit(code=code)


def classify(exc: BaseException) -> tuple[int, str, str]:
    """(exit code, kind, one-line message) of a failure that escaped a command."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    from orchestrator.deploy.ephemeral import EphemeralError
    from orchestrator.deploy.runner import StackOperationError
    from orchestrator.operate.aws import CredentialsError, LiveError, WrongAccountError, describe_error
    from orchestrator.operate.failover import FailoverError
    from orchestrator.operate.schema import SchemaError

    text = excerpt(str(exc), 2000).strip("'\"") if len(str(exc)) > 2000 else str(exc)
    if isinstance(exc, EnvironmentFileError | UnknownEnvironmentError):
        return EXIT_INVALID_ENVIRONMENT, "invalid_environment", text
    if isinstance(exc, StackOperationError):
        return EXIT_FAILED, exc.kind, text
    if isinstance(exc, WrongAccountError):
        return EXIT_FAILED, "wrong_account", text
    if isinstance(exc, CredentialsError):
        return EXIT_FAILED, "credentials", text
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound | NoRegionError):
        return (EXIT_FAILED, "credentials",
                f"no usable AWS credentials ({describe_error(exc)}). Fix: set AWS_PROFILE, run aws sso login, "
                "or pass --role-arn")  # fmt: skip
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return (EXIT_FAILED, "unreachable",
                f"AWS did not answer ({describe_error(exc)}). Fix: check the network and the region")  # fmt: skip
    if isinstance(exc, ClientError | BotoCoreError):
        return EXIT_FAILED, "aws", describe_error(exc)
    if isinstance(exc, LiveError | SchemaError | FailoverError):
        return EXIT_FAILED, "failed", text
    if isinstance(exc, EphemeralError):
        return EXIT_INVALID_ENVIRONMENT, "invalid_environment", text
    if isinstance(exc, FileNotFoundError) and "pulumi" in str(exc.filename or exc):
        from orchestrator.deploy.automation import install_hint

        return EXIT_FAILED, "missing_cli", f"the `pulumi` binary is not on PATH: {install_hint()}"
    if isinstance(exc, OSError):
        return EXIT_FAILED, "os", f"{type(exc).__name__}: {text}"
    try:
        from pulumi.automation import errors as auto_errors
    except ImportError:  # pragma: no cover - pulumi is a dependency
        auto_errors = None  # type: ignore[assignment]
    if auto_errors is not None and isinstance(exc, auto_errors.CommandError):
        return EXIT_FAILED, "pulumi", text
    return (
        EXIT_FAILED,
        "internal",
        f"unexpected {type(exc).__name__}: {text} (INFRA_DEBUG=1 shows the traceback)",
    )


F = TypeVar("F", bound=Callable[..., Any])


def guarded(command: F) -> F:
    """Run a command so that every way it ends is one error line and a documented exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        _invocation.json_output = bool(kwargs.get("json_output"))
        _invocation.document_written = False
        _invocation.last_error = None
        try:
            return command(*args, **kwargs)
        except typer.Exit as exc:
            if exc.exit_code and _invocation.json_output and not _invocation.document_written:
                # The command explained itself on stderr already; the JSON reader gets the code.
                code = exc.exit_code
                message = _invocation.last_error or "see the messages on stderr"
                write_document({"error": {"code": code, "kind": KIND_BY_CODE.get(code, "failed"),
                                          "message": message}})  # fmt: skip
            raise
        except click.exceptions.Abort:
            fail(EXIT_REFUSED, "aborted: nothing was changed", kind="refused")
        except click.exceptions.BadParameter as exc:
            hint = exc.param_hint if isinstance(exc.param_hint, str) else None
            fail(EXIT_USAGE, f"{hint + ': ' if hint else ''}{exc.message}", kind="usage")
        except click.exceptions.UsageError as exc:
            fail(EXIT_USAGE, exc.message, kind="usage")
        except KeyboardInterrupt:
            fail(EXIT_INTERRUPTED, "interrupted: re-run the same command to resume", kind="interrupted")
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE) == "1":
                raise
            code, kind, message = classify(exc)
            fail(code, message, kind=kind)

    return run  # type: ignore[return-value]


def resolve_environment(env: str | None, env_file: Path | None) -> Environment:
    """Load and validate the environment, or exit 3 with the validator's message."""
    if env is not None and env_file is not None:
        fail(EXIT_USAGE, "--env/--env-file: give either --env or --env-file, not both", kind="usage")
    try:
        if env_file is not None:
            return load_environment_file(env_file)
        return load_environment(env or DEFAULT_ENVIRONMENT)
    except EnvironmentFileError as exc:
        fail(EXIT_INVALID_ENVIRONMENT, f"{exc}\nNothing was run.", kind="invalid_environment",
             file=exc.path, problems=exc.problems)  # fmt: skip
    except UnknownEnvironmentError as exc:
        fail(EXIT_INVALID_ENVIRONMENT, f"{exc} Nothing was run.", kind="unknown_environment")


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
        fail(
            EXIT_REFUSED,
            f"{env.name} is a protected environment; {action} needs --yes when not run interactively.",
        )
    if not typer.confirm(f"{env.name} is a protected environment. {action.capitalize()}?", default=False):
        fail(EXIT_REFUSED, "aborted: nothing was changed.")


def schema_call(call: Callable[[], object]) -> object:
    from orchestrator.operate.aws import LiveError
    from orchestrator.operate.schema import SchemaError

    try:
        return call()
    except (SchemaError, LiveError) as exc:
        fail(EXIT_FAILED, f"{exc} (nothing was changed by this command beyond what it reported)")
