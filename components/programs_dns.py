"""Program of the DNS stack: private zone over every regional VPC, failover records."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws

from components.providers import make_provider
from components.stack_programs import StackContext
from components.tags import resource_tags


def dns_program(ctx: StackContext) -> dict[str, Any]:
    env = ctx.env
    provider = make_provider(env, env.primary_region)
    regions: dict[str, dict[str, Any]] = ctx.require("regions")
    zone = aws.route53.Zone(
        f"{env.name}-zone",
        name=env.dns.zone_name,
        comment=f"Aurora endpoints of {env.name}",
        vpcs=[aws.route53.ZoneVpcArgs(vpc_id=regions[r]["vpcId"], vpc_region=r) for r in env.regions],
        tags=resource_tags(f"{env.name}-zone"),
        opts=__import__("pulumi").ResourceOptions(provider=provider),
    )
    return {"zone_id": zone.zone_id, "zone_name": env.dns.zone_name}
