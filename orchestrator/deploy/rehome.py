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

import json
import os
import re
import shutil
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
    text: str = field(repr=False)
    """The file as rehome read it (apply refuses when it changed since)."""
    new_text: str = field(repr=False)
    edit: tuple[str, ...]
    """The environment file's lines as they will read (primary_region, secondary_regions,
    secrets_region)."""
    problems: tuple[str, ...] = ()
    """Why the programs, given the rewritten file, would not keep the moved resources as they are
    (deleted, replaced, re-created or given other inputs): rehome refuses to move while there is
    any."""
    updates: tuple[str, ...] = ()
    """What the next `infra up` changes anyway, told, not refused: tag changes (in place; a
    cluster's AuroraRole) and providers a stack's state gains or no longer uses (no AWS change)."""

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
            "updates_in_place": list(self.updates),
        }


def _urn(stack: str, types: Sequence[str], name: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT_NAME}::{'$'.join(types)}::{name}"


def owned_urns(env: Environment, home: str) -> list[str]:
    """URNs of what the home stack of ``env`` (in region ``home``) owns, in a fixed order: the
    components (their children move with them) and the global cluster, all at the stack's root
    (components/programs_regional.py), named after the secrets' region."""
    stack = regional_stack_name(env.name, home)
    prefix = f"{env.name}-{naming.short_region(env.secrets_home)}"
    urns = [
        _urn(stack, ["aurora:kms:RegionalKey"], f"{env.name}-secrets-kms"),
        _urn(stack, ["aurora:credentials:Credentials"], f"{env.name}-master"),
        _urn(stack, ["aws:rds/globalCluster:GlobalCluster"], f"{prefix}-aurora-global"),
    ]
    # The failover probe's user (components/database_setup.py) is a generated password too.
    for role in (*APP_USERS, *(["probe"] if env.failover.automated else [])):
        urns.append(_urn(stack, ["aurora:credentials:Credentials"], f"{prefix}-database-{role}"))
    return urns


# One-line forms only; a line's end may be CRLF (kept as it is: the lookahead leaves the \r).
_EOL = r"(?=\r?$)"
_PRIMARY_LINE = re.compile(rf"^(primary_region:[ \t]*)(\S+)([ \t]*(#[^\r\n]*)?){_EOL}", re.MULTILINE)
_SECONDARY_LINE = re.compile(
    rf"^(secondary_regions:[ \t]*)\[([^\]\r\n]*)\]([ \t]*(#[^\r\n]*)?){_EOL}", re.MULTILINE
)
_SECRETS_LINE = re.compile(rf"^(secrets_region:[ \t]*)(\S+)([ \t]*(#[^\r\n]*)?){_EOL}(\r?\n)?", re.MULTILINE)


def _key_lines(text: str, key: str) -> list[str]:
    """The top-level lines of ``text`` that set ``key``, as written."""
    return [line.rstrip("\r") for line in text.split("\n") if re.match(rf"{key}[ \t]*:", line)]


def _layout_error(path: Path, key: str, found: list[str], form: str, fix: str) -> RehomeUsageError:
    seen = f"found {' / '.join(repr(line) for line in found)}" if found else "not found"
    return RehomeUsageError(f"{path}: {key}: rehome rewrites only the one-line form `{form}` ({seen}); {fix}")


