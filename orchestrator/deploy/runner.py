"""The runner interface the orchestration engine drives, and the in-process implementation.

Two implementations exist: :class:`InProcessRunner` (real programs under Pulumi mocks, with
an in-memory state per stack; used by `infra plan`'s tests, fault injection and the
benchmark) and ``orchestrator.deploy.automation.AutomationRunner`` (the only module that talks to
``pulumi.automation``). The engine (orchestrator.deploy.engine) is the same code for both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.stack_programs import program_from_config
from model.topology import StackSpec
from orchestrator.analysis.mock_runtime import run_program

# A resource-level progress event: (stack name, operation, resource type, resource name, status).
ProgressEvent = tuple[str, str, str, str, str]
ProgressSink = Callable[[ProgressEvent], None]


class StackOperationError(Exception):
    """A stack operation failed; names the stack and, when known, the failing resource."""

    def __init__(
        self, stack: str, message: str, *, resource: str | None = None, kind: str = "failed"
    ) -> None:
        self.stack = stack
        self.resource = resource
        self.kind = kind  # failed | locked | missing | backend | cancelled | missing_cli
        where = f" at resource {resource}" if resource else ""
        super().__init__(f"stack {stack} {kind}{where}: {message}")


@dataclass
class StackResult:
    stack: str
    operation: str  # preview | up | destroy | refresh
    outputs: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)  # create/update/delete/same counts
    seconds: float = 0.0
    note: str | None = None
    """Why the stack was not (fully) run, e.g. a preview whose upstream was never deployed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "operation": self.operation,
            "changes": self.changes,
            "seconds": round(self.seconds, 3),
            "outputs": self.outputs,
            "note": self.note,
        }


@dataclass
class StackInfo:
    name: str
    exists: bool
    resource_count: int = 0
    last_update: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


