"""The guardrail rules as CrossGuard stack validations (one implementation, two entry points).

`policy/__main__.py` builds the PolicyPack from :func:`policy_specs`; tests call
:func:`validate_stack` directly with ``pulumi_policy.StackValidationArgs`` (building a
PolicyPack starts a gRPC server, so no module that tests import constructs one).
Cross-stack rules (outputs, health checks on alarms of other stacks) need the whole
environment and stay with `infra plan`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from model.environment import EnvironmentFileError, UnknownEnvironmentError, load_environment
from model.topology import StackNameError, split_stack_name
from orchestrator.analysis import guardrails
from orchestrator.analysis.mock_runtime import SECRET_MASK, RecordedResource

# Properties that hold secret values: CrossGuard hands policies their plaintext; the rules
# only need to know a value is there (a literal would already have been caught by `infra plan`).
_SECRET_PROPS = {"masterPassword", "masterPasswordWo", "secretString", "secretStringWo"}


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    enforcement_level: str  # "mandatory" | "advisory"
    validate: Callable[[Any, Callable[..., None]], None]


def _stack_name(args: Any) -> str | None:
    for resource in args.resources:
        urn = str(resource.urn)
        if urn.startswith("urn:pulumi:"):
            return urn.split("::")[0][len("urn:pulumi:") :]
    return None


def _plain(value: Any) -> Any:
    """Copy CrossGuard's proxies into plain data; values a preview doesn't know become UNKNOWN."""
    from pulumi_policy.proxy import UnknownValueError

    try:
        if isinstance(value, str):
            return value
        if hasattr(value, "keys"):
            out = {}
            for key in list(value.keys()):
                try:
                    out[key] = _plain(value[key])
                except UnknownValueError:
                    out[key] = guardrails.UNKNOWN
            return out
        if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and hasattr(value, "__len__")):
            items = []
            for index in range(len(value)):
                try:
                    items.append(_plain(value[index]))
                except UnknownValueError:
                    items.append(guardrails.UNKNOWN)
            return items
        return value
    except UnknownValueError:
        return guardrails.UNKNOWN


def _props(props: Any) -> dict[str, Any]:
    plain = _plain(props)
    return {k: (SECRET_MASK if k in _SECRET_PROPS and v else v) for k, v in plain.items()}


def graph_from_stack(args: Any) -> guardrails.Graph | None:
    """A Graph of one stack from CrossGuard's StackValidationArgs; None if its environment is unknown."""
    stack = _stack_name(args)
    env_name = dict(args.stack_tags or {}).get("aurora:environment")
    try:
        env_name = env_name or (split_stack_name(stack)[0] if stack else None)
        if env_name is None:
            return None
        env = load_environment(env_name)
        _, rest = split_stack_name(stack or f"{env_name}.dns")
    except (EnvironmentFileError, UnknownEnvironmentError, StackNameError):
        return None
    role = dict(args.stack_tags or {}).get("aurora:role") or (
        rest if rest in ("dns", "failover") else "primary" if rest == env.primary_region else "secondary"
    )
    region = env.primary_region if rest in ("dns", "failover") else rest
    nodes = []
    for resource in args.resources:
        provider = getattr(resource, "provider", None)
        props = _props(resource.props)
        nodes.append(
            guardrails.Node(
                stack=stack or "",
                role=role,
                region=str(
                    props.get("region") or (provider.props.get("region") if provider else None) or region
                ),
                resource=RecordedResource(
                    urn=str(resource.urn),
                    type=str(resource.resource_type),
                    name=str(resource.name),
                    parent=str(resource.parent.urn) if getattr(resource, "parent", None) else None,
                    provider=str(provider.urn) if provider else None,
                    inputs=props,
                    custom=True,
                    id=str(props.get("id") or props.get("arn") or ""),
                ),
            )
        )
    return guardrails.Graph(env=env, nodes=nodes, outputs={}, roles={stack or "": role})


def validate_stack(rule: guardrails.Rule, args: Any, report_violation: Callable[..., None]) -> None:
    graph = graph_from_stack(args)
    if graph is None:
        return  # not one of our stacks, or an environment not checked in (e.g. ephemeral)
    for node, message in rule.check(graph):
        if node is None:
            report_violation(message)
        else:
            report_violation(message, node.urn)


def policy_specs(rules: Iterable[guardrails.Rule] = guardrails.RULES) -> list[PolicySpec]:
    def validator(r: guardrails.Rule) -> Callable[[Any, Callable[..., None]], None]:
        def validate(args: Any, report_violation: Callable[..., None]) -> None:
            validate_stack(r, args, report_violation)

        return validate

    return [
        PolicySpec(
            name=r.id,
            description=f"{r.rationale} [{r.source}]",
            enforcement_level="mandatory" if r.severity == "error" else "advisory",
            validate=validator(r),
        )
        for r in rules
        if not r.cross_stack
    ]