def rewrite_home(text: str, path: Path, env: Environment, new: str) -> tuple[str, tuple[str, ...]]:
    """The file's text with ``new`` as primary_region, the secondaries and secrets_region such that
    the environment's region_order is unchanged (the old home takes new's slot on a first
    rehome), every other byte (comments, order, layout, line ends) unchanged. Only the one-line
    forms `primary_region: R`, `secondary_regions: [A, B]` and `secrets_region: R` are
    rewritten: anything else is refused, naming the key and the line found."""
    old = env.primary_region
    primary = list(_PRIMARY_LINE.finditer(text))
    secondary = list(_SECONDARY_LINE.finditer(text))
    secrets = list(_SECRETS_LINE.finditer(text))
    if len(primary) != 1 or primary[0].group(2).strip("'\"") != old:
        raise _layout_error(
            path, "primary_region", _key_lines(text, "primary_region"), f"primary_region: {old}",
            "write it that way",
        )  # fmt: skip
    if len(secondary) != 1:
        raise _layout_error(
            path, "secondary_regions", _key_lines(text, "secondary_regions"),
            f"secondary_regions: [{', '.join(env.secondary_regions)}]", "write the list that way",
        )  # fmt: skip
    written = _key_lines(text, "secrets_region")
    if env.secrets_region is None and written:
        raise _layout_error(
            path, "secrets_region", written, "secrets_region: R",
            "a secrets_region without a value means none: remove the line",
        )  # fmt: skip
    if env.secrets_region is not None and (len(secrets) != 1 or len(written) != 1):
        raise _layout_error(
            path, "secrets_region", written, f"secrets_region: {env.secrets_region}", "write it that way"
        )
    newline = "\r\n" if "\r\n" in text else "\n"
    order = env.region_order
    holder = env.secrets_home
    regions = [holder if r == new else r for r in order[1:]]
    p_line = f"{primary[0].group(1)}{new}{primary[0].group(3)}"
    s_line = f"{secondary[0].group(1)}[{', '.join(regions)}]{secondary[0].group(3)}"
    out = text[: primary[0].start()] + p_line + text[primary[0].end() :]
    match = _SECONDARY_LINE.search(out)
    assert match is not None
    out = out[: match.start()] + s_line + out[match.end() :]
    edit = [p_line.strip(), s_line.strip()]
    # The secrets stay where they are (a secret's primary region is fixed): recorded unless the
    # new home is where they live.
    existing = _SECRETS_LINE.search(out)
    if holder == new:
        if existing is not None:
            out = out[: existing.start()] + out[existing.end() :]
        edit.append("secrets_region: (removed: the secrets live in the new home)")
    else:
        r_line = f"secrets_region: {holder}"
        if existing is not None:
            out = (
                out[: existing.start()]
                + f"{existing.group(1)}{holder}{existing.group(3)}{existing.group(5) or ''}"
                + out[existing.end() :]
            )
        else:
            match = _PRIMARY_LINE.search(out)
            assert match is not None
            out = out[: match.end()] + f"{newline}{r_line}" + out[match.end() :]
        edit.append(r_line)
    return out, tuple(edit)


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
    text = read_env_text(env_file)
    new_text, edit = rewrite_home(text, env_file, env, to)
    with tempfile.TemporaryDirectory() as scratch:
        rewritten = Path(scratch) / env_file.name
        rewritten.write_text(new_text, encoding="utf-8", newline="")
        new_env = load_environment_file(rewritten, check_organisation=False)
    problems, updates = program_changes(env, new_env)
    return RehomePlan(
        env=env.name,
        source=specs[env.primary_region],
        dest=specs[to],
        urns=tuple(owned_urns(env, env.primary_region)),
        env_file=env_file,
        text=text,
        new_text=new_text,
        edit=edit,
        problems=tuple(problems),
        updates=tuple(updates),
    )


def _where(r: Any) -> str:
    provider = (r.provider or "").split("::")
    return f"{provider[3] if len(provider) > 3 else 'default'}{f' region {r.region}' if r.region else ''}"


Declared = dict[tuple[str, str], tuple[str, Any]]
Providers = dict[str, dict[str, dict[str, Any]]]


def _declared(
    env: Environment, minted_in: dict[tuple[str, str], str] | None = None
) -> tuple[Declared, Providers]:
    """(type, name) -> (stack, resource) of every resource the programs declare, under mocks, and
    per stack its providers (name -> inputs)."""
    from orchestrator.analysis.plan import build_plan

    declared: Declared = {}
    providers: Providers = {}
    for p in build_plan(env, evaluate_rules=False, minted_in=minted_in).stacks:
        providers[p.spec.name] = {}
        for r in p.run.resources:
            if r.type.startswith("pulumi:providers:"):
                providers[p.spec.name][r.name] = r.inputs
            elif r.type != "pulumi:pulumi:Stack":
                declared[(r.type, r.name)] = (p.spec.name, r)
    return declared, providers


def _provider_changes(
    before: Providers, after: Providers, moved: list[Any], source: str, dest: str
) -> tuple[list[str], list[str]]:
    """(problems, updates) of the stacks' providers: the state after the move holds each stack's
    providers as before, and in ``dest`` the ones the moved resources use, copied from ``source``
    by `pulumi state move` (which refuses a copy whose URN dest holds with other inputs)."""
    problems: list[str] = []
    updates: list[str] = []
    state = {stack: dict(names) for stack, names in before.items()}
    for name in sorted({r.provider.rpartition("::")[2] for r in moved if r.provider}):
        inputs = before[source].get(name)
        if inputs is None:  # a default provider: the engine makes one in every stack
            continue
        if name in state[dest] and state[dest][name] != inputs:
            problems.append(
                f"provider {name} is in {dest} with other inputs than {source}'s: the state move would "
                "refuse to copy it"
            )
        state[dest][name] = inputs
    for stack in sorted(state):
        held, declared = state[stack], after.get(stack, {})
        for name in sorted(set(held) | set(declared)):
            if name not in declared:
                updates.append(
                    f"provider {name}: no longer used by {stack}, dropped from its state (no AWS change)"
                )
            elif name not in held:
                updates.append(f"provider {name}: new in {stack}'s state (no AWS change)")
            elif held[name] != declared[name]:
                problems.append(
                    f"provider {name} of {stack} gets other inputs (everything it manages would be "
                    "replaced or moved)"
                )
    return problems, updates


def _moved(declared: Declared, urns: Sequence[str]) -> set[tuple[str, str]]:
    """The resources the state move carries: the moved URNs and everything under them."""
    moved_names = {
        (u.rpartition("::")[0].rpartition("::")[2].rpartition("$")[2], u.rpartition("::")[2]) for u in urns
    }
    by_urn = {r.urn: r for _, r in declared.values()}
    carried = set()
    for key, (_, r) in declared.items():
        node: Any = r
        while node is not None:
            if (node.type, node.name) in moved_names:
                carried.add(key)
                break
            node = by_urn.get(node.parent) if node.parent else None
    return carried