class StackRunner(Protocol):
    """What the engine needs from a way of running stacks."""

    def preview(self, spec: StackSpec, config: Mapping[str, Any], progress: ProgressSink) -> StackResult: ...

    def up(
        self,
        spec: StackSpec,
        config: Mapping[str, Any],
        progress: ProgressSink,
        *,
        refresh: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> StackResult: ...

    def destroy(self, spec: StackSpec, progress: ProgressSink) -> StackResult: ...

    def info(self, spec: StackSpec) -> StackInfo: ...

    def cancel(self, spec: StackSpec) -> None: ...

    def list_stacks(self) -> list[StackInfo]: ...


# --- In-process runner ------------------------------------------------------------------------


@dataclass
class _StackState:
    resources: dict[str, dict[str, Any]]  # urn -> inputs
    outputs: dict[str, Any]
    tags: dict[str, str]
    last_update: str


# The Pulumi runtime under mocks is process-global: programs run one at a time across every
# runner of the process, while simulated AWS time (sleep) overlaps across threads.
_PROGRAM_LOCK = threading.Lock()

FaultHook = Callable[[str, StackSpec], None]
"""Called with (operation, stack) before each stack operation; raise to inject a failure."""


def _chain(urn: str) -> str:
    """The type chain of a URN (parent types, `$`-joined, then its own)."""
    return urn.rpartition("::")[0].rpartition("::")[2]


def _in_stack(urn: str, source: str, dest: str) -> str:
    """``urn`` (of stack ``source``) as the same resource's URN in stack ``dest``."""
    return urn.replace(f"urn:pulumi:{source}::", f"urn:pulumi:{dest}::", 1)


class InProcessRunner:
    """Runs the real stack programs under mocks and keeps each stack's state in memory.

    ``up`` diffs the program's resources against the stack's state by URN (create, update,
    same, delete), so a re-run after a failure converges without duplicates, exactly as
    Pulumi's engine does. ``durations`` (seconds per stack name or role) simulate how long
    AWS takes, for orchestration timing and the makespan benchmark; ``fault`` injects
    failures at any step.
    """

    def __init__(
        self,
        *,
        account_id: str,
        durations: Mapping[str, float] | None = None,
        fault: FaultHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_id = account_id
        self.durations = dict(durations or {})
        self.fault = fault
        self.clock = clock
        self.sleep = sleep
        self.states: dict[str, _StackState] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, stack) in call order
        self._lock = threading.Lock()
        self.cancelled: set[str] = set()
        self.moves: list[tuple[str, str, list[str], bool]] = []  # (source, dest, urns, include_parents)
        self.minted_in: dict[tuple[str, str], str] = {}
        """(type, name) -> the stack a moved resource was created in: a state move keeps a
        resource's id and ARN, so the mocks keep answering for it as they did there."""

    def _duration(self, spec: StackSpec) -> float:
        return self.durations.get(spec.name, self.durations.get(spec.role.value, 0.0))

    def _run(
        self, spec: StackSpec, config: Mapping[str, Any]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        with _PROGRAM_LOCK:
            run = run_program(
                stack=spec.name,
                account_id=self.account_id,
                config=config,
                program=program_from_config,
                minted_in=self.minted_in,
            )
        resources = {
            r.urn: {"type": r.type, "name": r.name, "inputs": r.inputs, "provider": r.provider}
            for r in run.resources
        }
        # Like the engine: an input the program's ignore_changes names keeps its value in the
        # state (and is never diffed); it is taken as given only when the resource is created.
        state = self.states.get(spec.name)
        for r in run.resources:
            previous = state.resources.get(r.urn) if state else None
            if previous is not None and r.ignore_changes:
                inputs = dict(r.inputs)
                for key in r.ignore_changes:
                    if key in previous["inputs"]:
                        inputs[key] = previous["inputs"][key]
                    else:
                        inputs.pop(key, None)
                resources[r.urn]["inputs"] = inputs
        return resources, run.raw_outputs

    def _record(self, operation: str, spec: StackSpec) -> None:
        with self._lock:
            self.calls.append((operation, spec.name))
        if self.fault is not None:
            self.fault(operation, spec)

    def preview(self, spec: StackSpec, config: Mapping[str, Any], progress: ProgressSink) -> StackResult:
        started = self.clock()
        self._record("preview", spec)
        resources, outputs = self._run(spec, config)
        changes = self._diff(spec.name, resources)
        return StackResult(
            spec.name, "preview", outputs=outputs, changes=changes, seconds=self.clock() - started
        )

    def _diff(self, stack: str, resources: Mapping[str, dict[str, Any]]) -> dict[str, int]:
        old = self.states.get(stack)
        before = old.resources if old else {}
        counts = {"create": 0, "update": 0, "delete": 0, "same": 0}
        for urn, desired in resources.items():
            if urn not in before:
                counts["create"] += 1
            elif before[urn] != desired:
                counts["update"] += 1
            else:
                counts["same"] += 1
        counts["delete"] = len(set(before) - set(resources))
        return counts

    def up(
        self,
        spec: StackSpec,
        config: Mapping[str, Any],
        progress: ProgressSink,
        *,
        refresh: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> StackResult:
        started = self.clock()
        self._record("up", spec)
        resources, outputs = self._run(spec, config)
        changes = self._diff(spec.name, resources)
        for urn, desired in resources.items():
            previous = self.states.get(spec.name)
            status = "same" if previous and previous.resources.get(urn) == desired else "created"
            progress((spec.name, "up", desired["type"], desired["name"], status))
        if changes["create"] or changes["update"] or changes["delete"]:
            self.sleep(self._duration(spec))
        self._record("up-commit", spec)
        with self._lock:
            self.states[spec.name] = _StackState(
                resources=resources,
                outputs=outputs,
                tags=dict(tags or (self.states[spec.name].tags if spec.name in self.states else {})),
                last_update=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
        return StackResult(spec.name, "up", outputs=outputs, changes=changes, seconds=self.clock() - started)

    def destroy(self, spec: StackSpec, progress: ProgressSink) -> StackResult:
        started = self.clock()
        self._record("destroy", spec)
        state = self.states.get(spec.name)
        count = len(state.resources) if state else 0
        if state:
            for desired in state.resources.values():
                progress((spec.name, "destroy", desired["type"], desired["name"], "deleted"))
            self.sleep(self._duration(spec) / 2)
        with self._lock:
            self.states.pop(spec.name, None)
        return StackResult(spec.name, "destroy", changes={"delete": count}, seconds=self.clock() - started)

    def info(self, spec: StackSpec) -> StackInfo:
        state = self.states.get(spec.name)
        if state is None:
            return StackInfo(name=spec.name, exists=False)
        return StackInfo(
            name=spec.name,
            exists=True,
            resource_count=len(state.resources),
            last_update=state.last_update,
            tags=dict(state.tags),
            outputs=dict(state.outputs),
        )

    def cancel(self, spec: StackSpec) -> None:
        self.cancelled.add(spec.name)

    def move_resources(
        self, source: StackSpec, dest: StackSpec, urns: Sequence[str], *, include_parents: bool = False
    ) -> None:
        """`pulumi state move` in memory: each URN and its children (URNs whose type chain and name
        extend it) leave ``source``'s state for ``dest``'s, with the stack part rewritten; a
        moved child whose parent stays is re-parented to the root (its parent's type leaves its
        type chain). All or nothing, like one CLI call. Recorded in ``moves``."""
        self._record("move", source)
        with self._lock:
            self.moves.append((source.name, dest.name, list(urns), include_parents))
            src, dst = self.states.get(source.name), self.states.get(dest.name)
            if src is None or dst is None:
                raise StackOperationError(
                    source.name, f"no stack {dest.name if src else source.name}", kind="failed"
                )

            def family(urn: str) -> list[str]:
                # The mock runtime names a top-level component `pulumi:pulumi:Stack$<type>` and a
                # child by its immediate parent's type only: match children on that and the name.
                head, _, name = urn.rpartition("::")
                own = head.rpartition("::")[2].rpartition("$")[2]
                top = urn.replace(f"::{own}::", f"::pulumi:pulumi:Stack${own}::", 1)
                children = [u for u in src.resources if u not in (urn, top)
                            and _chain(u).rpartition("$")[0].endswith(own)
                            and u.rpartition("::")[2].startswith(f"{name}-")]  # fmt: skip
                return [u for u in dict.fromkeys((urn, top)) if u in src.resources] + children

            missing = [u for u in urns if not family(u)]
            if missing:
                raise StackOperationError(
                    source.name, f"no resources found to move: {', '.join(missing)}", kind="failed"
                )
            for urn in urns:
                parent_types = _chain(urn).rpartition("$")[0]
                for child in family(urn):
                    moved = _in_stack(child, source.name, dest.name)
                    if parent_types and not include_parents:
                        moved = moved.replace(f"::{parent_types}$", "::", 1)
                    resource = src.resources.pop(child)
                    provider = resource.get("provider")
                    if provider:
                        # Like the CLI: the provider a moved resource uses is copied along
                        # (kept in the source), unless dest holds it already.
                        resource = {**resource, "provider": _in_stack(provider, source.name, dest.name)}
                        if resource["provider"] not in dst.resources and provider in src.resources:
                            dst.resources[resource["provider"]] = src.resources[provider]
                    dst.resources[moved] = resource
                    key = (resource["type"], resource["name"])
                    self.minted_in.setdefault(key, source.name)

    def list_stacks(self) -> list[StackInfo]:
        return [
            StackInfo(name=name, exists=True, resource_count=len(s.resources), last_update=s.last_update,
                      tags=dict(s.tags), outputs=dict(s.outputs))
            for name, s in sorted(self.states.items())
        ]  # fmt: skip
