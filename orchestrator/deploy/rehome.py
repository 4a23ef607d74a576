"""`infra rehome`: move the home region's ownership (DESIGN.md 4b) to another region's stack.

What the home stack owns, by URN (components/programs_regional.py, credentials.py, kms.py,
aurora.py, database_setup.py): the multi-region secrets key component (its key, alias,
replicas and their aliases move with it), the master credentials component (random
password, secret, initial version), the global cluster (a child of the home cluster's
component, which stays: it is re-parented to the destination's root) and the application
users' credentials components (children of the home DatabaseSetup, which stays).

All of them move in ONE `pulumi state move` call (one source, one destination), so there is
no state in between two calls to lose; the environment file is rewritten only after that
call succeeded, and its new text is computed and checked before anything moves.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import naming
from model.environment import APP_USERS, PROJECT_NAME, Environment, load_environment_file
from model.topology import StackSpec, regional_stack_name, stacks_for


class RehomeUsageError(Exception):
    """Bad input (exit 2): nothing was changed."""


class RehomeRefusedError(Exception):
    """Refused (exit 5): the live state does not allow it; nothing was changed."""


@dataclass(frozen=True)
class RehomePlan:
    env: str
    source: StackSpec
    dest: StackSpec
    urns: tuple[str, ...]
    env_file: Path
    new_text: str = field(repr=False)
    edit: tuple[str, ...]
    """The environment file's lines as they will read (primary_region, secondary_regions)."""
    problems: tuple[str, ...] = ()
    """Why the programs, given the rewritten file, would not keep the moved resources as they are
    (deleted, replaced or re-created): rehome refuses to move while there is any."""

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "from": self.source.region,
            "to": self.dest.region,
            "source_stack": self.source.name,
            "dest_stack": self.dest.name,
            "urns": list(self.urns),
            "env_file": str(self.env_file),
            "env_file_edit": list(self.edit),
            "problems": list(self.problems),
        }


def _urn(stack: str, types: Sequence[str], name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT_NAME}::{'$'.join(types)}::{name}"


def owned_urns(env: Environment, home: str) -> list[str]:
    """URNs of what the home stack of ``env`` (in region ``home``) owns, in a fixed order."""
    stack = regional_stack_name(env.name, home)
    prefix = f"{env.name}-{naming.short_region(home)}"
    urns = [
        _urn(stack, ["aurora:kms:RegionalKey"], f"{env.name}-secrets-kms"),
        _urn(stack, ["aurora:credentials:Credentials"], f"{env.name}-master"),
        _urn(
            stack,
            ["aurora:database:AuroraCluster", "aws:rds/globalCluster:GlobalCluster"],
            f"{prefix}-aurora-global",
        ),
    ]
    # The failover probe's user (components/database_setup.py) is a generated password too.
    for role in (*APP_USERS, *(["probe"] if env.failover.automated else [])):
        urns.append(
            _urn(
                stack,
                ["aurora:database:DatabaseSetup", "aurora:credentials:Credentials"],
                f"{prefix}-database-{role}",
            )
        )
    return urns


_PRIMARY_LINE = re.compile(r"^(primary_region:[ \t]*)(\S+)([ \t]*(#.*)?)$", re.MULTILINE)
_SECONDARY_LINE = re.compile(r"^(secondary_regions:[ \t]*)\[([^\]\n]*)\]([ \t]*(#.*)?)$", re.MULTILINE)


def rewrite_home(text: str, path: Path, old: str, new: str) -> tuple[str, tuple[str, str]]:
    """The file's text with ``new`` as primary_region and ``old`` in new's place among the
    secondaries; every other byte (comments, order, layout) unchanged. Only the one-line forms
    `primary_region: R` and `secondary_regions: [A, B]` are rewritten: anything else is refused."""
    primary = list(_PRIMARY_LINE.finditer(text))
    secondary = list(_SECONDARY_LINE.finditer(text))
    if len(primary) != 1 or len(secondary) != 1 or primary[0].group(2).strip("'\"") != old:
        raise RehomeUsageError(
            f"{path}: rehome rewrites only the one-line forms `primary_region: {old}` and "
            "`secondary_regions: [...]`; write them that way (nothing was changed)"
        )
    regions = [r.strip().strip("'\"") for r in secondary[0].group(2).split(",") if r.strip()]
    regions = [old if r == new else r for r in regions]
    p_line = f"{primary[0].group(1)}{new}{primary[0].group(3)}"
    s_line = f"{secondary[0].group(1)}[{', '.join(regions)}]{secondary[0].group(3)}"
    out = text[: primary[0].start()] + p_line + text[primary[0].end() :]
    match = _SECONDARY_LINE.search(out)
    assert match is not None
    out = out[: match.start()] + s_line + out[match.end() :]
    return out, (p_line.strip(), s_line.strip())


