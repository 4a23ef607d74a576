"""Program of the DNS stack: a private zone over every regional VPC, the writer name that
follows the writer to any region, a reader name per region, and Aurora's global writer
endpoint beside them.

The writer name (``writer.<zone>``) must answer with whichever region's cluster is the
writer, for every region of the environment, with no resource change when the writer moves
and without depending on the failed region's CloudWatch. Route 53's pieces, as documented
(Developer Guide: health-checks-creating-values, health-checks-how-route-53-chooses-records,
routing-policy-failover, dns-failover-private-hosted-zones):

* one ``CLOUDWATCH_METRIC`` check per region on its writer-health alarm ("this region's
  cluster accepts writes"; private zones allow only metric-based checks), and an *inverted*
  twin of it;
* one ``CALCULATED`` check per region: healthy only when its own check is healthy AND every
  other region's inverted twin is healthy, i.e. "I am the writer and nobody else is". When
  another region becomes the writer, its own fresh datapoints turn the old region's
  calculated check unhealthy, whatever the old region's alarm says or fails to say;
* a failover chain: ``writer.<zone>`` is a PRIMARY/SECONDARY pair whose PRIMARY is the home
  region's record and whose SECONDARY is an alias (evaluate target health) to the next pair,
  ``chain-2.writer.<zone>``, and so on, one pair per region; the last SECONDARY is Aurora's
  global writer endpoint with no health check. Route 53 answers with the first healthy record
  in that tree; a record without a health check is always healthy, so when no region (or
  more than one, e.g. a dead region stuck on its last status) claims the writer, the name
  falls back on the endpoint Aurora moves itself.

Every input here is static (regions, alarm names, endpoints): the writer's location is read
by Route 53 at query time, never by this program.
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
    # Route 53 is global; the provider's region is only its API endpoint. The secrets' region's
    # provider: `infra rehome` does not change it (a new provider would replace every record).
    provider = make_provider(env, env.secrets_home)
    opts = pulumi.ResourceOptions(provider=provider)
    regions: dict[str, dict[str, Any]] = ctx.require("regions")
    zone_name = env.dns.zone_name
    ttl = env.dns.ttl_seconds

    zone = aws.route53.Zone(
        f"{env.name}-zone",
        name=zone_name,
        comment=f"Aurora endpoints of {env.name}",
        vpcs=[aws.route53.ZoneVpcArgs(vpc_id=regions[r]["vpcId"], vpc_region=r) for r in env.region_order],
        tags=resource_tags(f"{env.name}-zone"),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "zone_id": zone.zone_id,
        "zone_name": zone_name,
        "writer_name": writer_name(zone_name),
    }

    if env.is_global:
        global_writer = ctx.require("globalWriterEndpoint")
        health_checks = _writer_health_checks(env, regions, opts)
        _writer_chain(env, zone, regions, health_checks, global_writer, opts)
        outputs["health_check_ids"] = {r: hc.id for r, hc in health_checks.items()}
        outputs["writer_chain"] = list(env.region_order)
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

    for region in env.region_order:
        aws.route53.Record(
            f"{env.name}-reader-{region}",
            zone_id=zone.zone_id,
            name=reader_name(zone_name, region),
            type="CNAME",
            ttl=ttl,
            records=[regions[region]["readerEndpoint"]],
            opts=opts,
        )
    outputs["reader_names"] = {r: reader_name(zone_name, r) for r in env.region_order}

    global_writer_endpoint = ctx.config.get("globalWriterEndpoint")
    if global_writer_endpoint:
        aws.route53.Record(
            f"{env.name}-global-writer",
            zone_id=zone.zone_id,
            name=f"global-writer.{zone_name}",
            type="CNAME",
            ttl=ttl,
            records=[global_writer_endpoint],
            opts=opts,
        )
        outputs["global_writer_endpoint"] = global_writer_endpoint
        outputs["global_writer_name"] = f"global-writer.{zone_name}"
    return outputs


def chain_name(zone: str, level: int) -> str:
    """Name of the writer chain's pair at ``level`` (1 is the writer name itself)."""
    return writer_name(zone) if level == 1 else f"chain-{level}.{writer_name(zone)}"


