"""The network component under Pulumi mocks: the real stack programs, as `infra plan` runs them.

Asserts the links between resources (subnets in the VPC, endpoints in the subnets, rules
between security groups), not only that resources exist.
"""

from __future__ import annotations

import ipaddress
import itertools

import pulumi_aws as aws
import pytest

from components.network import (
    DEFAULT_GATEWAY_ENDPOINTS,
    DEFAULT_INTERFACE_ENDPOINTS,
    Network,
    NetworkArgs,
    subnet_cidrs,
)
from model.environment import load_environment
from orchestrator.analysis.mock_runtime import RecordedResource, StackRun, run_program
from orchestrator.analysis.plan import build_plan

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
CLUSTER = "aws:rds/cluster:Cluster"
NETWORK = "aurora:network:Network"
NAT_TYPES = ("aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip")
OPEN = ("0.0.0.0/0", "::/0")

PROD_REGIONAL = ["prod.us-east-1", "prod.us-west-2", "prod.eu-west-1"]


@pytest.fixture(scope="module")
def prod():
    return load_environment("prod")


@pytest.fixture(scope="module")
def prod_runs(prod) -> dict[str, StackRun]:
    plan = build_plan(prod, evaluate_rules=False)
    return {s.spec.name: s.run for s in plan.stacks}


@pytest.fixture(scope="module")
def dev():
    return load_environment("dev")


def primary_run(env) -> StackRun:
    """The primary stack of ``env`` as `infra plan` runs it (an edited definition travels in config)."""
    return build_plan(env, evaluate_rules=False).stacks[0].run


@pytest.fixture(scope="module")
def dev_run(dev) -> StackRun:
    return primary_run(dev)


@pytest.fixture(scope="module")
def dev_nat_run(dev) -> StackRun:
    env = dev.model_copy(update={"network": dev.network.model_copy(update={"nat_gateway": True})})
    return primary_run(env)


def of_type(run: StackRun, typ: str) -> list[RecordedResource]:
    return [r for r in run.resources if r.type == typ]


def one(run: StackRun, typ: str) -> RecordedResource:
    found = of_type(run, typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def network_component(run: StackRun) -> RecordedResource:
    return one(run, NETWORK)


def network_children(run: StackRun) -> list[RecordedResource]:
    urn = network_component(run).urn
    return [r for r in run.resources if r.parent == urn]


def region_of(stack_name: str) -> str:
    return stack_name.split(".", 1)[1]


def security_groups(run: StackRun) -> dict[str, RecordedResource]:
    """kind (db, lambda, app, endpoints) -> security group of the network component."""
    prefix = network_component(run).name + "-"
    groups = {}
    for r in of_type(run, SG):
        if r.parent == network_component(run).urn:
            groups[r.name.removeprefix(prefix).removesuffix("-sg")] = r
    return groups


# --- Component shape ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_each_regional_stack_has_one_network_component_named_after_env_and_region(prod_runs, stack_name):
    component = network_component(prod_runs[stack_name])
    short = {"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1"}[region_of(stack_name)]

    assert component.name == f"prod-{short}-network"
    assert component.custom is False


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_network_children_are_parented_to_the_component_and_named_after_it(prod_runs, stack_name):
    run = prod_runs[stack_name]
    component = network_component(run)
    children = network_children(run)
    network_types = {VPC, SUBNET, ROUTE_TABLE, ASSOCIATION, SG, INGRESS, EGRESS, ENDPOINT, SUBNET_GROUP}

    assert {c.type for c in children} == network_types
    assert all(c.name.startswith(component.name + "-") for c in children)
    orphans = [r.name for r in run.resources if r.type in network_types and r.parent != component.urn]
    assert orphans == []


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_every_network_resource_is_in_the_stack_region_through_the_stack_provider(prod_runs, stack_name):
    run = prod_runs[stack_name]
    provider = one(run, "pulumi:providers:aws")

    for child in network_children(run):
        assert child.region == region_of(stack_name), child.name
        assert child.provider == provider.urn, child.name


# --- VPC and subnets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_vpc_uses_the_environment_block_of_its_region_with_dns_for_private_endpoints(
    prod, prod_runs, stack_name
):
    vpc = one(prod_runs[stack_name], VPC)

    assert vpc.inputs["cidrBlock"] == prod.network.cidrs[region_of(stack_name)]
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_three_private_subnets_in_three_distinct_azs_of_the_region(prod_runs, stack_name):
    run = prod_runs[stack_name]
    subnets = of_type(run, SUBNET)
    region = region_of(stack_name)

    zones = [s.inputs["availabilityZone"] for s in subnets]
    assert len(subnets) == 3
    assert len(set(zones)) == 3
    assert all(z.startswith(region) and len(z) == len(region) + 1 for z in zones)
    assert all(s.inputs["vpcId"] == one(run, VPC).id for s in subnets)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    assert all(s.inputs["tags"]["Tier"] == "private" for s in subnets)


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_subnet_blocks_lie_inside_the_vpc_and_do_not_overlap(prod_runs, stack_name):
    run = prod_runs[stack_name]
    vpc = ipaddress.ip_network(one(run, VPC).inputs["cidrBlock"])
    blocks = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in of_type(run, SUBNET)]

    assert all(b.subnet_of(vpc) for b in blocks)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(blocks, 2))


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_db_subnet_group_spans_exactly_the_three_private_subnets(prod_runs, stack_name):
    run = prod_runs[stack_name]
    group = one(run, SUBNET_GROUP)
    short = network_component(run).name.split("-")[1]

    assert sorted(group.inputs["subnetIds"]) == sorted(s.id for s in of_type(run, SUBNET))
    assert group.inputs["name"] == f"prod-aurora-{short}-db-subnets"
    assert run.outputs["db_subnet_group_name"] == group.inputs["name"]
    assert one(run, CLUSTER).inputs["dbSubnetGroupName"] == group.inputs["name"]


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_every_private_subnet_is_associated_with_the_private_route_table(prod_runs, stack_name):
    run = prod_runs[stack_name]
    table = one(run, ROUTE_TABLE)
    associations = of_type(run, ASSOCIATION)

    assert table.inputs["vpcId"] == one(run, VPC).id
    assert sorted(a.inputs["subnetId"] for a in associations) == sorted(s.id for s in of_type(run, SUBNET))
    assert {a.inputs["routeTableId"] for a in associations} == {table.id}


