"""`infra status` and `infra failover`: live operations against AWS."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from model.environment import Environment
from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_REFUSED,
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
    from orchestrator.operate import failover as failover_ops

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
                "error": {"code": EXIT_FAILED, "kind": "failed", "message": str(exc)},
            }
            write_document(doc)
        raise typer.Exit(code=EXIT_FAILED) from None
    if json_output:
        write_document({"plan": plan.to_json(), "timeline": timeline.to_json()})
    else:
        typer.echo(timeline.render_text())
        typer.echo(
            f"The writer is now in {to}. Nothing to change afterwards (README.md, 'After a failover')."
        )
