"""The modelled world: regions, the writer, replication, CloudWatch, the RDS API, Secrets
Manager, Lambda, the failover tables, inter-region links, and Aurora's failover.

The real code runs against it through small fakes with the shape of the boto3 clients
(or of ``RegionStore``) it calls: each fake raises what the real service raises under the
fault schedule (botocore errors, pymysql errors chained the way pymysql chains them) and
records every call, blocking or not, so "nothing on the decision path waits on a client of
the failed region" can be checked. Time is the world's clock: nothing sleeps.

Model choices (each is a simplification, stated so a reader can judge it):

* The writer commits application writes continuously while it accepts writes; heartbeats
  are committed by successful probe writes at the probe's start time (writer clock = sim
  clock: Amazon Time Sync skew is covered by the decider's 1 s allowance).
* Replication into region R applies everything committed up to ``t - lag(R)`` whenever it
  flows: the writer's region is up, the link between the two regions is up, R's cluster is
  up and ``replication:R`` is not stale. It shares fate with the inter-region link (the
  pessimistic reading: isolation also stops replication).
* A probe's write to another region's writer goes over the link; a region that is down
  black-holes (timeout); dead writer instances refuse (connection refused).
* Aurora's failover takes ``aurora_failover_seconds``; the old writer leaves the global
  cluster and does not rejoin within a run (rejoining takes long, AWS_FACTS.md). With
  ``fencing: false`` an old writer that is still alive keeps accepting writes: those writes
  are lost (split brain) and counted in the run's RPO.
* The health Lambda of each region publishes WriterHealthy once a minute; CloudWatch shows a
  datapoint ``cloudwatch_delay_seconds`` after it was put. The writer name answers with the
  new writer once its first healthy datapoint is visible, plus the TTL.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pymysql
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from lambda_src.common.errors import DatabaseUnavailable, SecretError
from lambda_src.common.probe_record import Attempt
from lambda_src.common.secrets import DbCredentials
from lambda_src.failover.decision import LockView, Reason, Veto, VetoState
from lambda_src.failover.facts import region_of_arn, veto_from_metric
from lambda_src.failover.store import ArmRecord, LockNotAcquired, StoreUnavailable
from orchestrator.analysis.failover_sim.scenario import Fault, Scenario

ACCOUNT = "000000000000"
GLOBAL_ID = "sim-global"
# The veto client's bound (facts.py uses connect 1 s + read 2 s for it).
VETO_TIMEOUT = 3.0
FAILING = ("down", "timeout", "errors")


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:sim-{region}"


@dataclass(frozen=True)
class Call:
    t: float
    caller: str
    service: str
    region: str
    blocking: bool


@dataclass
class Promotion:
    at: float
    by: str
    target: str
    writer_before: str
    automated: bool
    estimated_loss: float | None = None
    completed_at: float | None = None


@dataclass
class Table:
    """One region's failover table."""

    attempt_times: list[float] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    """Appended in time order; each is visible from the moment it is put."""
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    last_failover_at: float | None = None
    arm: ArmRecord | None = None


def _chain(outer: BaseException, *causes: BaseException) -> BaseException:
    current = outer
    for cause in causes:
        current.__cause__ = cause
        current = cause
    return outer


def db_timeout(host: str) -> BaseException:
    err = pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on '{host}' (timed out)")
    return _chain(
        DatabaseUnavailable(f"cannot connect to {host}:3306: {err}"), err, TimeoutError("timed out")
    )


def db_refused(host: str) -> BaseException:
    err = pymysql.err.OperationalError(
        2003, f"Can't connect to MySQL server on '{host}' ([Errno 111] Connection refused)"
    )
    return _chain(
        DatabaseUnavailable(f"cannot connect to {host}:3306: {err}"),
        err,
        ConnectionRefusedError(111, "Connection refused"),
    )


def db_error(code: int, message: str) -> BaseException:
    return pymysql.err.OperationalError(code, message)


