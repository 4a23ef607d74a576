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
    source_regions: Sequence[str]
    """Every other region of the global database: wherever the writer may be, the source of this
    cluster's lag metrics. Empty for a regional cluster (no lag alarm). Required."""
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
            # The same in every region, wherever the writer is: a transition is news either way
            # (OK: this region became the writer; ALARM: it stopped being one). A reader's alarm
            # enters ALARM once, when it is created, and stays there.
            alarm_actions=topic,
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
        if args.source_regions:
            # Lag metrics are published only where the cluster is a secondary, on the cluster,
            # with SourceRegion = the writer's region (AWS_FACTS.md). The writer may be in any
            # other region, so the alarm reads every possible source and takes the largest;
            # where this cluster is the writer no series has data, and missing data neither
            # alarms nor pages. RPO lag from Aurora MySQL 3.04 on.
            metric = (
                "AuroraGlobalDBRPOLag"
                if engine_publishes_rpo_lag(args.engine_version)
                else "AuroraGlobalDBReplicationLag"
            )
            sources = [
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=f"from{index}",
                    label=f"{metric} from {source}",
                    return_data=False,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="AWS/RDS",
                        metric_name=metric,
                        dimensions={**rds_dims, "SourceRegion": source},
                        period=60,
                        stat="Maximum",
                    ),
                )
                for index, source in enumerate(args.source_regions)
            ]
            alarm(
                "replication-lag",
                alarm_description=f"{metric} of {args.cluster_identifier} above {args.lag_threshold_ms} ms, "
                f"from whichever region is the writer",
                metric_queries=[
                    *sources,
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="lag", expression="MAX(METRICS())", label=f"largest {metric}", return_data=True
                    ),
                ],
                evaluation_periods=3,
                threshold=args.lag_threshold_ms,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
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
