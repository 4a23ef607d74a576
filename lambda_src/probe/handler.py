"""Lambda entry point ``lambda_src.probe.handler.handler``: the write probe of one region.

Deployed in *every* region of the environment, in its VPC (it reaches the other regions'
writers over inter-region VPC peering). Started by an EventBridge schedule in its own
region every minute, it loops: every PROBE_INTERVAL_SECONDS one attempt
(``probe.run_attempt``) writes this region's heartbeat row on the current writer, reads
the newest replicated heartbeat on this region's own reader, and publishes the attempt in
this region's failover table (never in another region). The writer is found at run time
from this region's RDS API (DescribeGlobalClusters), its address from CLUSTER_ENDPOINTS.

Environment:

* ``AWS_REGION`` (Lambda), ``ENVIRONMENT``, ``GLOBAL_CLUSTER_ID``;
* ``CLUSTER_ENDPOINTS``: JSON ``{region: that region's cluster (writer) endpoint address}``;
* ``LOCAL_READER_HOST``: this region's reader endpoint address;
* ``PROBE_SECRET_ARN``: the probe user's secret (this region's replica);
* ``FAILOVER_TABLE``: this region's failover table;
* ``DB_PORT`` (3306), ``DB_CA_BUNDLE`` (the shipped RDS bundle: TLS is always verified),
  ``CONNECT_TIMEOUT_S`` and ``READ_TIMEOUT_S`` (2 each);
* ``PROBE_INTERVAL_SECONDS`` (10), ``LOOP_SECONDS`` (50).

One JSON log line per attempt (``probe_attempt``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config

from lambda_src.common import envvars as ev
from lambda_src.common import heartbeat
from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, ca_bundle_from_env, connect
from lambda_src.common.probe_record import Attempt, Verdict, attempt_item
from lambda_src.common.secrets import DbCredentials, fetch_credentials
from lambda_src.probe.probe import run_attempt

logger = Logger(service="aurora-probe")

_AWS_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
# How long a writer region read from the RDS API may be reused when the API does not answer.
WRITER_CACHE_SECONDS = 60.0


@dataclass(frozen=True, kw_only=True)
class ProbeSettings:
    region: str
    environment: str
    global_cluster_id: str
    endpoints: dict[str, str]
    local_reader_host: str
    secret_arn: str
    table: str
    port: int = 3306
    ca_bundle: str = RDS_CA_BUNDLE
    connect_timeout: float = 2.0
    read_timeout: float = 2.0
    interval_seconds: float = 10.0
    loop_seconds: float = 50.0


def load_settings(env: Mapping[str, str]) -> ProbeSettings:
    region = ev.region(env, "AWS_REGION")
    endpoints = ev.region_map(env, "CLUSTER_ENDPOINTS")
    if region not in endpoints:
        raise ev.fail(
            "CLUSTER_ENDPOINTS",
            f"an object that includes this region ({region})",
            env.get("CLUSTER_ENDPOINTS"),
        )
    return ProbeSettings(
        region=region,
        environment=ev.required(env, "ENVIRONMENT"),
        global_cluster_id=ev.required(env, "GLOBAL_CLUSTER_ID"),
        endpoints=endpoints,
        local_reader_host=ev.required(env, "LOCAL_READER_HOST"),
        secret_arn=ev.required(env, "PROBE_SECRET_ARN"),
        table=ev.required(env, "FAILOVER_TABLE"),
        port=ev.integer(env, "DB_PORT", 1, 65535, default=3306),
        ca_bundle=ca_bundle_from_env(env),
        connect_timeout=ev.seconds(env, "CONNECT_TIMEOUT_S", 0.1, 10, default=2.0),
        read_timeout=ev.seconds(env, "READ_TIMEOUT_S", 0.1, 10, default=2.0),
        interval_seconds=ev.seconds(env, "PROBE_INTERVAL_SECONDS", 1, 60, default=10.0),
        loop_seconds=ev.seconds(env, "LOOP_SECONDS", 0, 840, default=50.0),
    )


def writer_region_of(rds: Any, global_cluster_id: str) -> str:
    response = rds.describe_global_clusters(GlobalClusterIdentifier=global_cluster_id)
    members = (response.get("GlobalClusters") or [{}])[0].get("GlobalClusterMembers", [])
    writers = [
        m["DBClusterArn"].split(":")[3] for m in members if m.get("IsWriter") and m.get("DBClusterArn")
    ]
    if len(writers) != 1:
        raise LookupError(f"{len(writers)} writers in {global_cluster_id}")
    return writers[0]


@dataclass
class RealDeps:
    """``ProbeDeps`` on boto3 clients of this region and pymysql connections."""

    settings: ProbeSettings
    secrets: Any
    rds: Any
    clock: Callable[[], float] = time.time
    _credentials: DbCredentials | None = None
    _writer: tuple[str, float] | None = None

    def credentials(self) -> DbCredentials:
        if self._credentials is None:
            self._credentials = fetch_credentials(self.secrets, self.settings.secret_arn)
        return self._credentials

    def forget_credentials(self) -> None:
        """After an auth failure: re-read the secret next time (it may have rotated)."""
        self._credentials = None

    def writer_region(self) -> str:
        now = self.clock()
        try:
            region = writer_region_of(self.rds, self.settings.global_cluster_id)
        except Exception:
            if self._writer is not None and now - self._writer[1] <= WRITER_CACHE_SECONDS:
                return self._writer[0]
            raise
        self._writer = (region, now)
        return region

    def _endpoint(self, host: str, credentials: DbCredentials) -> Endpoint:
        s = self.settings
        return Endpoint(
            host=host,
            port=s.port,
            user=credentials.username,
            password=credentials.password,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            write_timeout=s.read_timeout,
            ca_bundle=s.ca_bundle,
        )

    def write_heartbeat(self, writer_region: str, credentials: DbCredentials) -> None:
        host = self.settings.endpoints.get(writer_region)
        if host is None:
            raise LookupError(f"no endpoint for writer region {writer_region} in CLUSTER_ENDPOINTS")
        conn = connect(self._endpoint(host, credentials))
        try:
            heartbeat.write_heartbeat(conn, self.settings.region)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def read_local(self, credentials: DbCredentials) -> float | None:
        conn = connect(self._endpoint(self.settings.local_reader_host, credentials))
        try:
            return heartbeat.newest_replicated(conn)
        finally:
            with contextlib.suppress(Exception):
                conn.close()


def publish(dynamodb: Any, settings: ProbeSettings, attempt: Attempt) -> bool:
    try:
        dynamodb.put_item(TableName=settings.table, Item=attempt_item(settings.global_cluster_id, attempt))
    # A lost publication is a gap in this vantage's record, which the decider refuses on.
    except Exception as exc:
        logger.error("probe_publish_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
    return True


@dataclass
class ProbeRuntime:
    settings: ProbeSettings
    deps: RealDeps
    dynamodb: Any
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    attempts: list[dict[str, Any]] = field(default_factory=list)


def probe_once(rt: ProbeRuntime) -> dict[str, Any]:
    at = rt.clock()
    attempt, detail = run_attempt(rt.deps, region=rt.settings.region, at=at)
    if attempt.reason == "auth_failed":
        rt.deps.forget_credentials()
    record = {
        "region": attempt.region,
        "at": attempt.at,
        "verdict": str(attempt.verdict),
        "reason": attempt.reason,
        "writer_region": attempt.writer_region,
        "local_ok": attempt.local_ok,
        "replica_newest": attempt.replica_newest,
        "detail": detail,
        "published": publish(rt.dynamodb, rt.settings, attempt),
        "seconds": round(rt.clock() - at, 3),
    }
    (logger.warning if attempt.verdict is not Verdict.ALIVE else logger.info)("probe_attempt", extra=record)
    return record


def run(rt: ProbeRuntime, *, budget_seconds: float) -> dict[str, Any]:
    started = rt.clock()
    records: list[dict[str, Any]] = []
    while True:
        begun = rt.clock()
        records.append(probe_once(rt))
        if rt.clock() - started + rt.settings.interval_seconds > budget_seconds:
            break
        rt.sleep(max(0.0, begun + rt.settings.interval_seconds - rt.clock()))
    verdicts = [r["verdict"] for r in records]
    return {
        "attempts": len(records),
        "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "last": records[-1],
    }


_runtime: ProbeRuntime | None = None


def get_runtime() -> ProbeRuntime:
    global _runtime
    if _runtime is None:
        settings = load_settings(os.environ)
        _runtime = ProbeRuntime(
            settings=settings,
            deps=RealDeps(
                settings=settings,
                secrets=boto3.client("secretsmanager", region_name=settings.region, config=_AWS_CONFIG),
                rds=boto3.client("rds", region_name=settings.region, config=_AWS_CONFIG),
            ),
            dynamodb=boto3.client("dynamodb", region_name=settings.region, config=_AWS_CONFIG),
        )
    return _runtime


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = get_runtime()
    attempt_bound = rt.settings.connect_timeout * 2 + rt.settings.read_timeout * 2
    remaining = context.get_remaining_time_in_millis() / 1000 - attempt_bound - 2
    return run(rt, budget_seconds=min(rt.settings.loop_seconds, remaining))
