"""The CrossGuard entry point: the same rules, called the way `pulumi preview --policy-pack policy` calls them.

The pack itself (``policy/__main__.py``) is never imported: constructing a ``PolicyPack``
starts a gRPC server. Its validation functions come from ``policy_adapter.policy_specs()``
and are called here with ``pulumi_policy.StackValidationArgs`` built from a planned stack.
CrossGuard hands stack policies resource *outputs*; the planned inputs plus the resource id
(which every output set carries) stand in for them, wrapped exactly as the policy SDK wraps
them (``unknown_checking_proxy``: nested dicts and lists arrive as read-only Mapping/Sequence
proxies that raise ``UnknownValueError`` on values unknown during preview).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from orchestrator.analysis import guardrails
from orchestrator.analysis.document import PlannedStack
from orchestrator.analysis.mock_runtime import RecordedResource
from orchestrator.analysis.policy_adapter import graph_from_stack, policy_specs, validate_stack
from orchestrator.deploy.engine import ENV_TAG, ROLE_TAG
from tests.support.graphs import INGRESS_RULE, PROVIDER, planned
from tests.support.paths import ROOT


def _stack(env_name: str, stack_name: str) -> PlannedStack:
    [stack] = [s for s in planned(env_name).stacks if s.spec.name == stack_name]
    return stack


def _props(resource: RecordedResource) -> Any:
    return unknown_checking_proxy({**copy.deepcopy(resource.inputs), "id": resource.id})


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def policy_resources(resources: list[RecordedResource]) -> list[PolicyResource]:
    """CrossGuard's view of a stack: every resource with its provider and parent resolved."""
    providers = {
        r.urn: PolicyProviderResource(r.type, _props(r), r.urn, r.name)
        for r in resources
        if r.type.startswith("pulumi:providers:")
    }
    converted: dict[str, PolicyResource] = {}
    for r in resources:  # registration order: parents come first
        converted[r.urn] = PolicyResource(
            resource_type=r.type,
            props=_props(r),
            urn=r.urn,
            name=r.name,
            opts=_options(r.parent),
            provider=providers.get(r.provider or ""),
            parent=converted.get(r.parent or ""),
            dependencies=[],
            property_dependencies={},
        )
    return list(converted.values())


def stack_args(
    stack: PlannedStack, resources: list[RecordedResource] | None = None, **tags: str
) -> StackValidationArgs:
    return StackValidationArgs(
        resources=policy_resources(stack.run.resources if resources is None else resources),
        stack_tags=tags or {ENV_TAG: stack.spec.env, ROLE_TAG: stack.spec.role.value},
    )


def run_pack(args: StackValidationArgs) -> list[tuple[str, str, str | None]]:
    """Every policy of the pack on ``args``: ``(policy, message, urn)`` per reported violation."""
    violations: list[tuple[str, str, str | None]] = []
    for spec in policy_specs():

        def report(message: str, urn: str | None = None, policy: str = spec.name) -> None:
            violations.append((policy, message, urn))

        spec.validate(args, report)
    return violations


def _copied(stack: PlannedStack) -> list[RecordedResource]:
    return [copy.deepcopy(r) for r in stack.run.resources]


# --- which rules, at which level ------------------------------------------------------------------


def test_pack_holds_every_per_stack_rule_and_no_cross_stack_rule():
    names = [s.name for s in policy_specs()]
    cross_stack = [r.id for r in guardrails.RULES if r.cross_stack]

    assert names == [r.id for r in guardrails.RULES if not r.cross_stack]
    assert cross_stack, "some rules need the whole environment (outputs, other stacks' alarms)"
    assert not set(cross_stack) & set(names)
    assert {
        "regional-outputs-complete",
        "health-checks-on-standard-alarms",
        "writer-failover-records",
    } <= set(cross_stack)


