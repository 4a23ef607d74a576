"""`infra db status|migrate|promote`: schema operations."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_REFUSED,
    DryRunOption,
    EnvFileOption,
    EnvOption,
    JsonOption,
    RoleArnOption,
    YesOption,
    confirm_protected,
    err,
    fail,
    resolve_environment,
    schema_call,
    write_document,
)
from orchestrator.operate.schema import EnvironmentStatus as SchemaEnvironmentStatus
from orchestrator.operate.schema import PromotionPlan as SchemaPromotionPlan

# --- Schema ----------------------------------------------------------------------------------

db_app = typer.Typer(
    help="Schema: status per environment, migrate, promote dev -> staging -> prod (pull model).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _emit(doc: object, text: str, json_output: bool) -> None:
    if json_output:
        write_document(doc)
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
        target = common.make_schema_target(environment, role_arn)
        status = schema_call(target.status)
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
    from orchestrator.operate import db as db_ops

    environment = resolve_environment(env, env_file)
    target = common.make_schema_target(environment, role_arn)
    result = schema_call(lambda: db_ops.migrate(target, dry_run=dry_run, progress=err))
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
    from orchestrator.operate import db as db_ops

    source_env = resolve_environment(from_env, None)
    target_env = resolve_environment(to_env, None)
    try:  # needs no cloud: before any credential is looked at
        db_ops.check_direction(source_env, target_env)
    except db_ops.PromotionDirectionError as exc:
        fail(EXIT_REFUSED, f"{exc}. Nothing was changed.")
    source = common.make_schema_target(source_env, source_role_arn)
    target = common.make_schema_target(target_env, role_arn)
    plan = schema_call(lambda: db_ops.plan_promote(source, target))
    assert isinstance(plan, SchemaPromotionPlan)
    names = [m.filename for m in plan.to_apply]
    if dry_run or not names:
        _emit(
            {"plan": plan.to_dict(), "applied": None},
            f"{from_env} -> {to_env}: {'would apply ' + ', '.join(names) if names else 'nothing to apply'}",
            json_output,
        )
        return
    confirm_protected(target_env, f"apply {', '.join(names)} to it", yes)
    result = schema_call(lambda: db_ops.promote(plan, target, progress=err))
    _emit(result, f"{from_env} -> {to_env}: applied {', '.join(names)}", json_output)
