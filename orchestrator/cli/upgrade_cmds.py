"""`infra upgrade check`: the read-only preflight of an engine upgrade."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli import common
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EnvFileOption,
    EnvOption,
    JsonOption,
    RoleArnOption,
    fail,
    resolve_environment,
    write_document,
)

upgrade_app = typer.Typer(
    help="Engine upgrades: a read-only preflight per region before `infra up` upgrades.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@upgrade_app.command("check")
def check(
    to: Annotated[str, typer.Option("--to", help="Target engine version (RDS API string).")],
    env: EnvOption = None,
    env_file: EnvFileOption = None,
    role_arn: RoleArnOption = None,
    json_output: JsonOption = False,
) -> None:
    """Verify, read-only and per region, an upgrade of the environment's engine to --to: offered
    for the instance class, a valid upgrade target of the running version, supported for global
    databases, the switchover preconditions, and what `infra up` would then do in which order.

    Exits 0 (go) or 1 (problems found)."""
    from orchestrator.operate.aws import LiveError
    from orchestrator.operate.upgrade import preflight_upgrade

    environment = resolve_environment(env, env_file)
    try:
        aws = common.make_aws_session(environment, role_arn)
        result = preflight_upgrade(environment, to, clients=aws)
    except LiveError as exc:
        fail(EXIT_FAILED, str(exc))
    if json_output:
        write_document(result.to_json())
    else:
        typer.echo(result.render_text())
    if not result.go:
        raise typer.Exit(code=EXIT_FINDINGS)
