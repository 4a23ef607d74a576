"""Reads of the live environment: the global cluster and its members, clusters, metrics, lag, alarms.

Everything here reads; nothing changes AWS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from model import naming
from model.environment import Environment
from model.naming import HEALTH_NAMESPACE
from orchestrator.operate.aws import (
    AwsSession,
    GlobalClusterReadError,
    LiveError,
    WriterInTransitionError,
    describe_error,
    error_code,
    region_of_arn,
)

RPO_LAG_METRIC = "AuroraGlobalDBRPOLag"
REPLICATION_LAG_METRIC = "AuroraGlobalDBReplicationLag"
WRITER_HEALTHY_METRIC = "WriterHealthy"
REACHABLE_METRIC = "Reachable"
# Long enough to find the latest datapoint of metrics published every minute.
RECENT_WINDOW = timedelta(minutes=10)
# Suffixes of the alarms components/monitoring.py creates per region (<env>-aurora-<short>-<suffix>).
BASE_ALARM_SUFFIXES = ("writer-health", "unreachable", "cpu", "freeable-memory", "connections")
LAG_ALARM_SUFFIX = "replication-lag"
# FailoverState is empty unless a switchover/failover is scheduled or running (RDS API Reference,
# FailoverState); finished values are accepted defensively.
FINISHED_FAILOVER_STATES = frozenset({"completed", "cancelled"})


# --- global cluster --------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalMember:
    arn: str
    cluster_id: str
    region: str
    is_writer: bool
    synchronization_status: str | None
    """connected | pending-resync; AWS reports it for secondaries."""


@dataclass(frozen=True)
class GlobalClusterView:
    identifier: str
    arn: str | None
    status: str
    engine_version: str | None
    endpoint: str | None
    """The Aurora global writer endpoint (follows the writer across switchover and failover)."""
    failover_state: Mapping[str, Any] | None
    members: tuple[GlobalMember, ...]

    @property
    def writer(self) -> GlobalMember | None:
        writers = [m for m in self.members if m.is_writer]
        return writers[0] if len(writers) == 1 else None

    @property
    def busy(self) -> bool:
        """A switchover or failover is scheduled or running."""
        state = self.failover_state or {}
        return bool(state.get("Status")) and state.get("Status") not in FINISHED_FAILOVER_STATES

    def member_in(self, region: str) -> GlobalMember | None:
        return next((m for m in self.members if m.region == region), None)


def parse_global_cluster(cluster: Mapping[str, Any]) -> GlobalClusterView:
    members = []
    for member in cluster.get("GlobalClusterMembers", []):
        arn = str(member["DBClusterArn"])
        members.append(
            GlobalMember(
                arn=arn,
                cluster_id=arn.split(":")[-1],
                region=region_of_arn(arn),
                is_writer=bool(member.get("IsWriter")),
                synchronization_status=member.get("SynchronizationStatus"),
            )
        )
    state = cluster.get("FailoverState") or None
    return GlobalClusterView(
        identifier=str(cluster["GlobalClusterIdentifier"]),
        arn=cluster.get("GlobalClusterArn"),
        status=str(cluster.get("Status", "unknown")),
        engine_version=cluster.get("EngineVersion"),
        endpoint=cluster.get("Endpoint"),
        failover_state=dict(state) if state else None,
        members=tuple(members),
    )


def describe_global_cluster(rds: Any, identifier: str) -> GlobalClusterView | None:
    """None when the global cluster does not exist; any other error propagates."""
    try:
        answer = rds.describe_global_clusters(GlobalClusterIdentifier=identifier)
    except ClientError as exc:
        if error_code(exc) == "GlobalClusterNotFoundFault":
            return None
        raise
    clusters = answer.get("GlobalClusters", [])
    return parse_global_cluster(clusters[0]) if clusters else None


@dataclass(frozen=True)
class GlobalRead:
    view: GlobalClusterView | None
    """None: the global cluster does not exist (not deployed yet, or destroyed)."""
    region: str
    """Region whose RDS endpoint answered."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Regions tried first that failed, and why."""