def plan_rehome(env: Environment, to: str, writer: str | None, env_file: Path) -> RehomePlan:
    """Check the request against the environment and the live writer; raise before anything moves."""
    if not env.is_global:
        raise RehomeUsageError(
            f"--to {to}: {env.name} is a regional environment (no global cluster, nothing owned to move)"
        )
    if to == env.primary_region:
        raise RehomeUsageError(f"--to {to}: {to} is already the home region of {env.name}")
    if to not in env.secondary_regions:
        raise RehomeUsageError(
            f"--to {to}: not a region of {env.name} (its secondaries: {', '.join(env.secondary_regions)})"
        )
    if writer is None:
        raise RehomeRefusedError(
            f"--to {to}: the writer of {env.name} could not be located (no global cluster?); "
            "rehome needs the target's cluster to be the writer"
        )
    if writer != to:
        raise RehomeRefusedError(
            f"--to {to}: the writer of {env.name} is in {writer}, not {to}; move it first with "
            f"`infra failover --env {env.name} --to {to}`, then rehome"
        )
    specs = {s.region: s for s in stacks_for(env) if s.regional}
    new_text, edit = rewrite_home(env_file.read_text(), env_file, env.primary_region, to)
    with tempfile.TemporaryDirectory() as scratch:
        rewritten = Path(scratch) / env_file.name
        rewritten.write_text(new_text)
        new_env = load_environment_file(rewritten, check_organisation=False)
    return RehomePlan(
        env=env.name,
        source=specs[env.primary_region],
        dest=specs[to],
        urns=tuple(owned_urns(env, env.primary_region)),
        env_file=env_file,
        new_text=new_text,
        edit=edit,
        problems=tuple(program_problems(env, new_env)),
    )


def _chain_tail(urn: str) -> str:
    return urn.rpartition("::")[0].rpartition("::")[2].rpartition("$")[2]


def _members(resources: Sequence[Any], owned: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The custom resources of the owned components (by their own or their parent's type and name)."""
    found = {}
    for r in resources:
        parent = (_chain_tail(r.parent), r.parent.rpartition("::")[2]) if r.parent else None
        if r.custom and ((_chain_tail(r.urn), r.name) in owned or parent in owned):
            found[(r.type, r.name)] = r
    return found


def _where(r: Any) -> str:
    provider = (r.provider or "").split("::")
    return f"{provider[3] if len(provider) > 3 else 'default'}{f' region {r.region}' if r.region else ''}"


def program_problems(env: Environment, new_env: Environment) -> list[str]:
    """Plan both files under mocks: every moved resource must be declared by the new home's program
    with the same type, name and provider (region) as before, and no longer by the old home's."""
    from orchestrator.analysis.plan import build_plan

    old_home, new_home = env.primary_region, new_env.primary_region
    owned = {(_chain_tail(u), u.rpartition("::")[2]) for u in owned_urns(env, old_home)}
    before_plan = {
        p.spec.region: p.run.resources
        for p in build_plan(env, evaluate_rules=False).stacks
        if p.spec.regional
    }
    after_plan = {
        p.spec.region: p.run.resources
        for p in build_plan(new_env, evaluate_rules=False).stacks
        if p.spec.regional
    }
    before = _members(before_plan[old_home], owned)
    after = _members(after_plan[new_home], owned)
    stays = _members(after_plan[old_home], owned)
    problems = []
    for key, r in before.items():
        now = after.get(key)
        if now is None:
            problems.append(
                f"{r.type} {r.name} is not declared by the {new_home} program (it would be deleted)"
            )
        elif _where(now) != _where(r):
            problems.append(
                f"{r.type} {r.name} moves from {_where(r)} to {_where(now)} (it would be replaced)"
            )
    for key in stays:
        problems.append(
            f"{key[0]} {key[1]} is still declared by the {old_home} program (it would be re-created)"
        )
    return problems


def apply_rehome(plan: RehomePlan, runner: Any) -> None:
    """One state move (all owned URNs), then the environment file, written atomically."""
    if plan.problems:
        raise RehomeRefusedError(
            f"the programs would not keep what moves ({len(plan.problems)} problems, first: "
            f"{plan.problems[0]})"
        )
    if not os.access(plan.env_file, os.W_OK):
        raise RehomeRefusedError(f"{plan.env_file} is not writable: nothing was changed")
    runner.move_resources(plan.source, plan.dest, list(plan.urns))
    tmp = plan.env_file.with_name(f".{plan.env_file.name}.rehome")
    try:
        tmp.write_text(plan.new_text)
        os.replace(tmp, plan.env_file)
    except OSError as exc:
        raise RehomeRefusedError(
            f"the state moved to {plan.dest.name}, but {plan.env_file} could not be written ({exc}): "
            f"edit it now, before any `infra up`: {'; '.join(plan.edit)}"
        ) from exc
