"""`infra`: the operator CLI.

Exit codes (README, "Exit codes"):
  0 success; 1 a check found problems (plan findings, status problems); 2 usage error;
  3 invalid or unknown environment definition; 4 a stack program or operation failed
  (including a locked stack or an unreachable backend); 5 refused or aborted (protected
  environment without the explicit flag, writer moved by a failover, operator said no);
  130 interrupted (Ctrl-C): running operations were cancelled, re-run to resume.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.engine import Interrupted, Orchestrator, RunReport, WriterMovedError
from orchestrator.environment import (
    DEFAULT_ENVIRONMENT,
    Environment,
    EnvironmentFileError,
    UnknownEnvironmentError,
    load_environment,
    load_environment_file,
    save_ephemeral_definition,
)
from orchestrator.runner import ProgressEvent, StackOperationError
from orchestrator.schema import EnvironmentStatus as SchemaEnvironmentStatus
from orchestrator.schema import PromotionPlan as SchemaPromotionPlan

if TYPE_CHECKING:
    from orchestrator.db_ops import SchemaTarget
    from orchestrator.engine import LiveView
    from orchestrator.live import AwsSession
    from orchestrator.runner import StackRunner

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INVALID_ENVIRONMENT = 3
EXIT_FAILED = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="infra",
    help="Deploy, inspect and tear down the Aurora MySQL global database of an environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings are paragraphs: join their wrapped lines
)

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
        doc = [
            {"id": r.id, "severity": r.severity, "rationale": r.rationale, "source": r.source} for r in RULES
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    for r in RULES:
        typer.echo(f"{r.id:38s} {r.severity:7s} {r.rationale}  [{r.source}]")


# --- Deployments -------------------------------------------------------------------------------

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


def make_runner(env: Environment) -> StackRunner:
    """The Automation API runner (real deployments). Tests replace this function."""
    from orchestrator.automation import AutomationRunner

    return AutomationRunner(env, notice=lambda text: err(f"notice: {text}"))


def make_live(env: Environment) -> LiveView | None:
    """Read-only AWS view used to detect a moved writer. Tests replace this function."""
    from orchestrator.live import BotoLiveView

    return BotoLiveView(make_aws_session(env, None))


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


def _confirm_protected(env: Environment, action: str, yes: bool) -> None:
    if not env.protected or yes:
        return
    if not sys.stdin.isatty():
        err(f"error: {env.name} is a protected environment; {action} needs --yes when not run interactively.")
        raise typer.Exit(code=EXIT_REFUSED)
    if not typer.confirm(f"{env.name} is a protected environment. {action.capitalize()}?", default=False):
        err("Aborted: nothing was changed.")
        raise typer.Exit(code=EXIT_REFUSED)


def _orchestrator(
    env: Environment, quiet: bool, *, check_writer: bool, extra_tags: dict[str, str] | None = None
) -> Orchestrator:
    try:
        runner = make_runner(env)
    except StackOperationError as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_FAILED) from None
    live = None
    if check_writer:
        try:
            live = make_live(env)
        except Exception as exc:  # no credentials for the check: say so, don't block
            err(f"warning: could not check where the writer is ({type(exc).__name__}: {exc}); continuing")
    return Orchestrator(env, runner, progress=ProgressPrinter(quiet), live=live, extra_tags=extra_tags)


def _run(operation: Callable[[], RunReport]) -> RunReport:
    from orchestrator.live import LiveError

    try:
        return operation()
    except (WriterMovedError, LiveError) as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_REFUSED) from None
    except Interrupted as exc:
        err(f"interrupted: {exc}")
        raise typer.Exit(code=EXIT_INTERRUPTED) from None


@app.command()
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


@app.command()
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
    _confirm_protected(environment, "deploy to it", yes)
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
    from orchestrator import db_ops

    _schema_call(lambda: db_ops.migrate(make_schema_target(env), progress=err))


@app.command()
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
    _confirm_protected(environment, "destroy it", yes)
    orch = _orchestrator(environment, json_output, check_writer=False)
    _finish(_run(orch.destroy), json_output)


# --- Live status and failover ------------------------------------------------------------------


def make_aws_session(env: Environment, role_arn: str | None) -> AwsSession:
    """A verified session on the environment's account. Tests replace this function."""
    from orchestrator.live import connect

    return connect(env, role_arn=role_arn)


def _session(env: Environment, role_arn: str | None) -> AwsSession:
    from orchestrator.live import LiveError

    try:
        return make_aws_session(env, role_arn)
    except LiveError as exc:
        err(f"error: {exc}")
        raise typer.Exit(code=EXIT_FAILED) from None


