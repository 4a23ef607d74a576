"""Alarms of one region: writer health (drives Route 53), reachability, replication lag on
secondaries, and the basics (CPU, freeable memory, connections), all notifying a
KMS-encrypted SNS topic.

Metric contract of the health-check Lambda: lambda_src/health/check.py (namespace, names,
dimensions Environment/Region/ClusterIdentifier, standard resolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.providers import child_opts
from components.tags import resource_tags
from model.aws_rules import engine_publishes_rpo_lag
from model.naming import HEALTH_NAMESPACE


@dataclass(frozen=True, kw_only=True)
class RegionalAlarmsArgs:
    env_name: str
    """Environment (metric dimension). Required."""
    region: str
    """Region of the alarms and the metric (dimension). Required."""
    cluster_identifier: str
    """Cluster watched (dimension). Required."""
    name_prefix: str
    """Prefix of alarm and topic names. Required."""
    kms_key_arn: pulumi.Input[str]
    """Key encrypting the topic. Required."""
    is_primary: bool
    """The primary notifies when it stops being a healthy writer; a secondary only when it becomes one."""
    is_secondary: bool
    """Adds the replication-lag alarm (lag metrics exist only in secondary regions)."""
    primary_region: str
    """SourceRegion dimension of the lag metrics. Required."""
    engine_version: str
    """Chooses AuroraGlobalDBRPOLag (3.04+) or AuroraGlobalDBReplicationLag. Required."""
    period_seconds: int = 60
    """Period of the health alarms (standard resolution: multiple of 60). Defaults to 60."""
    evaluation_periods: int = 3
    """Breaching periods before the writer-health alarm fires. Defaults to 3."""
    lag_threshold_ms: int = 30_000
    """Replication lag alarm threshold. Defaults to 30000."""
    cpu_threshold_percent: int = 80
    """Defaults to 80."""
    freeable_memory_threshold_mb: int = 512
    """Defaults to 512."""
    connections_threshold: int = 1000
    """Defaults to 1000."""
    notification_emails: Sequence[str] = ()
    """E-mail subscriptions of the topic. Defaults to none."""


class RegionalAlarms(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    writer_health_alarm_name: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: RegionalAlarmsArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("aurora:monitoring:RegionalAlarms", name, None, opts)
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{args.name_prefix}-alarms",
            kms_master_key_id=args.kms_key_arn,
            tags=resource_tags(f"{args.name_prefix}-alarms"),
            opts=child_opts(self, provider),
        )
        for index, email in enumerate(args.notification_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}", topic=self.topic.arn, protocol="email", endpoint=email,
                opts=child_opts(self, provider),
            )  # fmt: skip
        topic = [self.topic.arn]
        health_dims = {
            "Environment": args.env_name,
            "Region": args.region,
            "ClusterIdentifier": args.cluster_identifier,
        }
        rds_dims = {"DBClusterIdentifier": args.cluster_identifier}
        self.alarm_names = []

        def alarm(suffix: str, **kwargs: Any) -> aws.cloudwatch.MetricAlarm:
            resource = aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=f"{args.name_prefix}-{suffix}",
                tags=resource_tags(f"{args.name_prefix}-{suffix}"),
                opts=child_opts(self, provider),
                **kwargs,  # type: ignore[arg-type]
            )
            self.alarm_names.append(resource.name)
            return resource

        # Drives the Route 53 CLOUDWATCH_METRIC health check of this region: standard-resolution
        # metric, 60 s multiples, a supported statistic (Minimum), and missing data breaching
        # because a dead region publishes nothing (AWS_FACTS.md, Route 53 AlarmIdentifier).
        writer = alarm(
            "writer-health",
            alarm_description=f"{args.cluster_identifier} in {args.region} is not a healthy writer",
            namespace=HEALTH_NAMESPACE,
            metric_name="WriterHealthy",
            dimensions=health_dims,
            statistic="Minimum",
            period=args.period_seconds,
            evaluation_periods=args.evaluation_periods,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            # A secondary is a reader by design: its alarm stays in ALARM, and notifying about
            # that would be noise. Its OK transition (it became the writer) is news.
            alarm_actions=topic if args.is_primary else [],
            ok_actions=topic,
        )
        alarm(
            "unreachable",
            alarm_description=f"The health check cannot reach {args.cluster_identifier} in {args.region}",
            namespace=HEALTH_NAMESPACE,
            metric_name="Reachable",
            dimensions=health_dims,
            statistic="Minimum",
            period=args.period_seconds,
            evaluation_periods=args.evaluation_periods,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=topic,
            ok_actions=topic,
        )
        if args.is_secondary:
            # Published only in the secondary's region, on the secondary cluster (AWS_FACTS.md);
            # RPO lag from Aurora MySQL 3.04 on.
            metric = (
                "AuroraGlobalDBRPOLag"
                if engine_publishes_rpo_lag(args.engine_version)
                else "AuroraGlobalDBReplicationLag"
            )
            alarm(
                "replication-lag",
                alarm_description=f"{metric} of {args.cluster_identifier} above {args.lag_threshold_ms} ms",
                namespace="AWS/RDS",
                metric_name=metric,
                dimensions={**rds_dims, "SourceRegion": args.primary_region},
                statistic="Maximum",
                period=60,
                evaluation_periods=3,
                threshold=args.lag_threshold_ms,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="missing",
                alarm_actions=topic,
                ok_actions=topic,
            )
        # The basics: (suffix, description, metric, statistic, evaluation periods, threshold, comparison).
        basics = (
            ("cpu", f"CPU above {args.cpu_threshold_percent}%", "CPUUtilization", "Average", 3,
             args.cpu_threshold_percent, "GreaterThanThreshold"),
            ("freeable-memory", f"freeable memory below {args.freeable_memory_threshold_mb} MB", "FreeableMemory",
             "Minimum", 3, args.freeable_memory_threshold_mb * 1024 * 1024, "LessThanThreshold"),
            ("connections", f"connections above {args.connections_threshold}", "DatabaseConnections", "Maximum",
             2, args.connections_threshold, "GreaterThanThreshold"),
        )  # fmt: skip
        for suffix, what, metric_name, statistic, periods, threshold, comparison in basics:
            alarm(
                suffix,
                alarm_description=f"{args.cluster_identifier}: {what}",
                namespace="AWS/RDS",
                metric_name=metric_name,
                dimensions=rds_dims,
                statistic=statistic,
                period=300,
                evaluation_periods=periods,
                threshold=threshold,
                comparison_operator=comparison,
                treat_missing_data="missing",
                alarm_actions=topic,
                ok_actions=topic,
            )
        self.topic_arn = self.topic.arn
        self.writer_health_alarm_name = writer.name
        self.register_outputs(
            {"topic_arn": self.topic_arn, "writer_health_alarm_name": self.writer_health_alarm_name}
        )
