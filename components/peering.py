"""Peering mesh: inter-region VPC peering between every pair of an environment's VPCs.

The failover probes of every region write to the current writer in any other region over
this mesh (issue 13). For each pair (i before j in the environment's region order): the
requester side in region i, the accepter in region j, a route to the other VPC's CIDR in
every private route table of both VPCs, and MySQL between them by CIDR: on each DB group,
ingress from the peers' private subnets only; on each Lambda group, the matching egress.

Security groups can't be referenced across an inter-region peering (AWS_FACTS.md "Network"),
so the rules name the peers' private subnet CIDRs, never a whole VPC CIDR and never
0.0.0.0/0: the probes run in the private subnets, nothing else of the peer needs the port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import pulumi
import pulumi_aws as aws

from components.network import DB_PORT
from components.providers import child_opts
from components.tags import resource_tags


@dataclass(frozen=True, kw_only=True)
class MeshRegion:
    """One region's VPC as the mesh sees it (the regional stack's outputs, fed as config)."""

    region: str
    """Region of the VPC. Required."""
    vpc_id: pulumi.Input[str]
    """The regional stack's ``vpc_id``. Required."""
    vpc_cidr: str
    """The VPC's CIDR block (``network.cidrs``; the environment model refuses overlaps). Required."""
    private_subnet_cidrs: Sequence[str]
    """CIDRs of the VPC's private subnets (``components.network.subnet_cidrs``). Required."""
    private_route_table_ids: Sequence[pulumi.Input[str]]
    """The regional stack's ``private_route_table_ids``: every one gets routes to the peers. Required."""
    db_security_group_id: pulumi.Input[str]
    """The cluster's security group: ingress from the peers' private subnets. Required."""
    lambda_security_group_id: pulumi.Input[str]
    """The in-VPC Lambdas' group (the probes): egress to the peers' private subnets. Required."""


@dataclass(frozen=True, kw_only=True)
class PeeringMeshArgs:
    account_id: str
    """The environment's account: both sides of every peering are in it. Required."""
    regions: Sequence[MeshRegion]
    """Every region of the environment, in the environment's order (home first). Required."""
    db_port: int = DB_PORT
    """Database port opened between the regions. Defaults to 3306."""
    extra_tags: dict[str, str] = field(default_factory=dict)
    """Tags added to every tagged child besides the provider's default tags. Defaults to none."""


def region_pairs(regions: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair once, the earlier region first: (requester, accepter). Given in
    Environment.region_order, which neither a failover nor `infra rehome` changes."""
    return list(combinations(regions, 2))


class PeeringMesh(pulumi.ComponentResource):
    connection_ids: dict[str, dict[str, pulumi.Output[str]]]
    """region -> peer region -> peering connection id (the same id on both sides)."""

    def __init__(
        self,
        name: str,
        args: PeeringMeshArgs,
        providers: Mapping[str, aws.Provider],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:network:PeeringMesh", name, None, opts)
        by_region = {r.region: r for r in args.regions}
        if len(by_region) != len(args.regions):
            raise ValueError(f"{name}: regions must be distinct, got {[r.region for r in args.regions]}")
        missing = [r for r in by_region if r not in providers]
        if missing:
            raise ValueError(f"{name}: no provider for region(s) {', '.join(missing)}")
        tags = args.extra_tags
        self.connection_ids = {r: {} for r in by_region}

        for requester, accepter in region_pairs([r.region for r in args.regions]):
            a, b = by_region[requester], by_region[accepter]
            pair = f"{name}-{requester}-{accepter}"
            # Inter-region: auto_accept must stay off on the requester; the peer region accepts
            # (pulumi-aws VpcPeeringConnection.peerRegion; EC2 AcceptVpcPeeringConnection).
            connection = aws.ec2.VpcPeeringConnection(
                pair,
                vpc_id=a.vpc_id,
                peer_vpc_id=b.vpc_id,
                peer_owner_id=args.account_id,
                peer_region=accepter,
                auto_accept=False,
                tags=resource_tags(pair, {**tags, "Side": "requester"}),
                opts=child_opts(self, providers[requester]),
            )
            accepted = aws.ec2.VpcPeeringConnectionAccepter(
                f"{pair}-accept",
                vpc_peering_connection_id=connection.id,
                auto_accept=True,
                tags=resource_tags(pair, {**tags, "Side": "accepter"}),
                opts=child_opts(self, providers[accepter]),
            )
            self.connection_ids[requester][accepter] = connection.id
            self.connection_ids[accepter][requester] = connection.id
            for local, peer in ((a, b), (b, a)):
                self._routes(name, local, peer, connection.id, providers[local.region], accepted)
                self._mysql(name, local, peer, args.db_port, providers[local.region])

        self.register_outputs({"connection_ids": self.connection_ids})

    def _routes(
        self,
        name: str,
        local: MeshRegion,
        peer: MeshRegion,
        connection_id: pulumi.Output[str],
        provider: aws.Provider,
        accepted: aws.ec2.VpcPeeringConnectionAccepter,
    ) -> None:
        # After the accepter: a route through a peering that is not active yet is a blackhole.
        for index, table_id in enumerate(local.private_route_table_ids):
            aws.ec2.Route(
                f"{name}-{local.region}-rt{index}-to-{peer.region}",
                route_table_id=table_id,
                destination_cidr_block=peer.vpc_cidr,
                vpc_peering_connection_id=connection_id,
                opts=child_opts(self, provider, depends_on=[accepted]),
            )

    def _mysql(
        self, name: str, local: MeshRegion, peer: MeshRegion, port: int, provider: aws.Provider
    ) -> None:
        for index, cidr in enumerate(peer.private_subnet_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{local.region}-db-from-{peer.region}-{index}",
                security_group_id=local.db_security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"MySQL from the private subnet {cidr} of {peer.region} (failover probes)",
                opts=child_opts(self, provider),
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{local.region}-lambda-to-{peer.region}-{index}",
                security_group_id=local.lambda_security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"MySQL to the cluster of {peer.region} (private subnet {cidr})",
                opts=child_opts(self, provider),
            )