@app.command()
def status(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per stack: last update and outputs. Live (read-only credentials suffice): global cluster
    members and the writer region, replication lag, alarm states, what DNS answers with.
    Exits 1 when it finds a problem (e.g. the writer is not in the file's primary region)."""
    from orchestrator.live import collect_status
    from orchestrator.topology import stacks_for

    environment = resolve_environment(env, env_file)
    try:
        runner = make_runner(environment)
        stacks = [runner.info(spec) for spec in stacks_for(environment)]
    except StackOperationError as exc:
        err(f"warning: stack state unavailable: {exc}")
        stacks = []
    aws = _session(environment, role_arn)
    live = collect_status(environment, aws)
    stack_docs = [
        {"name": s.name, "exists": s.exists, "resources": s.resource_count, "last_update": s.last_update,
         "outputs": s.outputs}
        for s in stacks
    ]  # fmt: skip
    if json_output:
        sys.stdout.write(json.dumps({"env": environment.name, "stacks": stack_docs, "live": live.to_json()},
                                    indent=2, default=str) + "\n")  # fmt: skip
    else:
        for doc in stack_docs:
            state = (
                f"{doc['resources']} resources, updated {doc['last_update']}"
                if doc["exists"]
                else "not deployed"
            )
            typer.echo(f"{doc['name']:28s} {state}")
        typer.echo(live.render_text())
    if not live.ok:
        raise typer.Exit(code=EXIT_FINDINGS)


@app.command()
def failover(
    to: Annotated[str, typer.Option("--to", help="Region whose cluster becomes the writer.")],
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    unplanned: Annotated[
        bool,
        typer.Option(
            "--unplanned", help="Unplanned failover (the primary is down); needs --allow-data-loss."
        ),
    ] = False,
    allow_data_loss: Annotated[
        bool, typer.Option("--allow-data-loss", help="Accept losing the writes within the replication lag.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the preconditions only.")] = False,
    yes: YesOption = False,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move the writer to another region: a planned switchover (RPO 0) by default, after checking
    its preconditions; an unplanned failover only with --unplanned --allow-data-loss. Waits,
    verifies the new writer and prints a timeline."""
    from orchestrator import failover_ops

    environment = resolve_environment(env, env_file)
    aws = _session(environment, role_arn)
    operation = failover_ops.Operation.FAILOVER if unplanned else failover_ops.Operation.SWITCHOVER
    plan = failover_ops.plan_failover(
        environment,
        to,
        allow_data_loss=allow_data_loss,
        clients=aws,
        operation=operation,  # type: ignore[arg-type]
    )
    if not json_output:
        typer.echo(plan.render_text())
    if not plan.allowed or dry_run:
        if json_output:
            sys.stdout.write(
                json.dumps({"plan": plan.to_json(), "timeline": None}, indent=2, default=str) + "\n"
            )
        if not plan.allowed:
            err("Refused: nothing was changed.")
            raise typer.Exit(code=EXIT_REFUSED)
        return
    if unplanned:
        err("WARNING: stop all writes to the old primary first; fencing is best effort and writes within "
            "the replication lag may be lost.")  # fmt: skip
    confirm_needed = (unplanned or environment.protected) and not yes
    if confirm_needed and (
        not sys.stdin.isatty() or not typer.confirm(f"Proceed with the {operation} to {to}?", default=False)
    ):
        err("Aborted: nothing was changed (pass --yes when not interactive).")
        raise typer.Exit(code=EXIT_REFUSED)
    try:
        timeline = failover_ops.execute_failover(
            plan, aws, on_progress=lambda event: err(f"{event.at:%H:%M:%S} {event.event}: {event.detail}")
        )
    except failover_ops.FailoverError as exc:
        err(f"error: {exc}")
        partial = getattr(exc, "timeline", None)
        if partial is not None and not json_output:
            typer.echo(partial.render_text())
        if json_output:
            doc = {
                "plan": plan.to_json(),
                "timeline": partial.to_json() if partial else None,
                "error": str(exc),
            }
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        raise typer.Exit(code=EXIT_FAILED) from None
    if json_output:
        sys.stdout.write(
            json.dumps({"plan": plan.to_json(), "timeline": timeline.to_json()}, indent=2, default=str) + "\n"
        )
    else:
        typer.echo(timeline.render_text())
        typer.echo(
            f"The writer is now in {to}. Next: the post-failover procedure in README.md ('After a failover')."
        )


# --- Ephemeral environments ------------------------------------------------------------------

ephemeral_app = typer.Typer(
    help="Short-lived test environments: create, list, reap expired ones.", no_args_is_help=True
)
app.add_typer(ephemeral_app, name="ephemeral")


@ephemeral_app.command("up")
def ephemeral_up(
    from_env: Annotated[str, typer.Option("--from", help="Template environment (checked in).")] = "test",
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime, e.g. 3h, 90m, 1d12h (15m-7d).")] = "4h",
    name: Annotated[str | None, typer.Option("--name", help="Name (default <template>-<random>).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create an ephemeral environment from a template and deploy it."""
    from orchestrator import ephemeral

    template = resolve_environment(from_env, None)
    try:
        lifetime = ephemeral.parse_ttl(ttl)
    except ephemeral.EphemeralError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None
    probe_runner = make_runner(template)
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
    from orchestrator import ephemeral

    template = resolve_environment(env or "test", None)
    now = datetime.now(UTC)
    envs = ephemeral.list_ephemeral(make_runner(template).list_stacks())
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
    from orchestrator import ephemeral

    template = resolve_environment(env or "test", None)
    outcomes = ephemeral.reap(
        make_runner(template), now=datetime.now(UTC), dry_run=dry_run, on_progress=lambda t: err(t)
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


# --- Schema ----------------------------------------------------------------------------------

db_app = typer.Typer(
    help="Schema: status per environment, migrate, promote dev -> staging -> prod (pull model).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(db_app, name="db")
RoleArnOption = Annotated[
    str | None,
    typer.Option(
        "--role-arn", help="Role to assume in the environment's account (default: your credentials)."
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]


def make_schema_target(env: Environment, role_arn: str | None = None) -> SchemaTarget:
    """Clients on the environment's account. Tests replace this function."""
    from orchestrator.db_ops import target_for

    return target_for(env, role_arn=role_arn)


def _schema_call(call: Callable[[], object]) -> object:
    from orchestrator.live import LiveError
    from orchestrator.schema import SchemaError

    try:
        return call()
    except (SchemaError, LiveError) as exc:
        err(f"error: {exc}")
        err("Nothing was changed by this command beyond what it reports above.")
        raise typer.Exit(code=EXIT_FAILED) from None


def _emit(doc: object, text: str, json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    else:
        typer.echo(text)


@db_app.command("status")
def db_status(
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Environment(s); default: dev, staging, prod.")
    ] = None,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Applied schema version, pending and blocking migrations, per environment."""
    names = env or ["dev", "staging", "prod"]
    docs: list[dict[str, object]] = []
    lines: list[str] = []
    for name in names:
        environment = resolve_environment(name, None)
        target = make_schema_target(environment, role_arn)
        status = _schema_call(target.status)
        assert isinstance(status, SchemaEnvironmentStatus)
        docs.append({"env": name, **status.raw})
        blocked = status.blocked_by
        lines.append(
            f"{name:10s} version {status.version:4d}  pending {list(status.pending) or 'none'}"
            + (
                f"  BLOCKED by {blocked.get('status')} {blocked.get('filename')}: {blocked.get('error')}"
                if blocked
                else ""
            )
        )
    _emit(docs, "\n".join(lines), json_output)


@db_app.command("migrate")
def db_migrate(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    dry_run: DryRunOption = False,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Apply pending migrations. In the repository-sourced environment (dev) this first publishes
    the repository's migrations; elsewhere it applies what was promoted to it."""
    from orchestrator import db_ops

    environment = resolve_environment(env, env_file)
    target = make_schema_target(environment, role_arn)
    result = _schema_call(lambda: db_ops.migrate(target, dry_run=dry_run, progress=err))
    assert isinstance(result, dict)
    plan = result.get("plan") or {}
    text = (
        f"{environment.name}: would publish {len(plan.get('publish', []))} and apply "
        f"{[m['filename'] for m in plan.get('to_apply', [])]}"
        if dry_run and plan
        else f"{environment.name}: done"
    )
    _emit(result, text, json_output)


@db_app.command("promote")
def db_promote(
    from_env: Annotated[
        str, typer.Option("--from", help="Source environment (its applied history is promoted).")
    ],
    to_env: Annotated[str, typer.Option("--to", help="Target environment.")],
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    role_arn: Annotated[
        str | None, typer.Option("--role-arn", help="Role to assume in the TARGET environment's account.")
    ] = None,
    source_role_arn: Annotated[
        str | None,
        typer.Option("--source-role-arn", help="Role to assume in the SOURCE environment's account."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Apply to the target exactly the migrations already applied in the source, in order, after
    verifying their checksums. A protected target (prod) asks for confirmation."""
    from orchestrator import db_ops

    source_env = resolve_environment(from_env, None)
    target_env = resolve_environment(to_env, None)
    source = make_schema_target(source_env, source_role_arn)
    target = make_schema_target(target_env, role_arn)
    plan = _schema_call(lambda: db_ops.plan_promote(source, target))
    assert isinstance(plan, SchemaPromotionPlan)
    names = [m.filename for m in plan.to_apply]
    if dry_run or not names:
        _emit(
            {"plan": plan.to_dict(), "applied": None},
            f"{from_env} -> {to_env}: {'would apply ' + ', '.join(names) if names else 'nothing to apply'}",
            json_output,
        )
        return
    _confirm_protected(target_env, f"apply {', '.join(names)} to it", yes)
    result = _schema_call(lambda: db_ops.promote(plan, target, progress=err))
    _emit(result, f"{from_env} -> {to_env}: applied {', '.join(names)}", json_output)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