def test_private_subnets_are_the_first_three_sixteenths_of_the_block(prod_runs):
    run = prod_runs["prod.us-east-1"]

    assert sorted(s.inputs["cidrBlock"] for s in of_type(run, SUBNET)) == [
        "10.30.0.0/20",
        "10.30.16.0/20",
        "10.30.32.0/20",
    ]


def test_stack_outputs_name_the_network_resources(prod_runs):
    run = prod_runs["prod.eu-west-1"]
    groups = security_groups(run)

    assert run.outputs["vpc_id"] == one(run, VPC).id
    assert sorted(run.outputs["private_subnet_ids"]) == sorted(s.id for s in of_type(run, SUBNET))
    assert run.outputs["db_security_group_id"] == groups["db"].id
    assert run.outputs["lambda_security_group_id"] == groups["lambda"].id
    assert run.outputs["app_security_group_id"] == groups["app"].id
    assert run.outputs["endpoint_security_group_id"] == groups["endpoints"].id


# --- VPC endpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_interface_endpoints_serve_the_lambdas_apis_privately_in_the_three_subnets(prod_runs, stack_name):
    run = prod_runs[stack_name]
    region = region_of(stack_name)
    interface = {
        e.inputs["serviceName"]: e
        for e in of_type(run, ENDPOINT)
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    endpoint_sg = security_groups(run)["endpoints"]
    subnet_ids = sorted(s.id for s in of_type(run, SUBNET))

    required = {"secretsmanager", "monitoring", "logs", "rds", "sns", "ssm"}
    assert {f"com.amazonaws.{region}.{service}" for service in required} <= set(interface)
    for name, endpoint in interface.items():
        assert endpoint.inputs["privateDnsEnabled"] is True, name
        assert sorted(endpoint.inputs["subnetIds"]) == subnet_ids, name
        assert endpoint.inputs["securityGroupIds"] == [endpoint_sg.id], name
        assert endpoint.inputs["vpcId"] == one(run, VPC).id, name


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_s3_and_dynamodb_are_gateway_endpoints_on_the_private_route_table(prod_runs, stack_name):
    run = prod_runs[stack_name]
    region = region_of(stack_name)
    gateway = {
        e.inputs["serviceName"]: e for e in of_type(run, ENDPOINT) if e.inputs["vpcEndpointType"] == "Gateway"
    }

    assert set(gateway) == {f"com.amazonaws.{region}.s3", f"com.amazonaws.{region}.dynamodb"}
    for endpoint in gateway.values():
        assert endpoint.inputs["routeTableIds"] == [one(run, ROUTE_TABLE).id]
        assert "subnetIds" not in endpoint.inputs


def test_default_endpoint_lists_cover_every_service_the_lambdas_call():
    assert set(DEFAULT_INTERFACE_ENDPOINTS) >= {"secretsmanager", "monitoring", "logs", "rds", "sns", "ssm"}
    assert set(DEFAULT_GATEWAY_ENDPOINTS) >= {"s3"}


# --- Security groups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_database_port_is_open_only_from_the_lambda_and_app_groups(prod_runs, stack_name):
    run = prod_runs[stack_name]
    groups = security_groups(run)
    to_db = [r for r in of_type(run, INGRESS) if r.inputs["securityGroupId"] == groups["db"].id]

    assert sorted(r.inputs["referencedSecurityGroupId"] for r in to_db) == sorted(
        [groups["lambda"].id, groups["app"].id]
    )
    for rule in to_db:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
            "tcp",
            3306,
            3306,
        )
        assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs), rule.name


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_cluster_sits_in_the_database_group(prod_runs, stack_name):
    run = prod_runs[stack_name]

    assert one(run, CLUSTER).inputs["vpcSecurityGroupIds"] == [security_groups(run)["db"].id]


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_no_rule_in_the_stack_reaches_or_admits_the_internet_without_nat(prod_runs, stack_name):
    run = prod_runs[stack_name]
    rules = of_type(run, INGRESS) + of_type(run, EGRESS)

    assert rules
    for rule in rules:
        assert rule.inputs.get("cidrIpv4") not in OPEN, rule.name
        assert rule.inputs.get("cidrIpv6") not in OPEN, rule.name
    for group in of_type(run, SG):
        assert not group.inputs.get("ingress"), f"{group.name} has inline ingress rules"


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_lambdas_reach_the_database_and_the_endpoints_and_nothing_else(prod_runs, stack_name):
    run = prod_runs[stack_name]
    groups = security_groups(run)
    egress = [r for r in of_type(run, EGRESS) if r.inputs["securityGroupId"] == groups["lambda"].id]
    gateways = [e for e in of_type(run, ENDPOINT) if e.inputs["vpcEndpointType"] == "Gateway"]

    to_groups = sorted(
        (r.inputs["referencedSecurityGroupId"], r.inputs["toPort"])
        for r in egress
        if "referencedSecurityGroupId" in r.inputs
    )
    to_prefix_lists = [r for r in egress if "prefixListId" in r.inputs]
    assert to_groups == sorted([(groups["db"].id, 3306), (groups["endpoints"].id, 443)])
    # one HTTPS rule per gateway endpoint's prefix list, and no other destination
    assert len(to_prefix_lists) == len(gateways) == 2
    assert all((r.inputs["fromPort"], r.inputs["toPort"]) == (443, 443) for r in to_prefix_lists)
    assert len(egress) == len(to_groups) + len(to_prefix_lists)


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_endpoints_accept_https_only_from_the_lambda_and_app_groups(prod_runs, stack_name):
    run = prod_runs[stack_name]
    groups = security_groups(run)
    ingress = [r for r in of_type(run, INGRESS) if r.inputs["securityGroupId"] == groups["endpoints"].id]

    assert sorted(r.inputs["referencedSecurityGroupId"] for r in ingress) == sorted(
        [groups["lambda"].id, groups["app"].id]
    )
    assert all((r.inputs["fromPort"], r.inputs["toPort"]) == (443, 443) for r in ingress)