def read_global_cluster(
    aws: AwsSession, env: Environment, regions: Iterable[str] | None = None
) -> GlobalRead:
    """DescribeGlobalClusters in the first region that answers (the file's primary first).

    A global cluster is visible from every region, so a dead primary region does not hide it.
    The first answer, "not found" included, is authoritative."""
    identifier = naming.global_cluster_id(env.name)
    errors: dict[str, str] = {}
    for region in regions or env.regions:
        try:
            view = describe_global_cluster(aws.client("rds", region), identifier)
        except (BotoCoreError, ClientError) as exc:
            errors[region] = describe_error(exc)
            continue
        return GlobalRead(view=view, region=region, errors=errors)
    detail = "; ".join(f"{r}: {e}" for r, e in errors.items())
    raise GlobalClusterReadError(f"cannot read global cluster {identifier} in any region ({detail})")


class BotoLiveView:
    """The engine's LiveView over boto3."""

    def __init__(self, aws: AwsSession) -> None:
        self.aws = aws

    def writer_region(self, env: Environment) -> str | None:
        """Region of the global cluster's writer; None when the global cluster does not exist
        (first deploy) or the environment is regional (nothing can move)."""
        if not env.is_global:
            return None
        view = read_global_cluster(self.aws, env).view
        if view is None:
            return None
        if view.busy:
            state = view.failover_state or {}
            raise WriterInTransitionError(
                f"global cluster {view.identifier} is in a {state.get('Status')} operation "
                f"(from {state.get('FromDbClusterArn')} to {state.get('ToDbClusterArn')}); wait until it "
                f"finishes (`infra status --env {env.name}`) and run the command again"
            )
        writer = view.writer
        if writer is None:
            raise WriterInTransitionError(
                f"global cluster {view.identifier} (status {view.status}) has "
                f"{sum(m.is_writer for m in view.members)} writer members instead of one; check "
                f"`infra status --env {env.name}` and the RDS console before deploying"
            )
        return writer.region

    def engine_version(self, env: Environment) -> str | None:
        """The running engine version: the global cluster's (global), or the primary region's
        cluster's (regional); None when it does not exist yet (first deploy)."""
        if env.is_global:
            view = read_global_cluster(self.aws, env).view
            return view.engine_version if view is not None else None
        identifier = naming.cluster_id(env.name, env.primary_region)
        try:
            cluster = describe_cluster(self.aws.client("rds", env.primary_region), identifier)
        except (BotoCoreError, ClientError) as exc:
            raise LiveError(f"cannot read {identifier}: {describe_error(exc)}") from exc
        return cluster.engine_version if cluster is not None else None


# --- per-region reads ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterView:
    identifier: str
    arn: str | None
    status: str | None
    endpoint: str | None
    reader_endpoint: str | None
    engine_version: str | None


def describe_cluster(rds: Any, identifier: str) -> ClusterView | None:
    """DescribeDBClusters by identifier or ARN; None when it does not exist."""
    try:
        answer = rds.describe_db_clusters(DBClusterIdentifier=identifier)
    except ClientError as exc:
        if error_code(exc) == "DBClusterNotFoundFault":
            return None
        raise
    clusters = answer.get("DBClusters", [])
    if not clusters:
        return None
    cluster = clusters[0]
    return ClusterView(
        identifier=str(cluster.get("DBClusterIdentifier", identifier)),
        arn=cluster.get("DBClusterArn"),
        status=cluster.get("Status"),
        endpoint=cluster.get("Endpoint"),
        reader_endpoint=cluster.get("ReaderEndpoint"),
        engine_version=cluster.get("EngineVersion"),
    )