def test_enforcement_levels_mirror_severities():
    severities = {r.id: r.severity for r in guardrails.RULES}
    for spec in policy_specs():
        expected = (
            EnforcementLevel.MANDATORY if severities[spec.name] == "error" else EnforcementLevel.ADVISORY
        )
        assert EnforcementLevel(spec.enforcement_level) is expected, spec.name


def test_a_warning_rule_becomes_an_advisory_policy_with_its_rationale_and_source():
    rule = guardrails.Rule(
        "planted-warning", "warning", "a planted rationale", "FC-000-0", lambda graph: iter(())
    )

    [spec] = policy_specs([rule])

    assert (spec.name, spec.enforcement_level) == ("planted-warning", "advisory")
    assert "a planted rationale" in spec.description and "FC-000-0" in spec.description


# --- clean stacks pass, mutated stacks are refused ------------------------------------------------


@pytest.mark.parametrize(
    "env_name,stack_name",
    [
        ("prod", "prod.us-east-1"),
        ("prod", "prod.us-west-2"),
        ("prod", "prod.eu-west-1"),
        ("prod", "prod.dns"),
        ("dev", "dev.us-east-1"),
    ],
)
def test_checked_in_stack_passes_every_policy(env_name: str, stack_name: str):
    stack = _stack(env_name, stack_name)
    args = stack_args(stack)

    assert run_pack(args) == []
    graph = graph_from_stack(args)  # the pack judged this stack, not nothing
    assert graph is not None and len(graph.nodes) == len(stack.run.resources) > 0
    assert graph.roles == {stack_name: stack.spec.role.value}


def test_stack_tags_are_optional_the_stack_name_says_it_all():
    stack = _stack("prod", "prod.us-west-2")
    args = StackValidationArgs(resources=policy_resources(stack.run.resources), stack_tags={})

    graph = graph_from_stack(args)

    assert graph is not None and graph.env.name == "prod" and graph.roles == {"prod.us-west-2": "secondary"}
    assert run_pack(args) == []


def test_database_port_open_to_the_internet_is_a_violation_naming_the_rule_resource():
    stack = _stack("prod", "prod.us-east-1")
    resources = _copied(stack)
    [ingress] = [r for r in resources if r.type == INGRESS_RULE and r.name.endswith("db-from-lambda")]
    del ingress.inputs["referencedSecurityGroupId"]
    ingress.inputs["cidrIpv4"] = "0.0.0.0/0"

    violations = run_pack(stack_args(stack, resources))

    assert violations == [("no-open-database-port", "ingress to port 3306 from 0.0.0.0/0", ingress.urn)]


def test_unpinned_provider_is_a_violation_naming_the_provider():
    stack = _stack("prod", "prod.eu-west-1")
    resources = _copied(stack)
    [provider] = [r for r in resources if r.type == PROVIDER]
    del provider.inputs["allowedAccountIds"]

    violations = run_pack(stack_args(stack, resources))

    assert [(policy, urn) for policy, _, urn in violations] == [("provider-pinned-to-account", provider.urn)]
    assert "333333333333" in violations[0][1]


def test_backtrack_on_a_secondary_member_is_a_violation():
    stack = _stack("prod", "prod.us-west-2")
    resources = _copied(stack)
    [cluster] = [r for r in resources if r.type == "aws:rds/cluster:Cluster"]
    cluster.inputs["backtrackWindow"] = 86400

    violations = run_pack(stack_args(stack, resources))

    assert [(policy, urn) for policy, _, urn in violations] == [("backtrack-where-supported", cluster.urn)]


def test_stack_level_hit_is_reported_without_a_urn():
    rule = guardrails.Rule(
        "planted", "error", "planted", "tests", lambda graph: iter([(None, "the stack as a whole")])
    )
    reported: list[tuple[Any, ...]] = []

    validate_stack(rule, stack_args(_stack("dev", "dev.us-east-1")), lambda *a: reported.append(a))

    assert reported == [("the stack as a whole",)]


