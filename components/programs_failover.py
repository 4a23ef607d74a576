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

import pulumi

from components.context import StackContext
from components.failover import RegionFailover, RegionFailoverArgs
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
        for region in env.region_order
    ]


def region_failover_inputs(
    env: Environment,
    region: str,
    regions: Mapping[str, Mapping[str, Any]],
    global_cluster_arn: Any,
    table_arns: Mapping[str, Any],
    probe_secrets: Mapping[str, tuple[Any, Any]],
) -> RegionFailoverArgs:
    """Everything one region's RegionFailover (components/failover.py) is built from, all of it
    fed config or this stack's own resources: nothing read from another region at run time.
    ``probe_secrets``: region -> (that region's copy of the probe secret, the key encrypting it)."""
    local = regions[region]
    secret_arn, secret_key_arn = probe_secrets[region]
    return RegionFailoverArgs(
        region=region,
        kms_key_arn=local["kmsKeyArn"],
        layer_arn=local["layerArn"],
        private_subnet_ids=list(local["privateSubnetIds"]),
        lambda_security_group_id=local["lambdaSecurityGroupId"],
        cluster_endpoints={r: regions[r]["writerEndpoint"] for r in env.region_order},
        local_reader_endpoint=local["readerEndpoint"],
        cluster_arns={r: regions[r]["clusterArn"] for r in env.region_order},
        global_cluster_arn=global_cluster_arn,
        failover_table_arns=dict(table_arns),
        probe_secret_arn=secret_arn,
        secrets_kms_key_arn=secret_key_arn,
        notify_topic_arn=local["alarmTopicArn"],
        port=local["port"],
    )


def probe_secrets(ctx: StackContext) -> dict[str, tuple[Any, Any]]:
    """Region -> (probe secret copy, its key): the primary (in the secrets' region) with the
    secrets key, each replica with that region's replica key (model.topology.FAILOVER_PROBE_FEED)."""
    env = ctx.env
    replicas = ctx.require("probeSecretReplicaArns")
    replica_keys = ctx.require("secretsKmsReplicaArns")
    found = {env.secrets_home: (ctx.require("probeSecretArn"), ctx.require("secretsKmsKeyArn"))}
    for region in env.secret_replica_regions:
        if region not in replicas or region not in replica_keys:
            raise ValueError(
                f"stack {ctx.spec.name}: the home stack exports no probe secret replica or key for "
                f"{region}; run `infra up` so the home stack replicates the probe secret there"
            )
        found[region] = (replicas[region], replica_keys[region])
    return found


def failover_program(ctx: StackContext) -> dict[str, Any]:
    env = ctx.env
    regions: dict[str, dict[str, Any]] = ctx.require("regions")
    global_cluster_arn = ctx.require("globalClusterArn")
    missing = [r for r in env.region_order if r not in regions]
    if missing:
        raise ValueError(
            f"stack {ctx.spec.name}: config aurora:regions has no entry for {', '.join(missing)}; "
            "deploy every regional stack first (`infra up` feeds their outputs)"
        )
    providers = {region: make_provider(env, region) for region in env.region_order}

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
        for region in env.region_order
    }
    table_arns = {region: table.table_arn for region, table in tables.items()}

    deployed: dict[str, RegionFailover] = {}
    if env.failover.automated:
        # One probe and one decider per region, each through its region's provider. The probes
        # reach the other regions' writers over the mesh, so they come after it.
        secrets = probe_secrets(ctx)
        for region in env.region_order:
            deployed[region] = RegionFailover(
                f"{env.name}-failover-{region}-automation",
                env,
                region_failover_inputs(env, region, regions, global_cluster_arn, table_arns, secrets),
                providers[region],
                pulumi.ResourceOptions(depends_on=[mesh, tables[region]]),
            )

    outputs: dict[str, Any] = {
        "failover_table_names": {region: table.table_name for region, table in tables.items()},
        "failover_table_arns": table_arns,
        "peering_connection_ids": {
            region: dict(sorted(peers.items())) for region, peers in mesh.connection_ids.items()
        },
    }
    if deployed:
        outputs["failover_functions"] = {region: f.outputs() for region, f in deployed.items()}
    return outputs
