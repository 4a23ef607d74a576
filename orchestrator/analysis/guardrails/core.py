"""Guardrails' core: the graph, the rule registry and evaluation; rules over the planned resource graph of a whole environment.

Each rule is a small function over :class:`Graph` (every stack's resources with their
engine-named inputs, as ``infra plan --json`` emits them) with an id, a severity, a one-line
rationale and its source (an AWS page or a FAILURE_CATALOG id). ``infra plan`` evaluates
them; ``infra rules`` lists them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.analysis.document import Finding, Plan
from orchestrator.analysis.mock_runtime import RecordedResource

if TYPE_CHECKING:
    from model.environment import Environment


@dataclass(frozen=True)
class Node:
    stack: str
    role: str
    region: str
    resource: RecordedResource

    @property
    def type(self) -> str:
        return self.resource.type

    @property
    def inputs(self) -> dict[str, Any]:
        return self.resource.inputs

    @property
    def urn(self) -> str:
        return self.resource.urn


@dataclass
class Graph:
    env: Environment
    nodes: list[Node]
    outputs: dict[str, dict[str, Any]]  # stack -> outputs
    roles: dict[str, str]  # stack -> role
    writer_lookups: dict[str, list[str]] = field(default_factory=dict)
    """stack -> invokes its program made that reveal where the writer is (must stay empty)."""
    today: datetime.date | None = None
    """The plan's date (date-dependent rules skip when None, e.g. in the per-stack policy pack)."""

    def of_type(self, *types: str) -> Iterator[Node]:
        return (n for n in self.nodes if n.type in types)

    @classmethod
    def from_plan(cls, plan: Plan) -> Graph:
        nodes = [
            Node(stack=s.spec.name, role=s.spec.role.value, region=r.region or s.spec.region, resource=r)
            for s in plan.stacks
            for r in s.run.resources
        ]
        return cls(
            env=plan.env,
            nodes=nodes,
            outputs={s.spec.name: s.run.outputs for s in plan.stacks},
            roles={s.spec.name: s.spec.role.value for s in plan.stacks},
            writer_lookups={
                s.spec.name: list(s.run.writer_lookups) for s in plan.stacks if s.run.writer_lookups
            },
            today=plan.today,
        )


Hit = tuple[Node | None, str]  # (resource or None, message)

UNKNOWN = "<unknown>"
"""What the policy adapter puts where a preview doesn't know a value yet."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    rationale: str
    source: str
    check: Callable[[Graph], Iterable[Hit]]
    cross_stack: bool = False
    """Needs every stack of the environment (or their outputs): evaluated by `infra plan` only,
    not by the per-stack policy pack."""


RULES: list[Rule] = []


CheckFn = Callable[[Graph], Iterable[Hit]]


def rule(
    rule_id: str, severity: str, rationale: str, source: str, *, cross_stack: bool = False
) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        RULES.append(Rule(rule_id, severity, rationale, source, fn, cross_stack))
        return fn

    return register


def evaluate(plan: Plan) -> list[Finding]:
    graph = Graph.from_plan(plan)
    return evaluate_graph(graph, Finding)


def evaluate_graph(graph: Graph, finding_type: Any = None, rules: Iterable[Rule] | None = None) -> list[Any]:
    if finding_type is None:
        finding_type = Finding
    findings = []
    for r in RULES if rules is None else rules:
        for node, message in r.check(graph):
            findings.append(
                finding_type(
                    rule=r.id,
                    severity=r.severity,
                    resource=node.urn if node else None,
                    stack=node.stack if node else None,
                    message=message,
                )
            )
    return findings


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# --- Accounts, providers, tags -------------------------------------------------------------
