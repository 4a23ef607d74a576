"""Program of the failover stack (``<env>.failover``, global environments only): what must
survive the failed region, and so belongs to no regional stack.

* The peering mesh between every pair of the environment's VPCs (components.peering): the
  probes of every region reach every other region's writer. The secondaries deploy in
  parallel, so only a stack after all of them knows every VPC; their outputs arrive as the
  config key ``regions`` (model.topology.FAILOVER_REGIONAL_FEED).
* One failover table per region (components.failover_table), named by
  model.naming.failover_table_name, so a region's decider keeps its state in its own region.
* Where the automated failover is asked for, one RegionFailover per region (below).

Every resource goes through the explicit provider of its region; the home region's is the
stack's default. Destroyed before the regional stacks (its routes and rules use their VPCs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.context import StackContext
from components.failover_table import FailoverTable, FailoverTableArgs
from components.network import subnet_cidrs
from components.peering import MeshRegion, PeeringMesh, PeeringMeshArgs
from components.providers import make_provider
from model.environment import Environment
from model.naming import failover_table_name


def mesh_regions(env: Environment, regions: Mapping[str, Mapping[str, Any]]) -> list[MeshRegion]:
    """The mesh's view of every region, in the environment's order; subnet CIDRs are worked out
    from ``network.cidrs`` exactly as components.network carves them."""
    return [
        MeshRegion(
            region=region,
            vpc_id=regions[region]["vpcId"],
            vpc_cidr=env.network.cidrs[region],
            private_subnet_cidrs=subnet_cidrs(env.network.cidrs[region])[0],
            private_route_table_ids=list(regions[region]["privateRouteTableIds"]),
            db_security_group_id=regions[region]["dbSecurityGroupId"],
            lambda_security_group_id=regions[region]["lambdaSecurityGroupId"],
        )
        for region in env.regions
    ]


def region_failover_inputs(
    env: Environment,
    region: str,
    regions: Mapping[str, Mapping[str, Any]],
    global_cluster_arn: Any,
    table_arns: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything one region's RegionFailover (components/failover.py) is built from, all of it
    fed config or this stack's own resources: nothing read from another region at run time."""
    local = regions[region]
    return {
        "region": region,
        "kms_key_arn": local["kmsKeyArn"],
        "layer_arn": local["layerArn"],
        "private_subnet_ids": list(local["privateSubnetIds"]),
        "lambda_security_group_id": local["lambdaSecurityGroupId"],
        "alarm_topic_arn": local["alarmTopicArn"],
        "port": local["port"],
        "reader_endpoint": local["readerEndpoint"],
        "cluster_endpoints": {r: regions[r]["writerEndpoint"] for r in env.regions},
        "cluster_arns": {r: regions[r]["clusterArn"] for r in env.regions},
        "global_cluster_arn": global_cluster_arn,
        "table_arns": dict(table_arns),
    }


def failover_program(ctx: StackContext) -> dict[str, Any]:
    env = ctx.env
    regions: dict[str, dict[str, Any]] = ctx.require("regions")
    global_cluster_arn = ctx.require("globalClusterArn")
    missing = [r for r in env.regions if r not in regions]
    if missing:
        raise ValueError(
            f"stack {ctx.spec.name}: config aurora:regions has no entry for {', '.join(missing)}; "
            "deploy every regional stack first (`infra up` feeds their outputs)"
        )
    providers = {region: make_provider(env, region) for region in env.regions}

    mesh = PeeringMesh(
        f"{env.name}-mesh",
        PeeringMeshArgs(account_id=env.account_id, regions=mesh_regions(env, regions)),
        providers,
    )
    tables = {
        region: FailoverTable(
            f"{env.name}-failover-{region}",
            FailoverTableArgs(
                table_name=failover_table_name(env.name, region), deletion_protection=env.protected
            ),
            providers[region],
        )
        for region in env.regions
    }
    table_arns = {region: table.table_arn for region, table in tables.items()}

    if env.failover.automated:
        # ==== RegionFailover goes here (components/failover.py, integrated by the lead) ====
        # One per region, through that region's provider, from region_failover_inputs(...):
        #   for region in env.regions:
        #       RegionFailover(f"{env.name}-failover-{region}-decider",
        #                      <args from region_failover_inputs(env, region, regions,
        #                                                        global_cluster_arn, table_arns)>,
        #                      providers[region])
        # Its probes reach the other regions' writers over `mesh`: pass depends_on=[mesh].
        pass

    return {
        "failover_table_names": {region: table.table_name for region, table in tables.items()},
        "failover_table_arns": table_arns,
        "peering_connection_ids": {
            region: dict(sorted(peers.items())) for region, peers in mesh.connection_ids.items()
        },
    }
