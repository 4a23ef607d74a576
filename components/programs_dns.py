"""Program of the DNS stack: a private zone over every regional VPC, CLOUDWATCH_METRIC health
checks on each region's writer-health alarm, and PRIMARY/SECONDARY failover records for the
writer name; a reader name per region; the Aurora global writer endpoint beside them.

Route 53 allows one PRIMARY and one SECONDARY record per name, so the SECONDARY writer
record points at the environment's first secondary region, the same region the automated
failover promotes. Other secondaries are reachable by their reader names and are promoted
by an operator (`infra failover --to REGION`).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import StackContext
from components.providers import make_provider
from components.tags import resource_tags
from model.naming import reader_name, writer_name


def dns_program(ctx: StackContext) -> dict[str, Any]:
    env = ctx.env
    provider = make_provider(env, env.primary_region)
    opts = pulumi.ResourceOptions(provider=provider)
    regions: dict[str, dict[str, Any]] = ctx.require("regions")
    zone_name = env.dns.zone_name
    ttl = env.dns.ttl_seconds

    zone = aws.route53.Zone(
        f"{env.name}-zone",
        name=zone_name,
        comment=f"Aurora endpoints of {env.name}",
        vpcs=[aws.route53.ZoneVpcArgs(vpc_id=regions[r]["vpcId"], vpc_region=r) for r in env.regions],
        tags=resource_tags(f"{env.name}-zone"),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "zone_id": zone.zone_id,
        "zone_name": zone_name,
        "writer_name": writer_name(zone_name),
    }

    health_checks: dict[str, aws.route53.HealthCheck] = {}
    if env.is_global:
        for region in env.regions:
            # Route 53 evaluates the alarm's metric data (standard resolution only). A dead
            # region publishes nothing: insufficient data is "Unhealthy" by default
            # (dns.insufficient_data_health_status), so the writer name fails over.
            health_checks[region] = aws.route53.HealthCheck(
                f"{env.name}-writer-health-{region}",
                type="CLOUDWATCH_METRIC",
                cloudwatch_alarm_name=regions[region]["writerHealthAlarmName"],
                cloudwatch_alarm_region=region,
                insufficient_data_health_status=env.dns.insufficient_data_health_status,
                reference_name=f"{env.name}-{region}"[:64],
                tags=resource_tags(f"{env.name}-writer-health-{region}", {"Region": region}),
                opts=opts,
            )
        failover_pairs = (("PRIMARY", env.primary_region), ("SECONDARY", env.secondary_regions[0]))
        for role, region in failover_pairs:
            aws.route53.Record(
                f"{env.name}-writer-{role.lower()}",
                zone_id=zone.zone_id,
                name=writer_name(zone_name),
                type="CNAME",
                ttl=ttl,
                records=[regions[region]["writerEndpoint"]],
                set_identifier=f"{env.name}-writer-{region}",
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=role)],
                health_check_id=health_checks[region].id,
                opts=opts,
            )
        outputs["health_check_ids"] = {r: hc.id for r, hc in health_checks.items()}
        outputs["failover_secondary_region"] = env.secondary_regions[0]
    else:
        aws.route53.Record(
            f"{env.name}-writer",
            zone_id=zone.zone_id,
            name=writer_name(zone_name),
            type="CNAME",
            ttl=ttl,
            records=[regions[env.primary_region]["writerEndpoint"]],
            opts=opts,
        )

    for region in env.regions:
        aws.route53.Record(
            f"{env.name}-reader-{region}",
            zone_id=zone.zone_id,
            name=reader_name(zone_name, region),
            type="CNAME",
            ttl=ttl,
            records=[regions[region]["readerEndpoint"]],
            opts=opts,
        )
    outputs["reader_names"] = {r: reader_name(zone_name, r) for r in env.regions}

    global_writer = ctx.config.get("globalWriterEndpoint")
    if global_writer:
        aws.route53.Record(
            f"{env.name}-global-writer",
            zone_id=zone.zone_id,
            name=f"global-writer.{zone_name}",
            type="CNAME",
            ttl=ttl,
            records=[global_writer],
            opts=opts,
        )
        outputs["global_writer_endpoint"] = global_writer
        outputs["global_writer_name"] = f"global-writer.{zone_name}"
    return outputs
