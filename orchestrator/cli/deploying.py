"""`infra preview|up|destroy` and `infra ephemeral up|list|reap`: deployments through the engine."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer

from model.environment import Environment, EnvironmentFileError, save_ephemeral_definition
from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_ENVIRONMENT,
    EXIT_REFUSED,
    EnvFileOption,
    EnvOption,
    JsonOption,
    TargetOption,
    YesOption,
    confirm_protected,
    err,
    resolve_environment,
    schema_call,
)
from orchestrator.deploy.engine import (
    EngineMoveRefusedError,
    Interrupted,
    Orchestrator,
    RunReport,
    WriterMovedError,
)
from orchestrator.deploy.runner import ProgressEvent, StackOperationError


class ProgressPrinter:
    """Per-stack, per-resource progress on stderr; engine events arrive on worker threads."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        stack, operation, typ, name, status = event
        with self._lock:
            typer.echo(f"[{stack}] {operation} {status:>9} {typ} {name}", err=True)


def _report_text(report: RunReport) -> str:
    lines = [
        f"{report.operation} of {report.env}: {'done' if report.ok else 'FAILED'} in {report.seconds:.1f}s"
    ]
    for result in report.results:
        changes = ", ".join(f"{k} {v}" for k, v in result.changes.items() if v) or "no changes"
        lines.append(f"  {result.stack:28s} {result.seconds:8.1f}s  {result.note or changes}")
        for key in ("cluster_endpoint", "reader_endpoint", "global_writer_endpoint", "writer_name"):
            if key in result.outputs:
                lines.append(f"      {key}: {result.outputs[key]}")
    if report.failure is not None:
        lines.append(f"  FAILED: {report.failure}")
        if report.skipped:
            lines.append(f"  not started: {', '.join(report.skipped)}")
        lines.append("  Fix the cause and re-run the same command: finished stacks are not redone.")
    return "\n".join(lines)


def _finish(report: RunReport, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    else:
        typer.echo(_report_text(report))
    if not report.ok:
        raise typer.Exit(code=EXIT_FAILED)


def _orchestrator(
    env: Environment, quiet: bool, *, check_writer: bool, extra_tags: dict[str, str] | None = None
) -> Orchestrator:
    try:
        runner = common.make_runner(env)
    except StackOperationError as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_FAILED) from None
    live = None
    if check_writer:
        try:
            live = common.make_live(env)
        except Exception as exc:  # no credentials for the check: say so, don't block
            err(f"warning: could not check where the writer is ({type(exc).__name__}: {exc}); continuing")
    return Orchestrator(env, runner, progress=ProgressPrinter(quiet), live=live, extra_tags=extra_tags)


def _run(operation: Callable[[], RunReport]) -> RunReport:
    from orchestrator.operate.aws import LiveError

    try:
        return operation()
    except (WriterMovedError, EngineMoveRefusedError, LiveError) as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_REFUSED) from None
    except Interrupted as exc:
        err(f"interrupted: {exc}")
        raise typer.Exit(code=EXIT_INTERRUPTED) from None


