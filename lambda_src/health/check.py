"""Health check logic and its CloudWatch metric contract.

Metrics (namespace from ``METRIC_NAMESPACE``, e.g. ``AuroraGlobal/Health``), one datapoint
each per check, all standard resolution (``StorageResolution=60``) because Route 53
``CLOUDWATCH_METRIC`` health checks reject alarms on high-resolution metrics:

``WriterHealthy``
    1 when the cluster answered the probe and accepts writes, else 0. Unit ``None``.
    Alarm on ``Minimum``/``Average`` < 1 over 60 s periods.
``Reachable``
    1 when the check logged in and the probe query answered (a read-only secondary is
    reachable), else 0. A failed login counts as unreachable. Unit ``None``.
``CheckLatencyMs``
    Milliseconds spent on the database (connect when there is no warm connection, plus
    the probe query). Published only when ``Reachable`` is 1, so timeouts do not pollute
    latency statistics. Unit ``Milliseconds``.

Every datapoint carries exactly these dimensions (alarms must name all three):
``Environment`` (``ENVIRONMENT``), ``Region`` (``REGION_NAME``/``AWS_REGION``),
``ClusterIdentifier`` (``CLUSTER_ID``).

Each check yields a ``reason``: ``ok``, ``read_only``, ``connect_failed``, ``timeout``,
``tls_verification_failed`` (the server's certificate did not verify against the CA bundle
or name the endpoint, or it offered no TLS: no credentials were sent), ``auth_failed`` (a
refused or expired password, after re-reading the secret), ``secret_unavailable``,
``query_failed`` (and, from the handler, ``configuration_error`` and ``internal_error``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import pymysql

from lambda_src.common.db import (
    AUTHENTICATION_ERRORS,
    PASSWORD_EXPIRED_ERRORS,
    RDS_CA_BUNDLE,
    Endpoint,
    ca_bundle_from_env,
)
from lambda_src.common.db import connect as db_connect
from lambda_src.common.dberrors import exception_chain, is_timeout, mysql_errno
from lambda_src.common.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DatabaseUnavailable,
    SecretError,
    TlsVerificationFailed,
)
from lambda_src.common.secrets import DbCredentials, fetch_credentials

METRIC_WRITER_HEALTHY = "WriterHealthy"
METRIC_REACHABLE = "Reachable"
METRIC_LATENCY = "CheckLatencyMs"
DIMENSION_ENVIRONMENT = "Environment"
DIMENSION_REGION = "Region"
DIMENSION_CLUSTER = "ClusterIdentifier"
STORAGE_RESOLUTION_SECONDS = 60

# One round trip: the trivial query proves the session works, the variables say whether
# the server accepts writes (Aurora readers and secondary clusters run with innodb_read_only).
PROBE_SQL = "SELECT 1, @@global.read_only, @@innodb_read_only"

MAX_TIMEOUT_SECONDS = 30.0


class Reason(StrEnum):
    """Why a check ended the way it did; logged and returned, stable for log queries."""

    OK = "ok"
    READ_ONLY = "read_only"
    CONNECT_FAILED = "connect_failed"
    TIMEOUT = "timeout"
    TLS_VERIFICATION_FAILED = "tls_verification_failed"
    AUTH_FAILED = "auth_failed"
    SECRET_UNAVAILABLE = "secret_unavailable"  # noqa: S105 - a reason, not a secret
    QUERY_FAILED = "query_failed"
    CONFIGURATION_ERROR = "configuration_error"
    INTERNAL_ERROR = "internal_error"


ConnectFactory = Callable[[Endpoint], Any]
"""Opens a pymysql connection for an endpoint or raises DatabaseUnavailable."""


@dataclass(frozen=True, kw_only=True)
class HealthConfig:
    """The function's environment, read once per container."""

    secret_arn: str
    """ARN of the credentials secret (RDS JSON layout), replicated to this region."""
    db_host: str
    """This region's cluster endpoint address. The secret's host is ignored: it may be a
    replica of another region's secret."""
    db_port: int = 3306
    """Defaults to 3306."""
    namespace: str
    """CloudWatch namespace of the metrics."""
    environment: str
    region: str
    cluster_id: str
    connect_timeout: float = 2.0
    """Bounds the TCP connect and, separately, each read of the handshake and login. Defaults to 2."""
    read_timeout: float = 2.0
    """Bounds the probe query once connected. Defaults to 2."""
    ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the server's certificate must chain to (``DB_CA_BUNDLE``); TLS is
    always on, certificate and host name always verified. Defaults to the shipped Amazon RDS
    bundle."""
    reader_host: str | None = None
    """This region's reader endpoint. When the cluster endpoint cannot be reached (a secondary
    cluster of a global database serves no writer), ``Reachable`` is decided by the reader
    endpoint, so the failover Lambda can tell a live secondary from a dead one. Defaults to None."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HealthConfig:
        """Build from environment variables; raise ConfigurationError naming every problem."""
        problems: list[str] = []

        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                problems.append(f"{name} is required and must not be empty")
            return value

        def seconds(name: str, default: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not 0 < value <= MAX_TIMEOUT_SECONDS:
                problems.append(
                    f"{name} must be a number of seconds in (0, {MAX_TIMEOUT_SECONDS:g}], got {raw!r}"
                )
                return default
            return value

        raw_port = environ.get("DB_PORT", "").strip() or "3306"
        port = int(raw_port) if raw_port.isdigit() else 0
        if not 1 <= port <= 65535:
            problems.append(f"DB_PORT must be an integer between 1 and 65535, got {raw_port!r}")

        ca_bundle = RDS_CA_BUNDLE
        try:
            ca_bundle = ca_bundle_from_env(environ)
        except ConfigurationError as exc:
            problems.append(str(exc))

        region = environ.get("REGION_NAME", "").strip() or environ.get("AWS_REGION", "").strip()
        if not region:
            problems.append("REGION_NAME (or the Lambda-provided AWS_REGION) is required")

        secret_arn = required("SECRET_ARN")
        db_host = required("DB_HOST")
        namespace = required("METRIC_NAMESPACE")
        environment = required("ENVIRONMENT")
        cluster_id = required("CLUSTER_ID")
        connect_timeout = seconds("CONNECT_TIMEOUT_S", 2.0)
        read_timeout = seconds("READ_TIMEOUT_S", 2.0)
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(
            secret_arn=secret_arn,
            db_host=db_host,
            db_port=port,
            namespace=namespace,
            environment=environment,
            region=region,
            cluster_id=cluster_id,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            ca_bundle=ca_bundle,
            reader_host=environ.get("DB_READER_HOST", "").strip() or None,
        )


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    reachable: bool
    writer: bool
    reason: Reason
    latency_ms: float
    detail: str = ""
    connection_reused: bool = False
    secret_refreshed: bool = False

    @property
    def healthy(self) -> bool:
        return self.reachable and self.writer

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form, returned by the handler and logged."""
        return {
            "healthy": self.healthy,
            "reachable": self.reachable,
            "writer": self.writer,
            "latency_ms": self.latency_ms,
            "reason": str(self.reason),
            "detail": self.detail,
            "connection_reused": self.connection_reused,
            "secret_refreshed": self.secret_refreshed,
        }


@dataclass
class WarmState:
    """What survives between warm invocations of one container."""

    credentials: DbCredentials | None = None
    connection: Any = None

    def drop_connection(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None and conn.open:
            # COM_QUIT is a courtesy; the socket is discarded either way.
            with contextlib.suppress(pymysql.err.Error, OSError):
                conn.close()


class ProbeFailed(Exception):
    """The probe query answered something other than the expected single row."""


def connect_within_budget(endpoint: Endpoint) -> Any:
    """Connect so that the handshake and login are bounded by ``connect_timeout``.

    pymysql applies ``connect_timeout`` to the TCP connect only and ``read_timeout`` to the
    handshake, so a listener that accepts and never answers would be bounded by the read
    timeout. MySQL's own client bounds the handshake by the connect timeout; do the same,
    then restore the query timeout. pymysql has no public setter for it (pinned 1.2.4);
    should the attribute disappear, queries stay bounded by the shorter timeout.
    """
    handshake_timeout = min(endpoint.connect_timeout, endpoint.read_timeout)
    conn = db_connect(replace(endpoint, read_timeout=handshake_timeout))
    if hasattr(conn, "_read_timeout"):
        conn._read_timeout = endpoint.read_timeout
    return conn


def endpoint_for(config: HealthConfig, credentials: DbCredentials, host: str | None = None) -> Endpoint:
    return Endpoint(
        host=host or config.db_host,
        port=config.db_port,
        user=credentials.username,
        password=credentials.password,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        write_timeout=config.read_timeout,
        ca_bundle=config.ca_bundle,
    )


def probe(conn: Any) -> bool:
    """Run the probe query; return True when the server is read-only."""
    with conn.cursor() as cursor:
        cursor.execute(PROBE_SQL)
        rows = cursor.fetchall()
    if len(rows) != 1 or len(rows[0]) != 3 or rows[0][0] != 1:
        raise ProbeFailed(f"unexpected probe answer {rows!r}")
    _, read_only, innodb_read_only = rows[0]
    return bool(int(read_only)) or bool(int(innodb_read_only))


def is_auth_failure(exc: BaseException) -> bool:
    """A refused or expired password: re-reading the secret may help."""
    chain = exception_chain(exc)
    return (
        any(isinstance(e, AuthenticationFailed) for e in chain) or mysql_errno(exc) in AUTHENTICATION_ERRORS
    )


def is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(e, TlsVerificationFailed) for e in exception_chain(exc))


def _connect_reason(exc: BaseException) -> Reason:
    if is_tls_failure(exc):
        return Reason.TLS_VERIFICATION_FAILED
    if is_timeout(exc):
        return Reason.TIMEOUT
    if is_auth_failure(exc):
        return Reason.AUTH_FAILED
    return Reason.CONNECT_FAILED


def _same_login(candidate: DbCredentials, tried: list[DbCredentials]) -> bool:
    return any((candidate.username, candidate.password) == (t.username, t.password) for t in tried)


def _open_connection(
    config: HealthConfig, state: WarmState, secrets_client: Any, connect: ConnectFactory, rereads: list[str]
) -> Any:
    """Connect with the cached credentials; on a refused login, re-read the secret.

    Stages re-read after a refused login are appended to ``rereads``. AWSCURRENT is
    re-read only when the refused credentials came from the warm cache (a read made a few
    milliseconds earlier would return the same value). AWSPENDING is tried last because
    during single-user rotation the database has the pending password before AWSCURRENT
    moves to it, and that window must not look like an outage.
    """
    from_cache = state.credentials is not None
    if state.credentials is None:
        state.credentials = fetch_credentials(secrets_client, config.secret_arn)
    tried = [state.credentials]
    try:
        return connect(endpoint_for(config, state.credentials))
    except DatabaseUnavailable as exc:
        if not is_auth_failure(exc):
            raise
        failure = exc

    if from_cache:
        rereads.append("AWSCURRENT")
        state.credentials = fetch_credentials(secrets_client, config.secret_arn)
        if not _same_login(state.credentials, tried):
            tried.append(state.credentials)
            try:
                return connect(endpoint_for(config, state.credentials))
            except DatabaseUnavailable as exc:
                if not is_auth_failure(exc):
                    raise
                failure = exc

    rereads.append("AWSPENDING")
    try:
        pending: DbCredentials | None = fetch_credentials(
            secrets_client, config.secret_arn, version_stage="AWSPENDING"
        )
    except SecretError:
        pending = None  # no rotation in progress
    if pending is None or _same_login(pending, tried):
        raise failure
    conn = connect(endpoint_for(config, pending))
    state.credentials = pending
    return conn


def reader_reachable(config: HealthConfig, state: WarmState, connect: ConnectFactory) -> tuple[bool, str]:
    """Probe the reader endpoint once with the cached credentials; never raises."""
    if not config.reader_host or state.credentials is None:
        return False, ""
    try:
        conn = connect(endpoint_for(config, state.credentials, host=config.reader_host))
    except DatabaseUnavailable as exc:
        return False, f"reader endpoint: {exc}"
    try:
        probe(conn)
        return True, "reader endpoint answered"
    except (pymysql.err.Error, OSError, ProbeFailed) as exc:
        return False, f"reader endpoint: {exc}"
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def check_health(
    config: HealthConfig,
    state: WarmState,
    *,
    secrets_client: Any,
    connect: ConnectFactory = connect_within_budget,
    clock: Callable[[], float] = time.perf_counter,
) -> CheckResult:
    """Probe the cluster (writer) endpoint; if it is unreachable, decide reachability from the
    reader endpoint. The writer verdict never comes from the reader endpoint."""
    result = _check_writer(config, state, secrets_client=secrets_client, connect=connect, clock=clock)
    # A server on the writer address that fails TLS verification still lets the reader endpoint
    # decide reachability: the reader is verified on its own, and a live secondary must not
    # look dead to the failover Lambda because its inactive writer endpoint misbehaves.
    if result.reachable or result.reason in (Reason.SECRET_UNAVAILABLE, Reason.AUTH_FAILED):
        return result
    reachable, detail = reader_reachable(config, state, connect)
    if not reachable:
        return result
    return replace(result, reachable=True, detail=f"{result.detail}; {detail}".strip("; "))


def _check_writer(
    config: HealthConfig,
    state: WarmState,
    *,
    secrets_client: Any,
    connect: ConnectFactory = connect_within_budget,
    clock: Callable[[], float] = time.perf_counter,
) -> CheckResult:
    """Probe the cluster endpoint, reusing the warm connection; never raises for a sick database."""
    started = clock()

    def result(
        reason: Reason,
        *,
        reachable: bool = False,
        detail: str = "",
        connection_reused: bool = False,
        secret_refreshed: bool = False,
    ) -> CheckResult:
        return CheckResult(
            reachable=reachable,
            writer=reachable and reason is Reason.OK,
            reason=reason,
            latency_ms=round((clock() - started) * 1000.0, 3),
            detail=detail,
            connection_reused=connection_reused,
            secret_refreshed=secret_refreshed,
        )

    def answered(
        read_only: bool, *, connection_reused: bool = False, secret_refreshed: bool = False
    ) -> CheckResult:
        return result(
            Reason.READ_ONLY if read_only else Reason.OK,
            reachable=True,
            connection_reused=connection_reused,
            secret_refreshed=secret_refreshed,
        )

    if state.connection is not None and not state.connection.open:
        state.drop_connection()
    if state.connection is not None:
        try:
            return answered(probe(state.connection), connection_reused=True)
        except (pymysql.err.Error, OSError, ProbeFailed) as exc:
            state.drop_connection()
            if is_timeout(exc):
                # Reconnecting would spend a second budget on a server that just stalled.
                return result(Reason.TIMEOUT, detail=str(exc), connection_reused=True)
            # Otherwise the server closed the session (restart, failover, idle kill): reconnect.

    rereads: list[str] = []
    try:
        state.connection = _open_connection(config, state, secrets_client, connect, rereads)
    except SecretError as exc:
        return result(Reason.SECRET_UNAVAILABLE, detail=str(exc), secret_refreshed=bool(rereads))
    except DatabaseUnavailable as exc:
        return result(_connect_reason(exc), detail=str(exc), secret_refreshed=bool(rereads))
    try:
        return answered(probe(state.connection), secret_refreshed=bool(rereads))
    except (pymysql.err.Error, OSError, ProbeFailed) as exc:
        state.drop_connection()
        if is_timeout(exc):
            reason = Reason.TIMEOUT
        elif mysql_errno(exc) in PASSWORD_EXPIRED_ERRORS:
            reason = Reason.AUTH_FAILED  # a sandboxed session (expired password), not a bad query
        else:
            reason = Reason.QUERY_FAILED
        return result(reason, detail=str(exc), secret_refreshed=bool(rereads))


def metric_data(config: HealthConfig, result: CheckResult, *, timestamp: datetime) -> list[dict[str, Any]]:
    """The PutMetricData ``MetricData`` for one check (see the module docstring)."""
    dimensions = [
        {"Name": DIMENSION_ENVIRONMENT, "Value": config.environment},
        {"Name": DIMENSION_REGION, "Value": config.region},
        {"Name": DIMENSION_CLUSTER, "Value": config.cluster_id},
    ]

    def datum(name: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": timestamp,
            "Value": value,
            "Unit": unit,
            "StorageResolution": STORAGE_RESOLUTION_SECONDS,
        }

    data = [
        datum(METRIC_WRITER_HEALTHY, 1.0 if result.healthy else 0.0, "None"),
        datum(METRIC_REACHABLE, 1.0 if result.reachable else 0.0, "None"),
    ]
    if result.reachable:
        data.append(datum(METRIC_LATENCY, result.latency_ms, "Milliseconds"))
    return data


def publish_metrics(
    cloudwatch: Any, config: HealthConfig, result: CheckResult, *, timestamp: datetime
) -> None:
    """PutMetricData for one check; botocore errors propagate to the caller."""
    cloudwatch.put_metric_data(
        Namespace=config.namespace, MetricData=metric_data(config, result, timestamp=timestamp)
    )
