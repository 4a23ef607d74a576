"""`infra status` and `infra failover`: live operations against AWS."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from model.environment import Environment
from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_REFUSED,
    EXIT_USAGE,
    EnvFileOption,
    EnvOption,
    JsonOption,
    RoleArnOption,
    YesOption,
    err,
    fail,
    resolve_environment,
    write_document,
)
from orchestrator.deploy.runner import StackOperationError

if TYPE_CHECKING:
    from orchestrator.operate.aws import AwsSession

# --- Live status and failover ------------------------------------------------------------------


def _session(env: Environment, role_arn: str | None) -> AwsSession:
    from orchestrator.operate.aws import CredentialsError, LiveError

    try:
        return common.make_aws_session(env, role_arn)
    except LiveError as exc:
        fail(EXIT_FAILED, str(exc), kind="credentials" if isinstance(exc, CredentialsError) else "aws")


def status(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per stack: last update and outputs. Live (read-only credentials suffice): global cluster
    members and the writer region, replication lag, alarm states, what DNS answers with.
    Exits 1 when it finds a problem (e.g. the writer is not in the file's primary region)."""
    from model.topology import stacks_for
    from orchestrator.operate.status import collect_status

    environment = resolve_environment(env, env_file)
    try:
        runner = common.make_runner(environment)
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
        write_document({"env": environment.name, "stacks": stack_docs, "live": live.to_json()})
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


def _check_failover_request(env: Environment, to: str, *, unplanned: bool, allow_data_loss: bool) -> None:
    """What needs no cloud is checked before any credential is: refused with exit 5."""
    if to not in env.regions:
        fail(EXIT_REFUSED, f"--to {to}: not a region of {env.name} (regions: {', '.join(env.regions)}). "
             "Nothing was changed.")  # fmt: skip
    if not env.is_global:
        fail(EXIT_REFUSED, f"{env.name} is a regional environment: there is no secondary to promote. "
             "Nothing was changed.")  # fmt: skip
    if unplanned and not allow_data_loss:
        fail(EXIT_REFUSED, "--unplanned needs --allow-data-loss: an unplanned failover loses the transactions "
             "not yet replicated to the target. Nothing was changed.")  # fmt: skip


failover_app = typer.Typer(
    help="Move the writer to another region with `infra failover --to REGION`: a planned switchover "
    "(RPO 0) by default after checking its preconditions, an unplanned failover only with --unplanned "
    "--allow-data-loss; it takes the flight lock the automated deciders share, waits, verifies the new "
    "writer and prints a timeline. `infra failover arm|disarm|status` set and show the automation.",
    invoke_without_command=True,
    no_args_is_help=False,
)

BreakGlassOption = Annotated[
    bool,
    typer.Option(
        "--break-glass",
        help="Take the flight lock only in the regions whose failover table answers (none answering: "
        "proceed without it). A flight in progress or the cooldown still refuse.",
    ),
]
ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why, recorded with the arm state (who and when are recorded too).")
]


