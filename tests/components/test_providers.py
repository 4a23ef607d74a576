"""Providers under Pulumi mocks: one per (environment, region), pinned to the environment's
account through its deploy role, carrying the default tags; no resource uses the ambient
default provider; every resource lands in the region its stack (or its explicit region) says.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from components.providers import make_provider, provider_name
from components.tags import REQUIRED_TAG_KEYS, resource_tags
from model.environment import checked_in_environment_names, load_environment
from orchestrator.analysis.mock_runtime import UnexpectedInvokeError, run_program
from orchestrator.analysis.plan import build_plan

PROVIDER = "pulumi:providers:aws"
# What the primary stack places in the secondary regions (explicit `region` input): the
# replicas of the multi-region secrets key and their aliases.
CROSS_REGION_TYPES = ("aws:kms/replicaKey:ReplicaKey", "aws:kms/alias:Alias")


@pytest.fixture(scope="module")
def plans():
    return {name: build_plan(load_environment(name), evaluate_rules=False) for name in ("dev", "prod")}


def decoded(value):
    return json.loads(value) if isinstance(value, str) else value


def providers_of(stack):
    return [r for r in stack.run.resources if r.type == PROVIDER]


def aws_resources(stack):
    return [r for r in stack.run.resources if r.custom and r.type.startswith("aws:")]


def stack_ids():
    return ["dev.us-east-1", "dev.dns", "prod.us-east-1", "prod.us-west-2", "prod.eu-west-1", "prod.dns"]


@pytest.fixture(params=stack_ids())
def planned(request, plans):
    env = request.param.split(".", 1)[0]
    stack = next(s for s in plans[env].stacks if s.spec.name == request.param)
    return plans[env].env, stack


def test_every_stack_has_exactly_one_aws_provider_named_after_env_and_region(planned):
    env, stack = planned

    [provider] = providers_of(stack)
    assert provider.name == f"aws-{env.name}-{stack.spec.region}" == provider_name(env, stack.spec.region)
    assert provider.inputs["region"] == stack.spec.region


def test_dns_stack_provider_uses_the_primary_region(plans):
    for plan in plans.values():
        [dns] = [s for s in plan.stacks if s.spec.name.endswith(".dns")]
        assert dns.spec.name.endswith(".dns")
        assert providers_of(dns)[0].inputs["region"] == plan.env.primary_region


def test_provider_pins_the_environment_account(planned):
    env, stack = planned

    [provider] = providers_of(stack)
    assert decoded(provider.inputs["allowedAccountIds"]) == [env.account_id]


def test_provider_assumes_the_environment_deploy_role(planned):
    env, stack = planned

    [provider] = providers_of(stack)
    roles = decoded(provider.inputs["assumeRoles"])
    assert len(roles) == 1
    assert roles[0]["roleArn"] == env.deploy_role_arn
    assert roles[0]["sessionName"] == f"infra-{env.name}"


def test_provider_default_tags_carry_the_required_tags_with_the_environment_values(planned):
    env, stack = planned

    [provider] = providers_of(stack)
    tags = decoded(provider.inputs["defaultTags"])["tags"]
    assert tags["Environment"] == env.name
    assert tags["Project"] == "aurora-global"
    assert tags["ManagedBy"] == "pulumi"
    assert tags["CostCenter"] == env.cost_center
    assert set(REQUIRED_TAG_KEYS) <= set(tags)
    assert tags == env.base_tags()
    assert "Name" not in tags  # each resource names itself


def test_environment_extra_tags_reach_the_default_tags(plans):
    prod = plans["prod"]

    for stack in prod.stacks:
        tags = decoded(providers_of(stack)[0].inputs["defaultTags"])["tags"]
        assert tags["DataClassification"] == "confidential"


def test_every_aws_resource_uses_its_stack_provider_never_the_default(planned):
    _, stack = planned
    [provider] = providers_of(stack)
    resources = aws_resources(stack)

    assert resources
    wrong = [(r.name, r.provider) for r in resources if r.provider != provider.urn]
    assert wrong == []


def test_no_provider_of_another_environment_or_account_appears_in_a_plan(plans):
    for name, plan in plans.items():
        for stack in plan.stacks:
            for provider in providers_of(stack):
                assert decoded(provider.inputs["allowedAccountIds"]) == [plan.env.account_id], name
                assert provider.name.startswith(f"aws-{name}-")


def test_every_aws_resource_is_in_its_stack_region_unless_it_names_another(planned):
    env, stack = planned
    resources = aws_resources(stack)

    assert resources
    for r in resources:
        if "region" in r.inputs:  # placed explicitly (e.g. a key replica, a cross-region subscription)
            assert r.region == r.inputs["region"], r.name
            assert r.region in env.regions, r.name
        else:
            assert r.region == stack.spec.region, r.name


def test_only_the_secrets_key_replicas_and_their_aliases_leave_the_primary_region(plans):
    primary = plans["prod"].stacks[0]

    elsewhere = sorted((r.type, r.region) for r in aws_resources(primary) if r.region != "us-east-1")

    assert elsewhere == sorted(
        [(t, region) for t in CROSS_REGION_TYPES for region in ("us-west-2", "eu-west-1")]
    )


def test_taggable_aws_resources_name_themselves(planned):
    _, stack = planned

    tagged = [r for r in aws_resources(stack) if "tags" in r.inputs]
    assert tagged
    for r in tagged:
        assert r.inputs["tags"].get("Name"), r.name


def test_resource_tags_add_only_the_name_and_extras():
    assert resource_tags("prod-use1-vpc") == {"Name": "prod-use1-vpc"}
    assert resource_tags("x", {"Tier": "private", "Name": "ignored"}) == {"Tier": "private", "Name": "x"}


@pytest.mark.parametrize("name", checked_in_environment_names())
def test_make_provider_for_any_region_pins_account_role_and_tags(name):
    env = load_environment(name)

    def program():
        provider = make_provider(env, "ap-southeast-2")
        return {"urn": provider.urn}

    run = run_program(
        stack=f"{env.name}.ap-southeast-2", account_id=env.account_id, config={}, program=program
    )

    [provider] = [r for r in run.resources if r.type == PROVIDER]
    assert provider.name == f"aws-{env.name}-ap-southeast-2"
    assert provider.inputs["region"] == "ap-southeast-2"
    assert decoded(provider.inputs["allowedAccountIds"]) == [env.account_id]
    assert decoded(provider.inputs["assumeRoles"])[0]["roleArn"] == env.deploy_role_arn
    assert decoded(provider.inputs["defaultTags"])["tags"] == env.base_tags()
    assert run.outputs["urn"] == provider.urn


def test_mocks_fail_loudly_on_an_invoke_they_do_not_know():
    def program():
        provider = aws.Provider("aws-x-eu-west-1", region="eu-west-1")
        vpc = aws.ec2.get_vpc(default=True, opts=pulumi.InvokeOptions(provider=provider))
        return {"vpc": vpc.id}

    with pytest.raises(UnexpectedInvokeError, match=r"aws:ec2/getVpc:getVpc"):
        run_program(stack="x.eu-west-1", account_id="111111111111", config={}, program=program)


def test_mocks_answer_availability_zones_of_the_provider_region():
    def program():
        provider = aws.Provider("aws-x-eu-central-1", region="eu-central-1")
        zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=provider))
        return {"zones": zones.names}

    run = run_program(stack="x.eu-central-1", account_id="111111111111", config={}, program=program)

    assert run.outputs["zones"][:3] == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
