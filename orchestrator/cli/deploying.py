"""`infra preview|up|destroy` and `infra ephemeral up|list|reap`: deployments through the engine."""

from __future__ import annotations

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
    EXIT_USAGE,
    EnvFileOption,
    EnvOption,
    JsonOption,
    TargetOption,
    YesOption,
    confirm_protected,
    err,
    fail,
    resolve_environment,
    schema_call,
    write_document,
)
from orchestrator.deploy.engine import EngineMoveRefusedError, Interrupted, Orchestrator, RunReport
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
    if report.writer_region is not None:
        lines.append(f"  home region {report.home_region}, writer in {report.writer_region}")
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
        doc = report.to_json()
        if report.failure is not None:  # the JSON error contract, next to the report's own fields
            doc["error"] = {"code": EXIT_FAILED, "kind": report.failure.kind, "message": str(report.failure)}
        write_document(doc)
    else:
        typer.echo(_report_text(report))
    if not report.ok:
        fail(EXIT_FAILED, str(report.failure), kind=report.failure.kind if report.failure else None)


def _orchestrator(
    env: Environment, quiet: bool, *, check_writer: bool, extra_tags: dict[str, str] | None = None
) -> Orchestrator:
    try:
        runner = common.make_runner(env)
    except StackOperationError as exc:
        fail(EXIT_FAILED, str(exc), kind=exc.kind)
    live = None
    if check_writer:
        try:
            live = common.make_live(env)
        except Exception as exc:  # no credentials for the check: say so, don't block
            err(f"warning: could not check where the writer is ({type(exc).__name__}: {exc}); continuing")
    return Orchestrator(
        env,
        runner,
        progress=ProgressPrinter(quiet),
        live=live,
        extra_tags=extra_tags,
        notice=lambda text: err(f"notice: {text}"),
    )


def _run(operation: Callable[[], RunReport]) -> RunReport:
    from orchestrator.operate.aws import LiveError

    try:
        return operation()
    except (EngineMoveRefusedError, LiveError) as exc:  # e.g. a failover in progress: wait for it
        fail(EXIT_REFUSED, str(exc))
    except Interrupted as exc:
        fail(EXIT_INTERRUPTED, f"interrupted: {exc}")


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
            fail(
                EXIT_REFUSED,
                f"{environment.name} is protected (deletion_policy: protected); refusing to destroy it. "
                "Its clusters have deletion protection on and take a final snapshot "
                f"({environment.name}-aurora-<region>-final) when deleted. To destroy it anyway, turn deletion "
                "protection off in a reviewed change first, then run with --allow-protected.",
            )
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

    try:  # a usage check: before the template is read or any backend is asked
        lifetime = ephemeral.parse_ttl(ttl)
    except ephemeral.EphemeralError as exc:
        fail(EXIT_USAGE, str(exc), kind="usage")
    template = resolve_environment(from_env, None)
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
        fail(EXIT_INVALID_ENVIRONMENT, str(exc))
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
        write_document([e.to_json(now) for e in envs])
        return
    if not envs:
        typer.echo("no ephemeral environments")
    for e in envs:
        if e.expiry_error is not None:
            typer.echo(f"{e.name:22s} UNKNOWN  {e.expiry_error}  stacks: {len(e.stacks)}")
            continue
        state = "EXPIRED" if e.expired(now) else "alive"
        typer.echo(f"{e.name:22s} {state:8s} expires {e.to_json(now)['expires_at']}  stacks: {len(e.stacks)}")
    unreadable = [e.name for e in envs if e.expiry_error is not None]
    if unreadable:
        err(f"warning: the expiry of {', '.join(unreadable)} is unreadable: `infra ephemeral reap` reports "
            "them as failures and destroys nothing of them")  # fmt: skip


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
        write_document([o.to_json() for o in outcomes])
    else:
        if not outcomes:
            typer.echo("nothing expired")
        for o in outcomes:
            verb = "would destroy" if o.dry_run else "destroyed"
            status = f"FAILED: {o.error}" if o.error else f"{verb} {', '.join(o.destroyed) or 'nothing'}"
            typer.echo(f"{o.env}: {status}")
    if any(o.error for o in outcomes):
        raise typer.Exit(code=EXIT_FAILED)