# --- NAT only behind the flag -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_no_nat_internet_gateway_public_subnet_or_default_route_without_the_flag(prod_runs, stack_name):
    run = prod_runs[stack_name]

    assert [r.name for r in run.resources if r.type in NAT_TYPES] == []
    assert of_type(run, ROUTE) == []
    assert all(s.inputs["tags"]["Tier"] == "private" for s in of_type(run, SUBNET))


def test_dev_without_the_flag_has_no_nat_either(dev, dev_run):
    assert dev.network.nat_gateway is False
    assert [r.name for r in dev_run.resources if r.type in NAT_TYPES] == []


def test_nat_flag_adds_one_nat_gateway_in_a_public_subnet_behind_an_internet_gateway(dev_nat_run):
    run = dev_nat_run
    vpc = one(run, VPC)
    igw = one(run, "aws:ec2/internetGateway:InternetGateway")
    eip = one(run, "aws:ec2/eip:Eip")
    nat = one(run, "aws:ec2/natGateway:NatGateway")
    public = [s for s in of_type(run, SUBNET) if s.inputs["tags"]["Tier"] == "public"]
    private = [s for s in of_type(run, SUBNET) if s.inputs["tags"]["Tier"] == "private"]

    assert len(public) == 1 and len(private) == 3
    assert igw.inputs["vpcId"] == vpc.id
    assert eip.inputs["domain"] == "vpc"
    assert nat.inputs["allocationId"] == eip.id
    assert nat.inputs["subnetId"] == public[0].id
    assert public[0].inputs["mapPublicIpOnLaunch"] is False
    public_block = ipaddress.ip_network(public[0].inputs["cidrBlock"])
    assert public_block.subnet_of(ipaddress.ip_network(vpc.inputs["cidrBlock"]))
    assert not any(public_block.overlaps(ipaddress.ip_network(s.inputs["cidrBlock"])) for s in private)