# Inputs the AWS provider changes in place: a resource's tags are applied by its Update through
# the service's tagging calls, never by a replacement (terraform-provider-aws, "Adding Resource
# Tagging Support": tags/tags_all handled in Create, Read and Update). A difference there is an
# update the next `infra up` makes, told to the operator; any other input difference is
# refused, since whether the provider updates or replaces depends on the field.
_IN_PLACE_INPUTS = frozenset({"tags"})
_SHOWN = 60


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def _input_changes(before: Any, after: Any) -> tuple[list[str], list[str]]:
    """(other fields, in-place fields) whose inputs differ, each as "field: old -> new";
    the fields the program's ignore_changes names are not diffed (nor are they by the engine)."""
    ignored = set(after.ignore_changes)
    other: list[str] = []
    in_place: list[str] = []
    for name in sorted(set(before.inputs) | set(after.inputs)):
        if name in ignored or before.inputs.get(name) == after.inputs.get(name):
            continue
        change = f"{name}: {_short(before.inputs.get(name))} -> {_short(after.inputs.get(name))}"
        (in_place if name in _IN_PLACE_INPUTS else other).append(change)
    return other, in_place


def program_changes(env: Environment, new_env: Environment) -> tuple[list[str], list[str]]:
    """(problems, in-place updates) of planning both files under mocks. After the move, every
    resource must be declared by the same stack as before (the moved ones by the new home's),
    with the same type, name, provider (region) and inputs; none may appear or disappear.
    Anything else would be created, deleted, replaced or changed by the next `infra up`: a
    problem, except a tag change (in place on every AWS resource), which is an update.

    The moved resources keep, under mocks, the ids and ARNs they had in the old home's stack,
    as they do in the real state, so what refers to them compares equal."""
    old_home, new_home = env.primary_region, new_env.primary_region
    before, providers_before = _declared(env)
    moved = _moved(before, owned_urns(env, old_home))
    after, providers_after = _declared(new_env, minted_in={key: before[key][0] for key in moved})
    problems, updates = _provider_changes(
        providers_before,
        providers_after,
        [before[key][1] for key in sorted(moved)],
        regional_stack_name(env.name, old_home),
        regional_stack_name(env.name, new_home),
    )
    for key, (stack, r) in sorted(before.items()):
        expected = regional_stack_name(env.name, new_home) if key in moved else stack
        now = after.get(key)
        if now is None:
            problems.append(f"{r.type} {r.name} is not declared by any program (it would be deleted)")
        elif now[0] != expected:
            problems.append(
                f"{r.type} {r.name} is declared by {now[0]}, not {expected} (it would be deleted and created)"
            )
        elif _where(now[1]) != _where(r):
            problems.append(
                f"{r.type} {r.name} moves from {_where(r)} to {_where(now[1])} (it would be replaced)"
            )
        else:
            other, in_place = _input_changes(r, now[1])
            if other:
                problems.append(
                    f"{r.type} {r.name} gets other inputs (it would be updated or replaced): {'; '.join(other)}"
                )
            updates.extend(f"{r.type} {r.name}: {change}" for change in in_place)
    for key, (stack, r) in sorted(after.items()):
        if key not in before:
            problems.append(f"{r.type} {r.name} is new in {stack} (it would be created)")
    return problems, updates


class RehomeFailedError(Exception):
    """The state moved but the environment file could not be written (exit 4): the message says
    the edit to make by hand."""


def read_env_text(path: Path) -> str:
    """The environment file's text with its line ends as written (CRLF stays CRLF)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def apply_rehome(plan: RehomePlan, runner: Any) -> None:
    """The rewritten file staged next to the real one (a link's target), one state move (all
    owned URNs), then the staged file renamed over the real one: atomically, with its mode.

    Anything that keeps the file from being written is found before the move (RehomeRefusedError:
    nothing changed); only the rename itself can fail after it (RehomeFailedError)."""
    if plan.problems:
        raise RehomeRefusedError(
            f"the programs would not keep what moves ({len(plan.problems)} problems, first: "
            f"{plan.problems[0]})"
        )
    target = plan.env_file.resolve()
    tmp = target.with_name(f".{target.name}.rehome")
    try:
        if read_env_text(target) != plan.text:
            raise RehomeRefusedError(f"{plan.env_file} changed since rehome read it: run rehome again")
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(plan.new_text)
        shutil.copymode(target, tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RehomeRefusedError(
            f"{plan.env_file} cannot be rewritten ({exc.strerror or exc}: {exc.filename or target}); "
            "rehome writes a temporary file next to it and renames it over it, so the file and its "
            "directory must be writable"
        ) from exc
    try:
        runner.move_resources(plan.source, plan.dest, list(plan.urns))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise RehomeFailedError(
            f"the state moved to {plan.dest.name}, but {plan.env_file} could not be written ({exc}): "
            f"edit it now, before any `infra up`: {'; '.join(plan.edit)} (the new text is in {tmp})"
        ) from exc