@failover_app.callback()
def failover(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="Region whose cluster becomes the writer.")] = None,
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
    break_glass: BreakGlassOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the preconditions only.")] = False,
    yes: YesOption = False,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move the writer to another region: a planned switchover (RPO 0) by default, after checking
    its preconditions; an unplanned failover only with --unplanned --allow-data-loss. Takes the
    flight lock the automated deciders share (one flight at a time, then the cooldown), waits,
    verifies the new writer and prints a timeline."""
    given = [name for name, value in (("--to", to), ("--env", env), ("--env-file", env_file),
             ("--unplanned", unplanned), ("--allow-data-loss", allow_data_loss), ("--break-glass", break_glass),
             ("--dry-run", dry_run), ("--yes", yes), ("--role-arn", role_arn), ("--json", json_output)) if value]  # fmt: skip
    if ctx.invoked_subcommand is not None:
        if given:
            fail(EXIT_USAGE, f"{', '.join(given)}: options of `infra failover --to` given before "
                 f"`{ctx.invoked_subcommand}`; put them after it (`infra failover {ctx.invoked_subcommand} "
                 "--env E`)", kind="usage")  # fmt: skip
        return
    if to is None:
        fail(EXIT_USAGE, "--to: missing; name the region whose cluster becomes the writer "
             "(`infra failover --to REGION`), or use `infra failover arm|disarm|status`", kind="usage")  # fmt: skip
    _move_writer(to, env, env_file, unplanned=unplanned, allow_data_loss=allow_data_loss,
                 break_glass=break_glass, dry_run=dry_run, yes=yes, role_arn=role_arn, json_output=json_output)  # fmt: skip


def _move_writer(
    to: str,
    env: str | None,
    env_file: Path | None,
    *,
    unplanned: bool,
    allow_data_loss: bool,
    break_glass: bool,
    dry_run: bool,
    yes: bool,
    role_arn: str | None,
    json_output: bool,
) -> None:
    from orchestrator.operate import failover as failover_ops
    from orchestrator.operate import flight

    environment = resolve_environment(env, env_file)
    _check_failover_request(environment, to, unplanned=unplanned, allow_data_loss=allow_data_loss)
    aws = _session(environment, role_arn)
    operation = failover_ops.Operation.FAILOVER if unplanned else failover_ops.Operation.SWITCHOVER
    plan = failover_ops.plan_failover(
        environment,
        to,
        allow_data_loss=allow_data_loss,
        clients=aws,
        operation=operation,  # type: ignore[arg-type]
        break_glass=break_glass,
    )
    if not json_output:
        typer.echo(plan.render_text())
    if not plan.allowed or dry_run:
        refusal = "refused by the failed preconditions above: nothing was changed."
        if json_output:
            doc = {"plan": plan.to_json(), "timeline": None}
            if not plan.allowed:
                doc["error"] = {"code": EXIT_REFUSED, "kind": "refused", "message": refusal}
            write_document(doc)
        if not plan.allowed:
            fail(EXIT_REFUSED, refusal)
        return
    if unplanned:
        err("WARNING: stop all writes to the old primary first; fencing is best effort and writes within "
            "the replication lag may be lost.")  # fmt: skip
    confirm_needed = (unplanned or environment.protected or break_glass) and not yes
    if confirm_needed and (
        not sys.stdin.isatty() or not typer.confirm(f"Proceed with the {operation} to {to}?", default=False)
    ):
        err("Aborted: nothing was changed (pass --yes when not interactive).")
        raise typer.Exit(code=EXIT_REFUSED)
    by = aws.identity.arn if aws.identity is not None else "operator"
    try:
        held = flight.take_flight(
            environment, aws, plan.writer_region, by=by, now=time.time(), break_glass=break_glass
        )
    except flight.FlightRefusedError as exc:
        if json_output:
            write_document({"plan": plan.to_json(), "timeline": None,
                            "error": {"code": EXIT_REFUSED, "kind": "refused", "message": str(exc)}})  # fmt: skip
        fail(EXIT_REFUSED, str(exc))
    for warning in held.warnings:
        err(f"warning: {warning}")
    events: list[failover_ops.TimelineEvent] = []

    def progress(event: failover_ops.TimelineEvent) -> None:
        events.append(event)
        err(f"{event.at:%H:%M:%S} {event.event}: {event.detail}")

    def finish(outcome: str) -> None:
        # Sent unless RDS refused it outright: an unknown answer or an interruption after the
        # request may have started a promotion, so the cooldown starts.
        sent = any(e.event == "requested" for e in events) and not any(e.event == "rejected" for e in events)
        for warning in held.finish(sent=sent, outcome=outcome, now=time.time()):
            err(f"warning: {warning}")

    try:
        timeline = failover_ops.execute_failover(plan, aws, on_progress=progress)
    except failover_ops.FailoverError as exc:
        partial = getattr(exc, "timeline", None)
        finish(partial.outcome if partial is not None else "failed")
        err(f"error: {exc}")
        if partial is not None and not json_output:
            typer.echo(partial.render_text())
        if json_output:
            doc = {
                "plan": plan.to_json(),
                "timeline": partial.to_json() if partial else None,
                "error": {"code": EXIT_FAILED, "kind": "failed", "message": str(exc)},
            }
            write_document(doc)
        raise typer.Exit(code=EXIT_FAILED) from None
    except BaseException:
        finish("interrupted")
        raise
    finish(timeline.outcome)
    if json_output:
        write_document({"plan": plan.to_json(), "timeline": timeline.to_json()})
    else:
        typer.echo(timeline.render_text())
        typer.echo(
            f"The writer is now in {to}. Nothing to change afterwards (README.md, 'After a failover')."
        )


def _automation_environment(env: str | None, env_file: Path | None) -> Environment:
    environment = resolve_environment(env, env_file)
    if not environment.is_global:
        fail(EXIT_REFUSED, f"{environment.name} is a regional environment: it has no automated failover "
             "and no failover tables. Nothing was changed.")  # fmt: skip
    return environment


@failover_app.command("status")
def failover_status(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """The automated failover's arm state (effective and per region), the flight lock and the last
    promotion, read from every region's failover table. Exits 1 when a region's table cannot be read."""
    from orchestrator.operate import flight

    environment = _automation_environment(env, env_file)
    aws = _session(environment, role_arn)
    document = flight.automation_status(environment, aws)
    if document["armed"] is None:
        unread = "; ".join(document["errors"].values()) or "no answer"
        fail(EXIT_FAILED, f"no region's failover table could be read: {unread}", kind="aws")
    if json_output:
        write_document({"env": environment.name, "automation": document})
    else:
        typer.echo("\n".join(flight.render_automation(document)))
        for region, record in document["regions"].items():
            if isinstance(record, dict) and "error" in record:
                continue
            text = (
                "no record (deploy default)"
                if record is None
                else f"{'armed' if record['armed'] else 'disarmed'} (generation {record['generation']}) "
                f"by {record['changed_by']}: {record['reason'] or '-'}"
            )
            typer.echo(f"  {region:<15} {text}")
    if document["errors"] or document["lock_errors"]:
        raise typer.Exit(code=EXIT_FINDINGS)


def _change_arm(
    armed: bool, env: str | None, env_file: Path | None, reason: str, yes: bool, role_arn: str | None,
    json_output: bool,
) -> None:  # fmt: skip
    from orchestrator.operate import flight

    environment = _automation_environment(env, env_file)
    aws = _session(environment, role_arn)
    if (
        armed
        and environment.protected
        and not yes
        and (
            not sys.stdin.isatty()
            or not typer.confirm(
                f"Arm automated failover of {environment.name} (it may promote with data loss "
                f"up to failover.rpo_budget_seconds)?",
                default=False,
            )
        )
    ):
        err("Aborted: nothing was changed (pass --yes when not interactive).")
        raise typer.Exit(code=EXIT_REFUSED)
    by = aws.identity.arn if aws.identity is not None else "operator"
    try:
        change = flight.change_arm(environment, aws, armed=armed, by=by, reason=reason, now=time.time())
    except flight.ArmChangeError as exc:
        fail(EXIT_FAILED, str(exc), kind="aws")
    if not environment.failover.automated:
        err(f"note: failover.automated is false in {environment.name}: no decider is deployed, so the arm "
            "state takes effect once it is (`infra up`).")  # fmt: skip
    for region, problem in sorted(change.failed.items()):
        err(f"warning: {region} was not written: {problem}")
    if json_output:
        write_document({"env": environment.name, "change": change.as_dict()})
    else:
        typer.echo(
            f"{'Armed' if armed else 'Disarmed'} automated failover of {environment.name} "
            f"(generation {change.record.generation}) in {', '.join(change.written)}."
        )


@failover_app.command("arm")
def failover_arm(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    reason: ReasonOption = "",
    yes: YesOption = False,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Arm the automated failover again (after its one promotion it disarms itself). Must reach
    every region's failover table; a protected environment asks first (--yes when not interactive)."""
    _change_arm(True, env, env_file, reason, yes, role_arn, json_output)


@failover_app.command("disarm")
def failover_disarm(
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    reason: ReasonOption = "",
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Disarm the automated failover: the deciders keep observing and notifying but never promote.
    Written to every region that answers; disarmed anywhere is disarmed."""
    _change_arm(False, env, env_file, reason, True, role_arn, json_output)