def test_inline_ingress_from_anywhere_is_a_violation_under_crossguard_types():
    stack = _stack("prod", "prod.us-east-1")
    resources = _copied(stack)
    [group] = [
        r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup" and r.name.endswith("db-sg")
    ]
    group.inputs["ingress"] = [
        {"protocol": "tcp", "fromPort": 3306, "toPort": 3306, "cidrBlocks": ["0.0.0.0/0"]}
    ]

    violations = run_pack(stack_args(stack, resources))

    assert [(policy, urn) for policy, _, urn in violations] == [("no-open-database-port", group.urn)]


def test_known_violation_is_reported_even_when_another_value_is_unknown():
    stack = _stack("prod", "prod.us-east-1")
    resources = _copied(stack)
    [ingress] = [r for r in resources if r.type == INGRESS_RULE and r.name.endswith("db-from-lambda")]
    del ingress.inputs["referencedSecurityGroupId"]
    ingress.inputs["cidrIpv4"] = "0.0.0.0/0"
    [topic] = [r for r in resources if r.type == "aws:sns/topic:Topic"]
    topic.inputs["arn"] = UNKNOWN_STRING_VALUE  # computed by AWS: unknown until the topic exists

    violations = run_pack(stack_args(stack, resources))

    assert [(policy, urn) for policy, _, urn in violations] == [("no-open-database-port", ingress.urn)]


# --- stacks that aren't ours are skipped, never crash ------------------------------------------


def _renamed(stack: PlannedStack, new_stack_name: str) -> list[RecordedResource]:
    resources = _copied(stack)
    old = f"urn:pulumi:{stack.spec.name}::"
    for r in resources:
        r.urn = r.urn.replace(old, f"urn:pulumi:{new_stack_name}::")
        r.parent = r.parent.replace(old, f"urn:pulumi:{new_stack_name}::") if r.parent else None
        r.provider = r.provider.replace(old, f"urn:pulumi:{new_stack_name}::") if r.provider else None
    # Something every rule would refuse, so "no violation" means "skipped", not "clean".
    [provider] = [r for r in resources if r.type == PROVIDER]
    provider.inputs["allowedAccountIds"] = json.dumps(["999999999999"])
    return resources


@pytest.mark.parametrize(
    "stack_name,tags",
    [
        ("scratch-1a2b.us-east-1", {}),  # an ephemeral environment: not checked in
        ("prod.us-east-1", {ENV_TAG: "scratch-1a2b"}),  # the tag wins over the stack name
        ("sandbox", {}),  # not <env>.<region> at all
    ],
)
def test_stack_of_an_unknown_environment_is_skipped(stack_name: str, tags: dict[str, str]):
    resources = _renamed(_stack("dev", "dev.us-east-1"), stack_name)
    args = StackValidationArgs(resources=policy_resources(resources), stack_tags=tags)

    assert graph_from_stack(args) is None
    assert run_pack(args) == []


def test_the_same_foreign_provider_in_a_known_environment_is_refused():
    """The skip above is real: the identical resources under dev's own stack name are judged."""
    stack = _stack("dev", "dev.us-east-1")
    args = StackValidationArgs(resources=policy_resources(_renamed(stack, "dev.us-east-1")), stack_tags={})

    assert {policy for policy, _, _ in run_pack(args)} == {"provider-pinned-to-account"}


def test_empty_stack_is_skipped():
    assert run_pack(StackValidationArgs(resources=[], stack_tags={})) == []


# --- the pack's files -----------------------------------------------------------------------------


def test_pack_directory_declares_a_python_policy_pack_built_from_policy_specs():
    project = ROOT / "policy" / "PulumiPolicy.yaml"
    entry = (ROOT / "policy" / "__main__.py").read_text()

    assert project.is_file()
    assert "name: python" in project.read_text()
    assert "policy_specs" in entry and "PolicyPack(" in entry
    assert "StackValidationPolicy" in entry
    assert "def _" not in entry, "rules live in orchestrator/analysis/guardrails.py, not in the pack"