def preview(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    target_stack: TargetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Preview every stack against its real state (Pulumi CLI and credentials needed), in
    dependency order, feeding outputs forward. Stops at the first failed stack."""
    environment = resolve_environment(env, env_file)
    orch = _orchestrator(environment, json_output, check_writer=True)
    _finish(_run(lambda: orch.preview(target_stack=target_stack)), json_output)


def up(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    yes: YesOption = False,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Refresh each stack's state before updating.")
    ] = False,
    target_stack: TargetOption = None,
    skip_migrations: Annotated[
        bool,
        typer.Option(
            "--skip-migrations", help="Don't apply the repository's migrations after deploying (dev)."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Deploy: the primary stack, then every secondary in parallel (GlobalClusterIdentifier and
    the other outputs fed forward as stack config), then DNS. Stops at the first failed stack
    and names it; re-run to resume."""
    environment = resolve_environment(env, env_file)
    confirm_protected(environment, "deploy to it", yes)
    orch = _orchestrator(environment, json_output, check_writer=True)
    report = _run(lambda: orch.up(target_stack=target_stack, refresh=refresh))
    if (
        report.ok
        and environment.database.schema_source == "repository"
        and not skip_migrations
        and not target_stack
    ):
        # The environment where the repository's migrations enter the chain is usable the moment
        # `up` finishes: bootstrap ran inside the deployment, the schema is applied here.
        err(f"applying the repository's migrations to {environment.name} (skip with --skip-migrations)")
        apply_repository_migrations(environment)
    _finish(report, json_output)


def apply_repository_migrations(env: Environment) -> None:
    """`infra db migrate` for the repository-sourced environment. Tests replace this function."""
    from orchestrator.operate import db as db_ops

    schema_call(lambda: db_ops.migrate(common.make_schema_target(env), progress=err))


def destroy(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    yes: YesOption = False,
    allow_protected: Annotated[
        bool, typer.Option("--allow-protected", help="Needed to destroy a protected environment.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Tear everything down in reverse order: DNS, the secondaries (they leave the global
    cluster), then the primary with the global cluster."""
    environment = resolve_environment(env, env_file)
    if environment.protected:
        if not allow_protected:
            err(
                f"error: {environment.name} is protected (deletion_policy: protected); refusing to destroy it. "
                "Its clusters have deletion protection on and take a final snapshot "
                f"({environment.name}-aurora-<region>-final) when deleted. To destroy it anyway, turn deletion "
                "protection off in a reviewed change first, then run with --allow-protected."
            )
            raise typer.Exit(code=EXIT_REFUSED)
        err(
            f"warning: destroying protected environment {environment.name}: clusters still under deletion "
            "protection will refuse deletion and stop the run; deleted clusters leave final snapshots."
        )
    confirm_protected(environment, "destroy it", yes)
    orch = _orchestrator(environment, json_output, check_writer=False)
    _finish(_run(orch.destroy), json_output)


# --- Ephemeral environments ------------------------------------------------------------------

ephemeral_app = typer.Typer(
    help="Short-lived test environments: create, list, reap expired ones.", no_args_is_help=True
)


@ephemeral_app.command("up")
def ephemeral_up(
    from_env: Annotated[str, typer.Option("--from", help="Template environment (checked in).")] = "test",
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime, e.g. 3h, 90m, 1d12h (15m-7d).")] = "4h",
    name: Annotated[str | None, typer.Option("--name", help="Name (default <template>-<random>).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create an ephemeral environment from a template and deploy it."""
    from orchestrator.deploy import ephemeral

    template = resolve_environment(from_env, None)
    try:
        lifetime = ephemeral.parse_ttl(ttl)
    except ephemeral.EphemeralError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None
    probe_runner = common.make_runner(template)
    try:
        env, slot = ephemeral.generate(
            template,
            ttl=lifetime,
            now=datetime.now(UTC),
            used_slots=ephemeral.used_slots(probe_runner.list_stacks()),
            name=name,
        )
    except (ephemeral.EphemeralError, EnvironmentFileError) as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_INVALID_ENVIRONMENT) from None
    saved = save_ephemeral_definition(env)
    err(
        f"creating ephemeral environment {env.name} (expires {env.expires_at}, CIDR slot {slot}); "
        f"its definition is in {saved} (`--env {env.name}` works on this machine)"
    )
    orch = _orchestrator(env, json_output, check_writer=False, extra_tags={ephemeral.SLOT_TAG: str(slot)})
    _finish(_run(orch.up), json_output)


@ephemeral_app.command("list")
def ephemeral_list(json_output: JsonOption = False, env: EnvOption = None) -> None:
    """List ephemeral environments in the backend (of the template's account) with their expiry."""
    from orchestrator.deploy import ephemeral

    template = resolve_environment(env or "test", None)
    now = datetime.now(UTC)
    envs = ephemeral.list_ephemeral(common.make_runner(template).list_stacks())
    if json_output:
        sys.stdout.write(json.dumps([e.to_json(now) for e in envs], indent=2) + "\n")
        return
    if not envs:
        typer.echo("no ephemeral environments")
    for e in envs:
        state = "EXPIRED" if e.expired(now) else "alive"
        typer.echo(f"{e.name:22s} {state:8s} expires {e.to_json(now)['expires_at']}  stacks: {len(e.stacks)}")


@ephemeral_app.command("reap")
def ephemeral_reap(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be destroyed.")] = False,
    json_output: JsonOption = False,
    env: EnvOption = None,
) -> None:
    """Destroy every expired ephemeral environment; a failure with one doesn't stop the others.
    Exits 4 if any environment could not be reaped."""
    from orchestrator.deploy import ephemeral

    template = resolve_environment(env or "test", None)
    outcomes = ephemeral.reap(
        common.make_runner(template), now=datetime.now(UTC), dry_run=dry_run, on_progress=lambda t: err(t)
    )
    if json_output:
        sys.stdout.write(json.dumps([o.to_json() for o in outcomes], indent=2) + "\n")
    else:
        if not outcomes:
            typer.echo("nothing expired")
        for o in outcomes:
            verb = "would destroy" if o.dry_run else "destroyed"
            status = f"FAILED: {o.error}" if o.error else f"{verb} {', '.join(o.destroyed) or 'nothing'}"
            typer.echo(f"{o.env}: {status}")
    if any(o.error for o in outcomes):
        raise typer.Exit(code=EXIT_FAILED)
