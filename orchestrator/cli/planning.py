"""`infra plan` and `infra rules`: the offline view, no AWS account and no Pulumi CLI."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_USAGE,
    EnvFileOption,
    EnvOption,
    JsonOption,
    fail,
    resolve_environment,
    write_document,
)

WriterOption = Annotated[
    str | None,
    typer.Option(
        "--writer",
        help="Plan as if the writer were in this region of the environment (after a failover). "
        "The stacks, resources and inputs must be the same as the plain plan's.",
    ),
]
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
    writer: WriterOption = None,
    today: TodayOption = None,
) -> None:
    """Show the whole deployment offline: every stack's program under Pulumi mocks, in order,
    with outputs fed forward, plus the guardrail findings. Needs no AWS account and no Pulumi CLI.

    The engine's end of standard support is judged on the current UTC date (or --today): the
    same files give the same plan on the same day. Exits 1 when a finding is an error.
    """
    from orchestrator.analysis.document import plan_document, render_text
    from orchestrator.analysis.plan import WriterRegionError, build_plan

    on = None
    if today is not None:
        try:
            on = datetime.date.fromisoformat(today)
        except ValueError:
            fail(EXIT_USAGE, f"--today {today!r} is not a date. Fix: use YYYY-MM-DD", kind="usage")
    environment = resolve_environment(env, env_file)
    try:
        result = build_plan(environment, writer_region=writer, today=on)
    except WriterRegionError as exc:  # checked before any stack program runs
        fail(EXIT_USAGE, str(exc), kind="usage")
    except Exception as exc:  # a stack program failed: name it, never a traceback only
        fail(EXIT_FAILED, f"the offline plan of {environment.name} failed: {type(exc).__name__}: {exc}")
    if json_output:
        write_document(plan_document(result))
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
        write_document(doc)
        return
    for r in RULES:
        typer.echo(f"{r.id:38s} {r.severity:7s} {r.rationale}  [{r.source}]")