def test_nat_flag_routes_public_traffic_to_the_igw_and_private_traffic_to_the_nat(dev_nat_run):
    run = dev_nat_run
    routes = {r.inputs["routeTableId"]: r for r in of_type(run, ROUTE)}
    private_table = next(t for t in of_type(run, ROUTE_TABLE) if t.name.endswith("-private-rt"))
    public_table = next(t for t in of_type(run, ROUTE_TABLE) if t.name.endswith("-public-rt"))

    assert routes[private_table.id].inputs["destinationCidrBlock"] == "0.0.0.0/0"
    assert routes[private_table.id].inputs["natGatewayId"] == one(run, "aws:ec2/natGateway:NatGateway").id
    assert (
        routes[public_table.id].inputs["gatewayId"] == one(run, "aws:ec2/internetGateway:InternetGateway").id
    )


def test_nat_flag_opens_only_https_egress_from_the_lambdas_never_ingress(dev_nat_run):
    run = dev_nat_run
    groups = security_groups(run)
    to_internet = [r for r in of_type(run, EGRESS) if r.inputs.get("cidrIpv4") in OPEN]

    assert len(to_internet) == 1
    assert to_internet[0].inputs["securityGroupId"] == groups["lambda"].id
    assert (to_internet[0].inputs["fromPort"], to_internet[0].inputs["toPort"]) == (443, 443)
    assert [r.name for r in of_type(run, INGRESS) if r.inputs.get("cidrIpv4") in OPEN] == []


# --- Tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", PROD_REGIONAL)
def test_network_resources_carry_their_name_tag(prod_runs, stack_name):
    run = prod_runs[stack_name]
    named_by_resource = (VPC, SUBNET, ROUTE_TABLE, SG, ENDPOINT)

    for child in network_children(run):
        if child.type in named_by_resource:
            assert child.inputs["tags"]["Name"] == child.name, child.name
    assert one(run, SUBNET_GROUP).inputs["tags"]["Name"] == one(run, SUBNET_GROUP).inputs["name"]


# --- Pure helpers and component invariants --------------------------------------------------------


@pytest.mark.parametrize("prefix", range(16, 25))
def test_subnet_carving_fits_every_allowed_vpc_size(prefix):
    block = ipaddress.ip_network(f"10.40.0.0/{prefix}")

    private, public = subnet_cidrs(str(block))
    nets = [ipaddress.ip_network(c) for c in [*private, public]]

    assert len(private) == 3
    assert all(n.subnet_of(block) for n in nets)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(nets, 2))
    assert all(n.prefixlen <= 28 for n in nets)  # AWS's smallest subnet


@pytest.mark.parametrize("zones", [["us-east-1a", "us-east-1a", "us-east-1b"], ["us-east-1a", "us-east-1b"]])
def test_network_refuses_anything_but_three_distinct_azs(zones):
    def program():
        provider = aws.Provider("aws-x-us-east-1", region="us-east-1")
        Network(
            "x-use1-network",
            NetworkArgs(
                cidr_block="10.50.0.0/16",
                region="us-east-1",
                availability_zones=zones,
                db_subnet_group_name="x-db",
            ),
            provider,
        )
        return {}

    with pytest.raises(ValueError, match="three distinct AZs"):
        run_program(stack="x.us-east-1", account_id="111111111111", config={}, program=program)


def test_custom_endpoint_lists_replace_the_defaults():
    def program():
        provider = aws.Provider("aws-x-eu-west-1", region="eu-west-1")
        Network(
            "x-euw1-network",
            NetworkArgs(
                cidr_block="10.50.0.0/16",
                region="eu-west-1",
                availability_zones=["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                db_subnet_group_name="x-db",
                interface_endpoints=["kms"],
                gateway_endpoints=[],
            ),
            provider,
        )
        return {}

    run = run_program(stack="x.eu-west-1", account_id="111111111111", config={}, program=program)

    assert [e.inputs["serviceName"] for e in of_type(run, ENDPOINT)] == ["com.amazonaws.eu-west-1.kms"]
