"""`infra`: the operator CLI, thin on top of the operator side: parse, call, print.

One ``typer.Typer`` per command group, assembled here; each command module holds one group's
commands (planning, deploying, operating, schema, upgrade), and ``common`` what they share (exit codes,
options, error output and the seams tests replace).
"""

from __future__ import annotations

import typer

from orchestrator.cli import deploying, operating, planning, schema_cmds, upgrade_cmds
from orchestrator.cli.common import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_INVALID_ENVIRONMENT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    guarded,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_ENVIRONMENT",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "app",
    "main",
]

app = typer.Typer(
    name="infra",
    help="Deploy, inspect and tear down the Aurora MySQL global database of an environment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings are paragraphs: join their wrapped lines
)
# The order here is the order of `infra --help`.
for _command in (
    planning.plan,
    planning.rules,
    deploying.preview,
    deploying.up,
    deploying.destroy,
    operating.status,
    deploying.rehome,
):
    app.command()(_command)
app.add_typer(operating.failover_app, name="failover")
app.add_typer(deploying.ephemeral_app, name="ephemeral")
app.add_typer(schema_cmds.db_app, name="db")
app.add_typer(upgrade_cmds.upgrade_app, name="upgrade")


def _guard_every_command(typer_app: typer.Typer) -> None:
    """Every command, in every group, ends through common.guarded: one error line and a documented
    exit code whatever happens (a new command is covered by being registered)."""
    callback = typer_app.registered_callback
    if (
        callback is not None
        and callback.callback is not None
        and not getattr(callback.callback, "__wrapped__", None)
    ):
        callback.callback = guarded(callback.callback)
    for info in typer_app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "__wrapped__", None):
            info.callback = guarded(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_every_command(group.typer_instance)


_guard_every_command(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
