"""Reading the facts, from nowhere that needs the writer's region.

* The global cluster: DescribeGlobalClusters in the decider's *own* region (the RDS control
  plane of a secondary answers for the whole global database; FailoverGlobalCluster is
  called there too).
* Each vantage's probe attempts: its region's failover table (the writer's region is never
  read for them).
* Lock and arm state: the tables of every region but the writer's.
* The veto: the writer region's own WriterHealthy metric. Read by a *prefetcher* that the
  decider starts and never waits for: an evaluation uses the answer that arrived by then
  (usually the one started one decider interval earlier), so a black-holed CloudWatch in
  the failed region cannot lengthen a decision, and its absence is never a veto.

Any failure becomes an entry of ``unavailable`` or an unreadable vantage, never an
exception and never a promotion.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from lambda_src.failover.budget import Timing
from lambda_src.failover.decision import GlobalView, VantageView, Veto, VetoState
from lambda_src.failover.store import RegionStore

WRITER_HEALTHY_METRIC = "WriterHealthy"
PERIOD_SECONDS = 60


def region_of_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def read_global_view(rds: Any, global_cluster_id: str) -> GlobalView:
    response = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)
    clusters = response.get("GlobalClusters", [])
    if not clusters:
        raise LookupError(f"global cluster {global_cluster_id} not found")
    cluster = clusters[0]
    members = cluster.get("GlobalClusterMembers", [])
    writers = [region_of_arn(m.get("DBClusterArn", "")) for m in members if m.get("IsWriter")]
    failover_state = cluster.get("FailoverState") or {}
    return GlobalView(
        status=str(cluster.get("Status", "unknown")),
        failover_status=failover_state.get("Status"),
        writer_region=writers[0] if len(writers) == 1 else None,
        member_regions=frozenset(r for m in members if (r := region_of_arn(m.get("DBClusterArn", "")))),
    )


def history_start(now: float, timing: Timing) -> float:
    """Attempts older than this cannot matter: the window plus the gaps it may reach back over."""
    return now - timing.window_seconds - 4 * timing.max_gap_seconds


def read_vantages(
    stores: Mapping[str, RegionStore], regions: Sequence[str], *, now: float, timing: Timing
) -> dict[str, VantageView]:
    since = history_start(now, timing)
    views: dict[str, VantageView] = {}
    for region in regions:
        try:
            views[region] = VantageView(region=region, attempts=stores[region].recent_attempts(region, since))
        # Deliberately broad: whatever went wrong, this vantage is unknown, which refuses.
        except Exception as exc:
            views[region] = VantageView(region=region, attempts=None, error=f"{type(exc).__name__}: {exc}")
    return views


def veto_from_metric(
    cloudwatch: Any,
    *,
    namespace: str,
    environment: str,
    writer_region: str,
    cluster_id: str,
    now: float,
    window_seconds: float,
) -> Veto:
    """Did the writer region's own health check see a healthy writer during the window?"""
    end = datetime.fromtimestamp(now, tz=UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = datetime.fromtimestamp(now - window_seconds, tz=UTC).replace(second=0, microsecond=0)
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "w",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": WRITER_HEALTHY_METRIC,
                        "Dimensions": [
                            {"Name": "Environment", "Value": environment},
                            {"Name": "Region", "Value": writer_region},
                            {"Name": "ClusterIdentifier", "Value": cluster_id},
                        ],
                    },
                    "Period": PERIOD_SECONDS,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampDescending",
    )
    healthy: list[float] = []
    for result in response.get("MetricDataResults", []):
        if result.get("StatusCode") in ("InternalError", "Forbidden"):
            return Veto(state=VetoState.UNKNOWN, detail=f"GetMetricData status {result['StatusCode']}")
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
            if value >= 1:
                # The datapoint covers its whole period: count the writer alive until its end.
                healthy.append(stamp.timestamp() + PERIOD_SECONDS)
    if not healthy:
        return Veto(state=VetoState.NOT_SEEN, detail="no healthy datapoint in the window")
    seen = max(healthy)
    return Veto(
        state=VetoState.ALIVE_SEEN,
        seen_alive_at=seen,
        detail=f"{writer_region} WriterHealthy=1 until {seen:.0f}",
    )


class VetoSource(Protocol):
    def request(self, writer_region: str, now: float) -> None:
        """Start a read for ``writer_region`` unless one is in flight; never blocks."""
        ...

    def latest(self, writer_region: str, now: float, window_seconds: float) -> Veto:
        """The newest completed answer for ``writer_region``; UNKNOWN when there is none."""
        ...


class ThreadVetoPrefetcher:
    """The real VetoSource: one background thread per container, calls bounded by the client config."""

    def __init__(self, read: Any) -> None:
        self._read = read
        """read(writer_region, now) -> Veto"""
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="veto")
        self._pending: concurrent.futures.Future[Veto] | None = None
        self._pending_region: str | None = None
        self._done: dict[str, tuple[float, Veto]] = {}

    def request(self, writer_region: str, now: float) -> None:
        self._collect()
        if self._pending is None:
            self._pending_region = writer_region
            self._pending = self._pool.submit(self._read, writer_region, now)

    def _collect(self) -> None:
        if self._pending is not None and self._pending.done() and self._pending_region is not None:
            try:
                self._done[self._pending_region] = (0.0, self._pending.result())
            except Exception as exc:
                self._done[self._pending_region] = (
                    0.0,
                    Veto(state=VetoState.UNKNOWN, detail=f"{type(exc).__name__}: {exc}"),
                )
            self._pending = None

    def latest(self, writer_region: str, now: float, window_seconds: float) -> Veto:
        self._collect()
        found = self._done.get(writer_region)
        if found is None:
            return Veto(state=VetoState.UNKNOWN, detail="no answer yet")
        # Whether a healthy datapoint is still inside the window is decide()'s rule.
        return found[1]
