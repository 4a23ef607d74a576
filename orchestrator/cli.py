"""`infra`: the operator CLI.

Exit codes (README, "Exit codes"):
  0 success; 1 the plan has error-level findings; 2 usage error;
  3 invalid or unknown environment definition; 4 a stack program or operation failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.environment import (
    DEFAULT_ENVIRONMENT,
    Environment,
    EnvironmentFileError,
    UnknownEnvironmentError,
    load_environment,
    load_environment_file,
)

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INVALID_ENVIRONMENT = 3
EXIT_FAILED = 4

app = typer.Typer(
    name="infra",
    help="Deploy, inspect and tear down the Aurora MySQL global database of an environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help=f"Checked-in environment (environments/NAME.yaml). Default: {DEFAULT_ENVIRONMENT}."),
]
EnvFileOption = Annotated[
    Path | None,
    typer.Option("--env-file", help="Any environment file (instead of --env).", dir_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout instead of text.")]


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


@app.command()
def plan(env: EnvOption = None, env_file: EnvFileOption = None, json_output: JsonOption = False) -> None:
    """Show the whole deployment offline: every stack's program under Pulumi mocks, in order,
    with outputs fed forward, plus the guardrail findings. Needs no AWS account and no Pulumi CLI.

    Exits 1 when a finding is an error.
    """
    from orchestrator.plan import build_plan, plan_document, render_text

    environment = resolve_environment(env, env_file)
    try:
        result = build_plan(environment)
    except Exception as exc:  # a stack program failed: name it, never a traceback only
        err(f"error: the offline plan of {environment.name} failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(code=EXIT_FAILED) from None
    if json_output:
        sys.stdout.write(json.dumps(plan_document(result), indent=2, sort_keys=False, default=str) + "\n")
    else:
        typer.echo(render_text(result))
    if result.has_errors:
        raise typer.Exit(code=EXIT_FINDINGS)


@app.command()
def rules(json_output: JsonOption = False) -> None:
    """List the guardrail rules `infra plan` evaluates (id, severity, rationale, source)."""
    from orchestrator.guardrails import RULES

    if json_output:
        doc = [{"id": r.id, "severity": r.severity, "rationale": r.rationale, "source": r.source} for r in RULES]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for r in RULES:
        typer.echo(f"{r.id:38s} {r.severity:7s} {r.rationale}  [{r.source}]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
