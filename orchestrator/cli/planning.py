"""`infra plan` and `infra rules`: the offline view, no AWS account and no Pulumi CLI."""

from __future__ import annotations

import datetime
import json
import sys
from typing import Annotated

import typer

from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EnvFileOption,
    EnvOption,
    JsonOption,
    err,
    resolve_environment,
)

TodayOption = Annotated[
    str | None,
    typer.Option(
        "--today",
        help="Judge engine support on this date (YYYY-MM-DD) instead of the current UTC date.",
    ),
]


def plan(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    json_output: JsonOption = False,
    today: TodayOption = None,
) -> None:
    """Show the whole deployment offline: every stack's program under Pulumi mocks, in order,
    with outputs fed forward, plus the guardrail findings. Needs no AWS account and no Pulumi CLI.

    The engine's end of standard support is judged on the current UTC date (or --today): the
    same files give the same plan on the same day. Exits 1 when a finding is an error.
    """
    from orchestrator.analysis.document import plan_document, render_text
    from orchestrator.analysis.plan import build_plan

    on = None
    if today is not None:
        try:
            on = datetime.date.fromisoformat(today)
        except ValueError:
            raise typer.BadParameter(
                f"{today!r} is not a date; use YYYY-MM-DD", param_hint="--today"
            ) from None
    environment = resolve_environment(env, env_file)
    try:
        result = build_plan(environment, today=on)
    except Exception as exc:  # a stack program failed: name it, never a traceback only
        err(f"error: the offline plan of {environment.name} failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(code=EXIT_FAILED) from None
    if json_output:
        sys.stdout.write(json.dumps(plan_document(result), indent=2, sort_keys=False, default=str) + "\n")
    else:
        typer.echo(render_text(result))
    if result.has_errors:
        raise typer.Exit(code=EXIT_FINDINGS)


def rules(json_output: JsonOption = False) -> None:
    """List the guardrail rules `infra plan` evaluates (id, severity, rationale, source)."""
    from orchestrator.analysis.guardrails import RULES

    if json_output:
        doc = [
            {"id": r.id, "severity": r.severity, "rationale": r.rationale, "source": r.source} for r in RULES
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for r in RULES:
        typer.echo(f"{r.id:38s} {r.severity:7s} {r.rationale}  [{r.source}]")