def api_error(mode: str, service: str, region: str) -> Exception:
    url = f"https://{service}.{region}.amazonaws.com"
    if mode == "timeout":
        return ReadTimeoutError(endpoint_url=url)
    if mode == "down":
        return EndpointConnectionError(endpoint_url=url)
    return ClientError(
        {
            "Error": {"Code": "InternalFailure", "Message": "modelled"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        service,
    )


class World:
    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.t = 0.0
        self.regions = scenario.regions
        self.writer = scenario.regions[0]
        self.members = set(scenario.regions)
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        for f in scenario.faults:
            targets = f.target.split("|")
            key = (f.kind, "|".join(sorted(targets)))
            self._faults.setdefault(key, []).append(f)
        self.lag = {r: scenario.lag_seconds.get(r, 0.5) for r in scenario.regions}
        self.applied = {r: 0.0 for r in scenario.regions}
        self.heartbeats: list[float] = []
        self.last_commit = 0.0
        self.failover: Promotion | None = None
        self.failover_completes: float | None = None
        self.promotions: list[Promotion] = []
        self.split_brain: str | None = None
        self.split_brain_last_commit: float | None = None
        self.loss_at_promotion: float | None = None
        self.tables = {r: Table() for r in scenario.regions}
        self.metrics: dict[str, list[tuple[float, float, float]]] = {r: [] for r in scenario.regions}
        """region -> (period start, value, visible_at)"""
        self.attempt_log: list[Attempt] = []
        self.calls: list[Call] = []
        """Blocking calls of a decider outside the writer's region into the writer's region."""
        self.call_count = 0
        self.notifications: list[tuple[float, str, str]] = []
        self.actor_automated = True
        self.dns_at: float | None = None
        self.refusals: dict[str, int] = {}
        self.active: dict[tuple[str, str], str] = {}
        self._quiet_since: float | None = 0.0

    # -- faults ---------------------------------------------------------------------------
    def _refresh_faults(self) -> None:
        """The mode of every fault active now, keyed like ``_faults`` (first fault listed wins)."""
        active: dict[tuple[str, str], str] = {}
        for key, faults in self._faults.items():
            for f in faults:
                mode = f.state(self.t)
                if mode is not None:
                    active[key] = mode
                    break
        self.active = active

    def state(self, kind: str, region: str) -> str | None:
        """The fault mode affecting ``kind`` in ``region`` now (region-wide faults included)."""
        active = self.active
        if not active:
            return None
        return active.get(("region", region)) or active.get((kind, region))

    def link_state(self, a: str, b: str) -> str | None:
        if a == b or not self.active:
            return None
        mode = self.active.get(("link", f"{a}|{b}" if a < b else f"{b}|{a}"))
        if mode is not None:
            return mode
        for r in (a, b):
            if self.active.get(("region", r)) in FAILING:
                return "timeout"  # a region that is gone black-holes what is sent to it
        return None

    def faults_pending(self) -> bool:
        """A fault is active now or starts later."""
        return bool(self.active) or any(f.start > self.t for fs in self._faults.values() for f in fs)

    def quiet_since(self) -> float | None:
        """Since when no fault has been active (None while one is); used to skip idle decider runs."""
        return None if self.active else self._quiet_since

    def failing(self, kind: str, region: str) -> str | None:
        mode = self.state(kind, region)
        return mode if mode in FAILING else None

    def record(self, caller: str, service: str, region: str, *, blocking: bool = True) -> None:
        """Count a call; a blocking one from another region into the writer's is a violation."""
        self.call_count += 1
        if blocking and region == self.writer and caller != region and caller in self.regions:
            self.calls.append(Call(self.t, caller, service, region, blocking))

    # -- the database ----------------------------------------------------------------------
    def accepts_writes(self, region: str) -> bool:
        return not any(self.failing(kind, region) for kind in ("writer", "cluster"))

    def advance(self, t: float) -> None:
        self.t = t
        self._refresh_faults()
        if self.active:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = t
        if self.failover is not None and self.failover_completes is not None and t >= self.failover_completes:
            self._complete_failover()
        writer = self.writer
        if not self.active and self.split_brain is None:
            self.last_commit = t
            for r in self.regions:
                self.applied[r] = t if r == writer else max(self.applied[r], t - self.lag[r])
            return
        if self.accepts_writes(writer):
            self.last_commit = t
        if self.split_brain is not None and self.accepts_writes(self.split_brain):
            self.split_brain_last_commit = t
        for r in self.regions:
            if r == writer:
                self.applied[r] = t
                continue
            flowing = (
                self.failing("region", writer) is None
                and self.link_state(writer, r) not in FAILING
                and self.state("replication", r) not in ("stale", "down", "timeout", "errors")
                and self.failing("cluster", r) is None
            )
            if flowing:
                self.applied[r] = max(self.applied[r], min(t - self.lag[r], self.last_commit))

    def replica_newest(self, region: str) -> float | None:
        i = bisect.bisect_right(self.heartbeats, self.applied[region])
        return self.heartbeats[i - 1] if i else None

    def db_write(self, prober: str, writer: str) -> None:
        host = f"sim-{writer}.cluster"
        if self.state("probe_auth", prober) is not None:
            raise db_error(1045, f"Access denied for user 'probe'@'{prober}' (using password: YES)")
        link = self.link_state(prober, writer)
        if link == "timeout":
            raise db_timeout(host)
        if link in ("down", "errors"):
            raise db_refused(host)
        if writer != self.writer:
            # An endpoint that is no longer the writer: fenced (read-only) or gone.
            if self.split_brain == writer and self.accepts_writes(writer):
                self._commit(prober)
                return
            if self.failing("cluster", writer):
                raise db_refused(host)
            raise db_error(1290, "The MySQL server is running with the --read-only option")
        mode = self.failing("writer", writer) or self.failing("cluster", writer)
        if mode == "timeout":
            raise db_timeout(host)
        if mode == "down":
            raise db_refused(host)
        if mode == "errors":
            raise db_error(1053, "Server shutdown in progress")
        if self.failover is not None:
            raise db_error(1290, "The MySQL server is running with the --read-only option")
        self._commit(prober)

    def _commit(self, prober: str) -> None:
        self.heartbeats.append(self.t)

    def local_read(self, region: str) -> float | None:
        if self.failing("cluster", region):
            raise db_refused(f"sim-{region}.cluster-ro")
        return self.replica_newest(region)

    # -- Aurora's failover -------------------------------------------------------------------
    def global_clusters(self) -> dict[str, Any]:
        cluster: dict[str, Any] = {
            "GlobalClusterIdentifier": GLOBAL_ID,
            "Status": "failing-over" if self.failover is not None else "available",
            "GlobalClusterMembers": [
                {"DBClusterArn": cluster_arn(r), "IsWriter": r == self.writer}
                for r in self.regions
                if r in self.members
            ],
        }
        if self.failover is not None:
            cluster["FailoverState"] = {
                "Status": "failing-over",
                "ToDbClusterArn": cluster_arn(self.failover.target),
            }
        return {"GlobalClusters": [cluster]}

    def start_failover(self, *, target: str, by: str) -> Promotion:
        if self.failover is not None:
            raise ClientError(
                {
                    "Error": {"Code": "InvalidGlobalClusterStateFault", "Message": "failover in progress"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "FailoverGlobalCluster",
            )
        if target == self.writer or target not in self.members:
            raise ClientError(
                {
                    "Error": {"Code": "InvalidDBClusterStateFault", "Message": "not a secondary"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "FailoverGlobalCluster",
            )
        promotion = Promotion(
            at=self.t, by=by, target=target, writer_before=self.writer, automated=self.actor_automated
        )
        self.promotions.append(promotion)
        self.failover = promotion
        self.failover_completes = self.t + self.sc.aurora_failover_seconds
        return promotion

    def _complete_failover(self) -> None:
        assert self.failover is not None
        promotion, old = self.failover, self.writer
        # Writes the old writer took until now that the target does not hold are lost.
        self.loss_at_promotion = max(0.0, self.last_commit - self.applied[promotion.target])
        if not self.sc.fencing and self.accepts_writes(old):
            self.split_brain = old
        self.writer = promotion.target
        self.members.discard(old)
        promotion.completed_at = self.t
        self.failover = None
        self.failover_completes = None
        self.applied[promotion.target] = self.t

    def rpo_seconds(self) -> float | None:
        if self.loss_at_promotion is None:
            return None
        extra = 0.0
        if (
            self.split_brain_last_commit is not None
            and self.promotions
            and self.promotions[0].completed_at is not None
        ):
            extra = max(0.0, self.split_brain_last_commit - self.promotions[0].completed_at)
        return self.loss_at_promotion + extra

    # -- CloudWatch ------------------------------------------------------------------------
    def put_health(self, region: str) -> bool:
        if self.failing("lambda", region) or self.state("cloudwatch", region) is not None:
            return False
        healthy = region == self.writer and self.accepts_writes(region) and self.failover is None
        start = self.t - self.t % 60
        self.metrics[region].append(
            (start, 1.0 if healthy else 0.0, self.t + self.sc.cloudwatch_delay_seconds)
        )
        return healthy


# -- fakes with the shape of what the real code calls -------------------------------------


@dataclass
class FakeCloudWatch:
    world: World
    region: str
    caller: str

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        mode = self.world.failing("cloudwatch", self.region)
        if mode:
            raise api_error(mode, "monitoring", self.region)
        start = request["StartTime"].timestamp()
        end = request["EndTime"].timestamp()
        points: dict[float, float] = {}
        for period, value, visible in self.world.metrics[self.region]:
            if visible <= self.world.t and start <= period < end:
                points[period] = max(points.get(period, 0.0), value)
        stamps = sorted(points, reverse=True)
        return {
            "MetricDataResults": [
                {
                    "Id": "w",
                    "StatusCode": "Complete",
                    "Timestamps": [datetime.fromtimestamp(s, tz=UTC) for s in stamps],
                    "Values": [points[s] for s in stamps],
                }
            ]
        }


@dataclass
class SimVeto:
    """The simulator's VetoSource: the real ``veto_from_metric`` behind a modelled prefetch."""

    world: World
    caller: str
    namespace: str
    environment: str
    window_seconds: float
    pending: tuple[str, float, Veto] | None = None
    done: dict[str, Veto] = field(default_factory=dict)

    def request(self, writer_region: str, now: float) -> None:
        self._collect(now)
        if self.pending is not None:
            return
        self.world.record(self.caller, "cloudwatch", writer_region, blocking=False)
        mode = self.world.failing("cloudwatch", writer_region)
        try:
            veto = veto_from_metric(
                FakeCloudWatch(self.world, writer_region, self.caller),
                namespace=self.namespace,
                environment=self.environment,
                writer_region=writer_region,
                cluster_id=f"sim-{writer_region}",
                now=now,
                window_seconds=self.window_seconds,
            )
        except Exception as exc:
            veto = Veto(state=VetoState.UNKNOWN, detail=f"{type(exc).__name__}")
        self.pending = (writer_region, now + (VETO_TIMEOUT if mode == "timeout" else 0.2), veto)

    def _collect(self, now: float) -> None:
        if self.pending is not None and self.pending[1] <= now:
            self.done[self.pending[0]] = self.pending[2]
            self.pending = None

    def latest(self, writer_region: str, now: float, window_seconds: float) -> Veto:
        self._collect(now)
        return self.done.get(writer_region, Veto(state=VetoState.UNKNOWN, detail="no answer yet"))


@dataclass
class FakeRds:
    world: World
    region: str
    caller: str

    def _check(self) -> None:
        self.world.record(self.caller, "rds", self.region)
        mode = self.world.failing("rds_api", self.region)
        if mode:
            raise api_error(mode, "rds", self.region)

    def describe_global_clusters(self, **_: Any) -> dict[str, Any]:
        self._check()
        return self.world.global_clusters()

    def failover_global_cluster(self, **request: Any) -> dict[str, Any]:
        self._check()
        target = region_of_arn(request["TargetDbClusterIdentifier"]) or ""
        if target != self.region or request.get("AllowDataLoss") is not True:
            raise ClientError(
                {
                    "Error": {"Code": "InvalidParameterCombination", "Message": "modelled"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "FailoverGlobalCluster",
            )
        self.world.start_failover(target=target, by=self.caller)
        return {"GlobalCluster": {"Status": "failing-over", "FailoverState": {"Status": "pending"}}}


@dataclass
class FakeSns:
    world: World
    region: str
    caller: str

    def publish(self, **message: Any) -> dict[str, Any]:
        self.world.record(self.caller, "sns", self.region)
        mode = self.world.failing("region", self.region)
        if mode:
            raise api_error(mode, "sns", self.region)
        self.world.notifications.append((self.world.t, self.caller, message.get("Subject", "")))
        return {"MessageId": str(len(self.world.notifications))}


@dataclass
class StoreClient:
    """``RegionStore`` semantics (same conditions as DynamoRegionStore) on a modelled table."""

    world: World
    region: str
    caller: str

    def _table(self) -> Table:
        self.world.record(self.caller, "dynamodb", self.region)
        mode = self.world.failing("dynamodb", self.region)
        if mode:
            raise StoreUnavailable(f"{self.region} dynamodb {mode}")
        return self.world.tables[self.region]

    def put_attempt(self, attempt: Attempt) -> None:
        table = self._table()
        table.attempt_times.append(attempt.at)
        table.attempts.append(attempt)

    def recent_attempts(self, region: str, since: float) -> tuple[Attempt, ...]:
        table = self._table()
        if region != self.region:
            return ()
        return tuple(table.attempts[bisect.bisect_left(table.attempt_times, since) :])

    def read_lock(self) -> LockView:
        t = self._table()
        return LockView(
            lease_owner=t.lease_owner,
            lease_expires_at=t.lease_expires_at,
            last_failover_at=t.last_failover_at,
        )

    def try_acquire(self, *, owner: str, now: float, lease_seconds: float, cooldown_seconds: float) -> None:
        t = self._table()
        state = LockView(
            lease_owner=t.lease_owner,
            lease_expires_at=t.lease_expires_at,
            last_failover_at=t.last_failover_at,
        )
        if t.lease_expires_at is not None and t.lease_expires_at > now:
            raise LockNotAcquired(Reason.LOCK_HELD, self.region, state)
        if t.last_failover_at is not None and t.last_failover_at > now - cooldown_seconds:
            raise LockNotAcquired(Reason.COOLDOWN, self.region, state)
        t.lease_owner, t.lease_expires_at = owner, now + lease_seconds

    def record_failover(self, *, owner: str, now: float, outcome: str) -> None:
        t = self._table()
        if t.lease_owner != owner:
            raise StoreUnavailable(f"{self.region}: lease no longer ours")
        t.last_failover_at, t.lease_owner, t.lease_expires_at = now, None, None

    def release(self, *, owner: str, outcome: str) -> None:
        t = self._table()
        if t.lease_owner == owner:
            t.lease_owner, t.lease_expires_at = None, None

    def note_failover(self, *, at: float, by: str) -> bool:
        t = self._table()
        if t.last_failover_at is None or t.last_failover_at < at:
            t.last_failover_at = at
            return True
        return False

    def read_arm(self) -> ArmRecord | None:
        return self._table().arm

    def write_arm(self, record: ArmRecord) -> bool:
        t = self._table()
        if t.arm is not None and t.arm.generation >= record.generation:
            return False
        t.arm = record
        return True


@dataclass
class SimProbeDeps:
    """``ProbeDeps`` on the world (the classification that runs on it is the real one)."""

    world: World
    region: str
    writer_cache: tuple[str, float] | None = None
    cache_seconds: float = 60.0
    on_commit: Callable[[], None] | None = None

    def credentials(self) -> DbCredentials:
        mode = self.world.failing("secrets", self.region)
        if mode:
            raise SecretError(f"probe secret in {self.region}: cannot read secret ({mode})")
        return DbCredentials(username="probe", password="modelled")  # noqa: S106 - modelled

    def writer_region(self) -> str:
        mode = self.world.failing("rds_api", self.region)
        if mode:
            if self.writer_cache is not None and self.world.t - self.writer_cache[1] <= self.cache_seconds:
                return self.writer_cache[0]
            raise api_error(mode, "rds", self.region)
        self.writer_cache = (self.world.writer, self.world.t)
        return self.world.writer

    def write_heartbeat(self, writer_region: str, credentials: DbCredentials) -> None:
        self.world.db_write(self.region, writer_region)

    def read_local(self, credentials: DbCredentials) -> float | None:
        return self.world.local_read(self.region)
