"""Reading the facts the rules need; each reader takes the boto3 client it talks to.

``gather_facts`` turns any failure into an entry of ``Facts.unavailable`` (and so into a
``facts_unavailable`` refusal): not knowing a fact must never lead to a failover or to
an unhandled exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from lambda_src.common.errors import LambdaCodeError
from lambda_src.failover.config import Settings
from lambda_src.failover.decision import Facts, GlobalClusterView, LockState, Sample
from lambda_src.failover.lock import FailoverLock

PERIOD_SECONDS = 60
# Long enough to find the latest datapoint of a metric published every minute.
RECENT_WINDOW = timedelta(minutes=5)
RPO_LAG_METRIC = "AuroraGlobalDBRPOLag"
REPLICATION_LAG_METRIC = "AuroraGlobalDBReplicationLag"

T = TypeVar("T")


class MetricReadError(LambdaCodeError):
    """GetMetricData answered, but not with complete data (InternalError, Forbidden)."""


class GlobalClusterNotFound(LambdaCodeError):
    """DescribeGlobalClusters returned no global cluster by that identifier."""


@dataclass(frozen=True, kw_only=True)
class FactClients:
    cloudwatch_primary: Any
    """CloudWatch in the primary region (our WriterHealthy metric is published there)."""
    cloudwatch_local: Any
    """CloudWatch in this region (Reachable, and the lag metrics, which exist only here)."""
    rds: Any
    dynamodb: Any


def _floor_minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def metric_samples(
    cloudwatch: Any,
    *,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    stat: str,
    start: datetime,
    end: datetime,
) -> tuple[Sample, ...]:
    """One datapoint per 60 s period that has data, oldest first."""
    # Minute-aligned bounds: CloudWatch answers faster and the periods are whole minutes.
    request: dict[str, Any] = {
        "MetricDataQueries": [
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric_name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": PERIOD_SECONDS,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
        ],
        "StartTime": _floor_minute(start),
        "EndTime": _floor_minute(end) + timedelta(minutes=1),
        "ScanBy": "TimestampAscending",
    }
    samples: list[Sample] = []
    while True:
        response = cloudwatch.get_metric_data(**request)
        for result in response.get("MetricDataResults", []):
            if result.get("StatusCode") in ("InternalError", "Forbidden"):
                raise MetricReadError(
                    f"{namespace}/{metric_name}: GetMetricData status {result['StatusCode']}"
                )
            samples.extend(
                Sample(timestamp=t, value=float(v))
                for t, v in zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
            )
        token = response.get("NextToken")
        if not token:
            break
        request["NextToken"] = token
    return tuple(sorted(samples, key=lambda s: s.timestamp))


def read_primary_writer_health(
    cloudwatch_primary: Any, settings: Settings, now: datetime
) -> tuple[Sample, ...]:
    # Maximum: one healthy probe within a minute makes that minute healthy, so the
    # primary has to be down for every whole minute before we act.
    return metric_samples(
        cloudwatch_primary,
        namespace=settings.metric_namespace,
        metric_name="WriterHealthy",
        dimensions={
            "Environment": settings.environment,
            "Region": settings.primary_region,
            "ClusterIdentifier": settings.primary_cluster_id,
        },
        stat="Maximum",
        start=now - timedelta(minutes=settings.policy.unhealthy_minutes),
        end=now,
    )


def read_secondary_reachable(cloudwatch_local: Any, settings: Settings, now: datetime) -> Sample | None:
    # The secondary is a reader, so its WriterHealthy is 0 by design; Reachable is the
    # signal. Minimum: one failed probe within the minute makes the minute unreachable.
    samples = metric_samples(
        cloudwatch_local,
        namespace=settings.metric_namespace,
        metric_name="Reachable",
        dimensions={
            "Environment": settings.environment,
            "Region": settings.region,
            "ClusterIdentifier": settings.secondary_cluster_id,
        },
        stat="Minimum",
        start=now - RECENT_WINDOW,
        end=now,
    )
    return samples[-1] if samples else None


def read_replication_lag(
    cloudwatch_local: Any, settings: Settings, now: datetime
) -> tuple[float | None, str | None]:
    """Maximum lag in ms over the recent window and the metric it came from, (None, None) if no data.

    The lag metrics exist only in secondary regions, on the secondary cluster, with
    dimensions DBClusterIdentifier and SourceRegion (AWS_FACTS.md, Aurora global database).
    RPO lag is preferred (Aurora MySQL 3.04+); replication lag covers older engines.
    """
    for metric in (RPO_LAG_METRIC, REPLICATION_LAG_METRIC):
        samples = metric_samples(
            cloudwatch_local,
            namespace="AWS/RDS",
            metric_name=metric,
            dimensions={
                "DBClusterIdentifier": settings.secondary_cluster_id,
                "SourceRegion": settings.primary_region,
            },
            stat="Maximum",
            start=now - RECENT_WINDOW,
            end=now,
        )
        if samples:
            return max(s.value for s in samples), metric
    return None, None


def read_global_cluster(rds: Any, settings: Settings) -> GlobalClusterView:
    response = rds.describe_global_clusters(GlobalClusterIdentifier=settings.global_cluster_id)
    clusters = response.get("GlobalClusters", [])
    if not clusters:
        raise GlobalClusterNotFound(f"global cluster {settings.global_cluster_id} not found")
    cluster = clusters[0]
    members = cluster.get("GlobalClusterMembers", [])
    ours = [m for m in members if m.get("DBClusterArn") == settings.secondary_cluster_arn]
    writers = [m["DBClusterArn"] for m in members if m.get("IsWriter")]
    failover_state = cluster.get("FailoverState") or {}
    return GlobalClusterView(
        status=str(cluster.get("Status", "unknown")),
        failover_status=failover_state.get("Status"),
        secondary_is_member=bool(ours),
        secondary_is_writer=bool(ours and ours[0].get("IsWriter")),
        writer_arn=writers[0] if writers else None,
    )


def read_lock(dynamodb: Any, settings: Settings) -> LockState:
    return FailoverLock(dynamodb, settings.lock_table, settings.global_cluster_id).read()


def gather_facts(clients: FactClients, settings: Settings, now: datetime) -> Facts:
    unavailable: dict[str, str] = {}

    def attempt(name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        # Deliberately broad: whatever goes wrong (API error, timeout, malformed answer)
        # the fact is unknown, and an unknown fact is a refusal, never a crash.
        except Exception as exc:
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            return None

    primary = attempt(
        "primary_writer_health", lambda: read_primary_writer_health(clients.cloudwatch_primary, settings, now)
    )
    reachable = attempt(
        "secondary_reachable", lambda: read_secondary_reachable(clients.cloudwatch_local, settings, now)
    )
    lag = attempt("replication_lag", lambda: read_replication_lag(clients.cloudwatch_local, settings, now))
    global_cluster = attempt("global_cluster", lambda: read_global_cluster(clients.rds, settings))
    lock = attempt("lock", lambda: read_lock(clients.dynamodb, settings))
    lag_ms, lag_metric = lag if lag is not None else (None, None)
    return Facts(
        primary_writer_health=primary or (),
        secondary_reachable=reachable,
        lag_ms=lag_ms,
        lag_metric=lag_metric,
        global_cluster=global_cluster,
        lock=lock,
        unavailable=unavailable,
    )