class WriterChecks:
    """A region's three health checks: its alarm, the alarm inverted, and "writer and alone"."""

    def __init__(
        self, alarm: aws.route53.HealthCheck, inverted: aws.route53.HealthCheck, calculated: Any
    ) -> None:
        self.alarm = alarm
        self.inverted = inverted
        self.calculated: aws.route53.HealthCheck = calculated

    @property
    def id(self) -> pulumi.Output[str]:
        """The check a region's writer record carries: the calculated one."""
        return self.calculated.id


def _writer_health_checks(
    env: Any, regions: dict[str, dict[str, Any]], opts: pulumi.ResourceOptions
) -> dict[str, WriterChecks]:
    alarms: dict[str, aws.route53.HealthCheck] = {}
    inverted: dict[str, aws.route53.HealthCheck] = {}
    for region in env.region_order:
        common = {
            "type": "CLOUDWATCH_METRIC",
            "cloudwatch_alarm_name": regions[region]["writerHealthAlarmName"],
            "cloudwatch_alarm_region": region,
            # A dead region publishes nothing: its alarm has no data. Unhealthy (the default)
            # lets the name move; whatever is chosen, a new writer's own datapoints override
            # the old region through the calculated checks below.
            "insufficient_data_health_status": env.dns.insufficient_data_health_status,
        }
        alarms[region] = aws.route53.HealthCheck(
            f"{env.name}-writer-health-{region}",
            reference_name=f"{env.name}-{region}"[:64],
            tags=resource_tags(f"{env.name}-writer-health-{region}", {"Region": region}),
            opts=opts,
            **common,
        )
        inverted[region] = aws.route53.HealthCheck(
            f"{env.name}-writer-elsewhere-{region}",
            invert_healthcheck=True,
            reference_name=f"{env.name}-not-{region}"[:64],
            tags=resource_tags(f"{env.name}-writer-elsewhere-{region}", {"Region": region}),
            opts=opts,
            **common,
        )
    checks: dict[str, WriterChecks] = {}
    for region in env.region_order:
        others = [other for other in env.region_order if other != region]
        children = [alarms[region].id, *(inverted[other].id for other in others)]
        calculated = aws.route53.HealthCheck(
            f"{env.name}-writer-alone-{region}",
            type="CALCULATED",
            child_healthchecks=children,
            child_health_threshold=len(children),  # all of them: writer here, and nowhere else
            reference_name=f"{env.name}-alone-{region}"[:64],
            tags=resource_tags(f"{env.name}-writer-alone-{region}", {"Region": region}),
            opts=opts,
        )
        checks[region] = WriterChecks(alarms[region], inverted[region], calculated)
    return checks


def _writer_chain(
    env: Any,
    zone: aws.route53.Zone,
    regions: dict[str, dict[str, Any]],
    checks: dict[str, WriterChecks],
    global_writer_endpoint: str,
    opts: pulumi.ResourceOptions,
) -> None:
    zone_name = env.dns.zone_name
    ttl = env.dns.ttl_seconds
    # Records keep their (name, set identifier) for life; a replacement must free them first.
    record_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True))
    # The environment's order (home region first, then the secondaries as listed), which
    # `infra rehome` keeps (Environment.region_order): moving the home re-creates no record.
    order = list(env.region_order)
    for level, region in enumerate(order, start=1):
        name = chain_name(zone_name, level)
        aws.route53.Record(
            f"{env.name}-writer-{region}",
            zone_id=zone.zone_id,
            name=name,
            type="CNAME",
            ttl=ttl,
            records=[regions[region]["writerEndpoint"]],
            set_identifier=f"{env.name}-writer-{region}",
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="PRIMARY")],
            health_check_id=checks[region].id,
            opts=record_opts,
        )
        if level < len(order):
            aws.route53.Record(
                f"{env.name}-writer-after-{region}",
                zone_id=zone.zone_id,
                name=name,
                type="CNAME",
                set_identifier=f"{env.name}-writer-after-{region}",
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=chain_name(zone_name, level + 1),
                        zone_id=zone.zone_id,
                        evaluate_target_health=True,
                    )
                ],
                opts=record_opts,
            )
        else:
            # No health check: always healthy, so the tree always answers; Aurora moves this
            # endpoint itself on switchover and failover.
            aws.route53.Record(
                f"{env.name}-writer-fallback",
                zone_id=zone.zone_id,
                name=name,
                type="CNAME",
                ttl=ttl,
                records=[global_writer_endpoint],
                set_identifier=f"{env.name}-writer-global-endpoint",
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
                opts=record_opts,
            )
