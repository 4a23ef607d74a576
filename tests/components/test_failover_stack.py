"""The `<env>.failover` stack as planned: the peering mesh, the failover tables and, where the
automated failover is asked for, a probe and a decider in every region."""

from __future__ import annotations

import functools
import itertools

import pytest

from components.network import subnet_cidrs
from model import naming
from model.environment import load_environment
from orchestrator.analysis.document import Plan, plan_document
from orchestrator.analysis.plan import build_plan
from tests.support.graphs import planned

ALL_ENVS = ["dev", "staging", "prod", "test"]
GLOBAL_ENVS = ["staging", "prod", "test"]


def failover_stack(env_name: str):  # type: ignore[no-untyped-def]
    [stack] = [s for s in planned(env_name).stacks if s.spec.role.value == "failover"]
    return stack


def of_type(stack, type_: str) -> list:  # type: ignore[no-untyped-def]
    return [r for r in stack.run.resources if r.type == type_]


@pytest.mark.parametrize("env_name", ALL_ENVS)
def test_a_failover_stack_exists_exactly_for_global_environments_after_every_regional_stack(
    env_name: str,
) -> None:
    plan = planned(env_name)
    stacks = [s for s in plan.stacks if s.spec.role.value == "failover"]
    assert len(stacks) == (1 if plan.env.is_global else 0)
    if stacks:
        regional = [s.spec.name for s in plan.stacks if s.spec.regional]
        assert stacks[0].spec.name == f"{env_name}.failover"
        assert list(stacks[0].spec.depends_on) == regional


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_every_pair_of_regions_is_peered_once_requested_from_the_earlier_and_accepted_in_the_later(
    env_name: str,
) -> None:
    env = load_environment(env_name)
    stack = failover_stack(env_name)
    requests = of_type(stack, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    accepters = of_type(stack, "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter")
    pairs = list(itertools.combinations(env.regions, 2))
    assert sorted((r.region, r.inputs["peerRegion"]) for r in requests) == sorted(pairs)
    assert all(
        r.inputs["autoAccept"] is False and r.inputs["peerOwnerId"] == env.account_id for r in requests
    )
    by_id = {r.id: r for r in requests}
    assert len(accepters) == len(pairs)
    for accepter in accepters:
        request = by_id[accepter.inputs["vpcPeeringConnectionId"]]
        assert accepter.region == request.inputs["peerRegion"] and accepter.inputs["autoAccept"] is True


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_every_private_route_table_routes_each_peer_vpc_through_its_peering(env_name: str) -> None:
    env = load_environment(env_name)
    plan = planned(env_name)
    stack = failover_stack(env_name)
    tables = {
        s.spec.region: set(s.run.outputs["private_route_table_ids"]) for s in plan.stacks if s.spec.regional
    }
    routes = of_type(stack, "aws:ec2/route:Route")
    pcx = {r.id for r in of_type(stack, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection")}
    expected = {
        (table, env.network.cidrs[peer])
        for region in env.regions
        for table in tables[region]
        for peer in env.regions
        if peer != region
    }
    assert {(r.inputs["routeTableId"], r.inputs["destinationCidrBlock"]) for r in routes} == expected
    assert len(routes) == len(expected)
    assert {r.inputs["vpcPeeringConnectionId"] for r in routes} == pcx


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_database_ingress_from_peers_is_mysql_from_their_private_subnets_only(env_name: str) -> None:
    env = load_environment(env_name)
    plan = planned(env_name)
    stack = failover_stack(env_name)
    db_groups = {s.run.outputs["db_security_group_id"]: s.spec.region for s in plan.stacks if s.spec.regional}
    rules = of_type(stack, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rules
    found = set()
    for rule in rules:
        region = db_groups[rule.inputs["securityGroupId"]]
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
            "tcp",
            3306,
            3306,
        )
        found.add((region, rule.inputs["cidrIpv4"]))
    expected = {
        (region, cidr)
        for region in env.regions
        for peer in env.regions
        if peer != region
        for cidr in subnet_cidrs(env.network.cidrs[peer])[0]
    }
    assert found == expected
    assert not {cidr for _, cidr in found} & {"0.0.0.0/0", *env.network.cidrs.values()}


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_each_region_has_its_failover_table_keyed_as_the_store_reads_it(env_name: str) -> None:
    env = load_environment(env_name)
    stack = failover_stack(env_name)
    tables = {r.region: r.inputs for r in of_type(stack, "aws:dynamodb/table:Table")}
    assert {region: t["name"] for region, t in tables.items()} == naming.failover_tables(env)
    for inputs in tables.values():
        assert (inputs["hashKey"], inputs["rangeKey"]) == ("pk", "sk")
        assert inputs["ttl"] == {"enabled": True, "attributeName": "expires_at"}
        assert inputs["billingMode"] == "PAY_PER_REQUEST"
        assert inputs["deletionProtectionEnabled"] is env.protected
    assert failover_stack(env_name).run.outputs["failover_table_names"] == naming.failover_tables(env)


@functools.cache
def automated_prod() -> Plan:
    """prod with `failover.automated: true` and `dry_run: true`, planned offline."""
    env = load_environment("prod")
    failover = env.failover.model_copy(update={"automated": True, "dry_run": True})
    return build_plan(env.model_copy(update={"failover": failover}))


def test_an_automated_environment_runs_a_probe_in_each_vpc_and_a_decider_outside_in_every_region_after_the_mesh() -> (
    None
):
    plan = automated_prod()
    env = plan.env
    assert not plan.findings, [(f.rule, f.message) for f in plan.findings]
    [stack] = [s for s in plan.stacks if s.spec.role.value == "failover"]
    subnets = {
        s.spec.region: list(s.run.outputs["private_subnet_ids"]) for s in plan.stacks if s.spec.regional
    }
    functions = {r.inputs["name"]: r for r in of_type(stack, "aws:lambda/function:Function")}
    for region in env.regions:
        probe = functions[naming.function_name(env.name, region, naming.FAILOVER_PROBE)]
        decider = functions[naming.function_name(env.name, region, naming.FAILOVER_DECIDER)]
        assert probe.region == decider.region == region
        assert probe.inputs["vpcConfig"]["subnetIds"] == subnets[region]
        assert not (decider.inputs.get("vpcConfig") or {}).get("subnetIds")
        assert decider.inputs["environment"]["variables"]["DRY_RUN"] == "true"
    components = [r for r in stack.run.resources if r.type == "aurora:failover:RegionFailover"]
    # depends_on the mesh: every peering, accepter, route and security group rule comes first
    mesh_parts = {
        r.urn
        for r in stack.run.resources
        if r.type
        in (
            "aws:ec2/vpcPeeringConnection:VpcPeeringConnection",
            "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter",
            "aws:ec2/route:Route",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        )
    }
    assert len(components) == len(env.regions)
    assert all(mesh_parts <= set(c.dependencies) for c in components)


MANUAL_ENVS = [name for name in GLOBAL_ENVS if not load_environment(name).failover.automated]


def test_checked_in_prod_deploys_the_automation_in_dry_run_in_every_region() -> None:
    deciders = [
        r
        for r in of_type(failover_stack("prod"), "aws:lambda/function:Function")
        if r.inputs["handler"] == "lambda_src.failover.handler.handler"
    ]
    assert len(deciders) == len(load_environment("prod").regions)
    assert {r.inputs["environment"]["variables"]["DRY_RUN"] for r in deciders} == {"true"}


@pytest.mark.parametrize("env_name", MANUAL_ENVS)
def test_without_automated_failover_the_stack_has_the_mesh_and_tables_but_no_functions(env_name: str) -> None:
    stack = failover_stack(env_name)
    assert of_type(stack, "aws:dynamodb/table:Table")
    assert not of_type(stack, "aws:lambda/function:Function")
    assert "failover_functions" not in stack.run.outputs


@pytest.mark.parametrize("writer", ["us-east-1", "us-west-2", "eu-west-1"])
def test_the_automated_deployment_is_the_same_wherever_the_writer_is(writer: str) -> None:
    plain = plan_document(automated_prod())
    moved = plan_document(build_plan(automated_prod().env, writer_region=writer))
    assert [(s["name"], s["config"], s["resources"], s["outputs"]) for s in moved["stacks"]] == [
        (s["name"], s["config"], s["resources"], s["outputs"]) for s in plain["stacks"]
    ]
    assert moved["findings"] == plain["findings"] == []