@dataclass(frozen=True)
class MetricValue:
    value: float
    at: datetime


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def latest_values(
    cloudwatch: Any, queries: Mapping[str, Mapping[str, Any]], now: datetime
) -> dict[str, MetricValue]:
    """Latest datapoint per query id ({id: MetricStat}) within RECENT_WINDOW; ids without data are absent."""
    request: dict[str, Any] = {
        "MetricDataQueries": [
            {"Id": qid, "MetricStat": dict(stat), "ReturnData": True} for qid, stat in queries.items()
        ],
        # Minute-aligned bounds: whole periods, and CloudWatch answers faster.
        "StartTime": _floor_minute(now - RECENT_WINDOW),
        "EndTime": _floor_minute(now) + timedelta(minutes=1),
        "ScanBy": "TimestampDescending",
    }
    latest: dict[str, MetricValue] = {}
    while True:
        answer = cloudwatch.get_metric_data(**request)
        for result in answer.get("MetricDataResults", []):
            if result.get("StatusCode") in ("InternalError", "Forbidden"):
                raise LiveError(f"GetMetricData {result.get('Id')}: status {result['StatusCode']}")
            for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
                current = latest.get(result["Id"])
                if current is None or at > current.at:
                    latest[result["Id"]] = MetricValue(value=float(value), at=at)
        token = answer.get("NextToken")
        if not token:
            return latest
        request["NextToken"] = token


def _metric_stat(
    namespace: str, name: str, dimensions: Iterable[tuple[str, str]], stat: str
) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
        },
        "Period": 60,
        "Stat": stat,
    }


@dataclass(frozen=True)
class LagReading:
    metric: str | None
    """AuroraGlobalDBRPOLag, or AuroraGlobalDBReplicationLag when the RPO lag has no data; None: no data."""
    value_ms: float | None
    at: datetime | None
    source_region: str


def read_replication_lag(cloudwatch: Any, cluster_id: str, source_region: str, now: datetime) -> LagReading:
    """Latest lag of a secondary, in ms, read in the secondary's own region.

    The lag metrics exist only in secondary regions, on the secondary cluster, with dimensions
    DBClusterIdentifier and SourceRegion (AWS_FACTS.md). RPO lag (Aurora MySQL 3.04+) is preferred."""
    dims = (("DBClusterIdentifier", cluster_id), ("SourceRegion", source_region))
    values = latest_values(
        cloudwatch,
        {
            "rpo": _metric_stat("AWS/RDS", RPO_LAG_METRIC, dims, "Maximum"),
            "replication": _metric_stat("AWS/RDS", REPLICATION_LAG_METRIC, dims, "Maximum"),
        },
        now,
    )
    for qid, metric in (("rpo", RPO_LAG_METRIC), ("replication", REPLICATION_LAG_METRIC)):
        if qid in values:
            return LagReading(
                metric=metric, value_ms=values[qid].value, at=values[qid].at, source_region=source_region
            )
    return LagReading(metric=None, value_ms=None, at=None, source_region=source_region)


def read_health_metrics(
    cloudwatch: Any, env: Environment, region: str, cluster_id: str, now: datetime
) -> dict[str, MetricValue]:
    """Latest WriterHealthy and Reachable published by the region's health-check Lambda
    (dimensions as in lambda_src/health/check.py, in the same order)."""
    dims = (("Environment", env.name), ("Region", region), ("ClusterIdentifier", cluster_id))
    values = latest_values(
        cloudwatch,
        {
            "writer": _metric_stat(HEALTH_NAMESPACE, WRITER_HEALTHY_METRIC, dims, "Minimum"),
            "reachable": _metric_stat(HEALTH_NAMESPACE, REACHABLE_METRIC, dims, "Minimum"),
        },
        now,
    )
    return {
        name: values[qid]
        for qid, name in (("writer", WRITER_HEALTHY_METRIC), ("reachable", REACHABLE_METRIC))
        if qid in values
    }


def alarm_prefix(env: Environment, region: str) -> str:
    return f"{env.name}-aurora-{naming.short_region(region)}-"


@dataclass(frozen=True)
class AlarmReading:
    name: str
    suffix: str
    state: str
    updated_at: datetime | None
    reason: str | None
    expected: bool = False
    """The state is the design, not a problem (writer-health in ALARM on a reader)."""


def read_alarms(cloudwatch: Any, prefix: str) -> list[AlarmReading]:
    readings = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]
    ):
        for alarm in page.get("MetricAlarms", []):
            name = str(alarm["AlarmName"])
            readings.append(
                AlarmReading(
                    name=name,
                    suffix=name[len(prefix) :],
                    state=str(alarm.get("StateValue", "UNKNOWN")),
                    updated_at=alarm.get("StateUpdatedTimestamp"),
                    reason=alarm.get("StateReason"),
                )
            )
    return sorted(readings, key=lambda a: a.name)