def rehome(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    to: Annotated[str, typer.Option("--to", help="The new home region: must hold the writer now.")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show exactly what would move; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Move the home region (owner of the global cluster, master secret, secrets key and generated
    passwords) to the region that holds the writer: one `pulumi state move`, no AWS change, then
    primary_region, secondary_regions and secrets_region rewritten in the environment file (the
    secrets stay in their region). Refused unless the programs, given the rewritten file, declare
    every resource as it is. See README "Moving the home region"."""
    from model.environment import environment_file
    from orchestrator.deploy.rehome import (
        RehomeFailedError,
        RehomeRefusedError,
        RehomeUsageError,
        apply_rehome,
        plan_rehome,
    )
    from orchestrator.operate.aws import WriterInTransitionError

    if not to:
        fail(EXIT_USAGE, "--to: give the new home region (e.g. --to eu-west-1)", kind="usage")
    environment = resolve_environment(env, env_file)
    # The file the environment was read from: checked in, or this machine's ephemeral one.
    path = env_file if env_file is not None else environment_file(env or environment.name)
    try:
        writer = None
        if environment.is_global and to != environment.primary_region and to in environment.secondary_regions:
            live = common.make_live(environment)
            writer = live.writer_region(environment) if live is not None else None
        plan = plan_rehome(environment, to, writer, path)
    except RehomeUsageError as exc:
        fail(EXIT_USAGE, f"{exc}; nothing was changed", kind="usage")
    except RehomeRefusedError as exc:
        fail(EXIT_REFUSED, f"{exc}; nothing was changed", kind="refused")
    except WriterInTransitionError as exc:
        # Not settled yet: refused. A writer that cannot be read at all (credentials, network)
        # fails like in every other command (exit 4), before anything changed.
        fail(
            EXIT_REFUSED,
            f"--to {to}: rehome needs the writer settled in {to}: {exc}; nothing was changed",
            kind="refused",
        )
    doc = {**plan.to_json(), "dry_run": dry_run, "moved": False}
    lines = [
        f"rehome {environment.name}: {plan.source.region} -> {plan.dest.region}"
        f"{' (dry run: nothing moves)' if dry_run else ''}",
        f"  pulumi state move --source {plan.source.name} --dest {plan.dest.name}:",
        *(f"    {urn}" for urn in plan.urns),
        f"  then {path}: {'; '.join(plan.edit)}",
        *(f"  would not be kept as it is: {problem}" for problem in plan.problems),
        *(f"  the next `infra up` also changes: {update}" for update in plan.updates),
    ]
    refusal = (
        f"--to {to}: with the rewritten file the stack programs would not keep {len(plan.problems)} "
        f"resources as they are (first: {plan.problems[0]}); nothing was changed"
        if plan.problems
        else None
    )
    if dry_run:
        if json_output:
            write_document(doc)
        else:
            typer.echo("\n".join(lines))
        if refusal:
            fail(EXIT_REFUSED, refusal, kind="refused")
        return
    err("\n".join(lines))
    if refusal:
        fail(EXIT_REFUSED, refusal, kind="refused")
    if not yes:
        if not sys.stdin.isatty():
            fail(
                EXIT_REFUSED,
                "rehome needs --yes when not run interactively; nothing was changed",
                kind="refused",
            )
        if not typer.confirm(f"Move the home of {environment.name} to {to}?", default=False):
            fail(EXIT_REFUSED, "aborted: nothing was changed.")
    try:
        apply_rehome(plan, common.make_runner(environment))
    except RehomeRefusedError as exc:
        fail(EXIT_REFUSED, f"{exc}; nothing was changed", kind="refused")
    except RehomeFailedError as exc:
        fail(EXIT_FAILED, str(exc), kind="failed")
    except StackOperationError as exc:
        hint = (
            f"; a state written by an earlier version names them otherwise: run `infra up --env "
            f"{environment.name}` with this version first (it renames them, no AWS change)"
            if "no resources found to move" in str(exc)
            else ""
        )
        fail(
            EXIT_FAILED,
            f"{exc} (the state move is one call: nothing moved, file unchanged){hint}",
            kind="failed",
        )
    doc["moved"] = True
    if json_output:
        write_document(doc)
    else:
        typer.echo(
            f"rehome of {environment.name}: moved {len(plan.urns)} resources to {plan.dest.name}, "
            f"{path} updated; commit it, then `infra preview --env {environment.name}`"
        )
