"""Guardrail rules: the automated failover's probes and deciders (issue 13).

In an automated environment every region runs a write probe in its VPC (it reaches the
writers over peering) and a decider outside any VPC (it calls the RDS, DynamoDB, CloudWatch
and SNS APIs of several regions), each started by its own region's one-minute schedule. The
decider may promote only the environment's own global cluster, and no role reaches failover
tables other than the environment's own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from model import naming
from orchestrator.analysis.guardrails.core import UNKNOWN, Graph, Hit, Node, rule
from orchestrator.analysis.guardrails.rules_lambdas import _as_list, _statements

FUNCTION = "aws:lambda/function:Function"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
SCHEDULE = "rate(1 minute)"


def _functions_by_name(graph: Graph) -> dict[str, Node]:
    return {str(n.inputs.get("name", "")): n for n in graph.of_type(FUNCTION)}


def _in_vpc(node: Node) -> bool:
    config = node.inputs.get("vpcConfig")
    return isinstance(config, dict) and bool(config.get("subnetIds"))


def _scheduled(graph: Graph, function_name: str) -> bool:
    rules = [
        n
        for n in graph.of_type(EVENT_RULE)
        if n.inputs.get("name") == f"{function_name}-schedule"[:64]
        and n.inputs.get("scheduleExpression") == SCHEDULE
    ]
    return bool(rules) and any(
        n.inputs.get("rule") in {r.inputs.get("name") for r in rules} for n in graph.of_type(EVENT_TARGET)
    )


@rule(
    "failover-functions-placed",
    "error",
    "an automated environment runs, in every region, a write probe in the VPC and a decider outside any VPC, "
    "each started every minute by its own region's schedule",
    "issue 13; lambda_src/probe/handler.py and lambda_src/failover/handler.py (deployment contract)",
    cross_stack=True,
)
def _functions_placed(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    if not env.failover.automated:
        return
    functions = _functions_by_name(graph)
    ours = {
        naming.function_name(env.name, r, p)
        for r in env.regions
        for p in (naming.FAILOVER_PROBE, naming.FAILOVER_DECIDER)
    }
    if not ours & set(functions):
        return  # none deployed at all: automated-failover-deployed says so
    for region in env.regions:
        for purpose, in_vpc in ((naming.FAILOVER_PROBE, True), (naming.FAILOVER_DECIDER, False)):
            name = naming.function_name(env.name, region, purpose)
            node = functions.get(name)
            what = "write probe" if in_vpc else "decider"
            if node is None or node.region != region:
                yield None, f"{env.name} automates failover but region {region} has no {what} {name}"
                continue
            if _in_vpc(node) != in_vpc:
                where = "must run in the region's private subnets" if in_vpc else "must run outside any VPC"
                yield node, f"the {what} {name} {where} (vpcConfig)"
            if not _scheduled(graph, name):
                yield node, f"the {what} {name} has no '{SCHEDULE}' schedule ({name}-schedule) targeting it"


def _named_actions(statement: dict[str, Any]) -> list[str]:
    """The actions an Allow statement names exactly (wildcard actions are iam-least-privilege's finding)."""
    if statement.get("Effect") != "Allow":
        return []
    return [
        str(a).lower()
        for a in _as_list(statement.get("Action", []))
        if "*" not in str(a) and "?" not in str(a)
    ]


@rule(
    "failover-decider-scope",
    "error",
    "a role that may call FailoverGlobalCluster names only the environment's own global cluster and its clusters",
    "issue 13; Service Authorization Reference, Amazon RDS (FailoverGlobalCluster: global-cluster, cluster)",
)
def _decider_scope(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    partition_free = {f"arn:aws:rds::{env.account_id}:global-cluster:{naming.global_cluster_id(env.name)}"}
    allowed = partition_free | {
        f"arn:aws:rds:{r}:{env.account_id}:cluster:{naming.cluster_id(env.name, r)}" for r in env.regions
    }
    for node in graph.of_type(*POLICIES):
        for statement in _statements(node.inputs.get("policy")):
            if "rds:failoverglobalcluster" not in _named_actions(statement):
                continue
            resources = [str(r) for r in _as_list(statement.get("Resource", []))]
            foreign = [r for r in resources if r not in allowed and UNKNOWN not in r]
            if foreign:
                yield (
                    node,
                    f"statement {statement.get('Sid', '?')} allows rds:FailoverGlobalCluster on "
                    f"{', '.join(foreign)}: only {env.name}'s global cluster and its own clusters may be failed over",
                )


@rule(
    "failover-tables-scoped",
    "error",
    "no role reaches a failover table other than the environment's own (names from model.naming.failover_tables)",
    "issue 13; lambda_src/failover/store.py (each environment's arm, lock and attempts)",
)
def _tables_scoped(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    own = {
        f"arn:aws:dynamodb:{r}:{env.account_id}:table/{table}"
        for r, table in naming.failover_tables(env).items()
    }
    for node in graph.of_type(*POLICIES):
        for statement in _statements(node.inputs.get("policy")):
            if not any(a.startswith("dynamodb:") for a in _named_actions(statement)):
                continue
            bad = []
            for resource in (str(r) for r in _as_list(statement.get("Resource", []))):
                # Resource "*" is iam-least-privilege's finding; a narrower pattern is ours.
                if UNKNOWN in resource or resource in own or resource == "*":
                    continue
                wildcard = "*" in resource or "?" in resource
                if wildcard or resource.split("/", 1)[-1].endswith("-failover"):
                    bad.append(resource)
            if bad:
                yield (
                    node,
                    f"statement {statement.get('Sid', '?')} reaches failover tables outside {env.name}'s own "
                    f"({', '.join(bad)}): name the tables of model.naming.failover_tables",
                )


PEERING = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"
ACCEPTER = "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
ROUTE = "aws:ec2/route:Route"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
MYSQL_PORT = 3306


def _admits_mysql_from(node: Node, cidr: str) -> bool:
    source = node.inputs.get("cidrIpv4")
    low, high = node.inputs.get("fromPort"), node.inputs.get("toPort")
    if not isinstance(source, str) or not isinstance(low, int | float) or not isinstance(high, int | float):
        return False
    try:
        inside = ipaddress.ip_network(source).subnet_of(ipaddress.ip_network(cidr))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return inside and low <= MYSQL_PORT <= high and node.inputs.get("ipProtocol") in ("tcp", "6", "-1")


@rule(
    "failover-mesh-complete",
    "error",
    "in an automated environment every region's probe reaches every other region's writer: a VPC peering "
    "between every pair of regions, accepted in the accepter's region, a route to the peer's CIDR over it "
    "in every private route table the mesh uses, and database ingress on 3306 from the peer's subnets",
    "issue 13 ('SQL write probes ... over inter-region VPC peering'); components/peering.py",
    cross_stack=True,
)
def _mesh_complete(graph: Graph) -> Iterator[Hit]:
    env = graph.env
    if not (env.is_global and env.failover.automated):
        return
    probes = {naming.function_name(env.name, r, naming.FAILOVER_PROBE) for r in env.regions}
    if not probes & set(_functions_by_name(graph)):
        return  # nothing deployed that needs the mesh: automated-failover-deployed says so
    cidrs = env.network.cidrs
    connections = {frozenset({n.region, str(n.inputs.get("peerRegion"))}): n for n in graph.of_type(PEERING)}
    accepters = list(graph.of_type(ACCEPTER))
    routes = list(graph.of_type(ROUTE))
    ingress = list(graph.of_type(INGRESS))
    mesh_ids = {n.resource.id for n in connections.values()}
    for index, first in enumerate(env.regions):
        for second in env.regions[index + 1 :]:
            connection = connections.get(frozenset({first, second}))
            if connection is None:
                yield (
                    None,
                    (
                        f"{env.name} automates failover but has no VPC peering between {first} and {second}: "
                        "their probes cannot reach each other's writer (the failover stack's PeeringMesh)"
                    ),
                )
                continue
            cid = connection.resource.id
            peer = second if connection.region == first else first
            if not any(
                n.region == peer
                and n.inputs.get("vpcPeeringConnectionId") == cid
                and n.inputs.get("autoAccept")
                for n in accepters
            ):
                yield (
                    connection,
                    (
                        f"the peering {first}-{second} is never accepted in {peer} "
                        "(a VpcPeeringConnectionAccepter there with autoAccept: true)"
                    ),
                )
            for source, target in ((first, second), (second, first)):
                tables = {
                    r.inputs.get("routeTableId")
                    for r in routes
                    if r.region == source and r.inputs.get("vpcPeeringConnectionId") in mesh_ids
                }
                routed = {
                    r.inputs.get("routeTableId")
                    for r in routes
                    if r.region == source
                    and r.inputs.get("vpcPeeringConnectionId") == cid
                    and r.inputs.get("destinationCidrBlock") == cidrs[target]
                }
                missing = sorted(str(t) for t in tables - routed) or ([] if routed else ["any"])
                if missing:
                    yield (
                        connection,
                        (
                            f"{source} has no route to {target} ({cidrs[target]}) over the peering in route "
                            f"table(s) {', '.join(missing)}: its probe cannot reach {target}'s writer"
                        ),
                    )
                if not any(n.region == target and _admits_mysql_from(n, cidrs[source]) for n in ingress):
                    yield (
                        connection,
                        (
                            f"the database of {target} admits no MySQL ({MYSQL_PORT}) from {source}'s subnets "
                            f"({cidrs[source]}): {source}'s probe cannot write its heartbeat there"
                        ),
                    )
