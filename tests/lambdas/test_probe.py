"""The write probe: heartbeat SQL and the probe user's grants on a real MariaDB, the
classification of every failure, and publication in the probe's own region (moto)."""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pymysql
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambda_src.common import heartbeat
from lambda_src.common.errors import ConfigurationError, DatabaseUnavailable
from lambda_src.common.probe_record import Verdict
from lambda_src.failover.store import DynamoRegionStore
from lambda_src.probe import handler as probe_handler
from lambda_src.probe.probe import classify_write_error, run_attempt
from tests.support.failover import (
    FIRST,
    GLOBAL_ID,
    HOME,
    TABLE,
    create_failover_table,
    describe_global_clusters,
)
from tests.support.mariadb import MariaDBServer, free_port

pytestmark = pytest.mark.mariadb


@dataclass
class Login:
    user: str
    password: str


class Secrets:
    def __init__(self, login: Login | None) -> None:
        self.login = login

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        if self.login is None:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "GetSecretValue"
            )
        return {"SecretString": json.dumps({"username": self.login.user, "password": self.login.password})}


class Rds:
    def __init__(self, writer: str = HOME) -> None:
        self.writer = writer

    def describe_global_clusters(self, **_: Any) -> dict[str, Any]:
        return describe_global_clusters(self.writer)


@pytest.fixture(scope="module")
def probe_login(mariadb: MariaDBServer) -> Iterator[Login]:
    """The heartbeat schema as bootstrap creates it, and a probe user with exactly its grants."""
    for statement in heartbeat.schema_statements():
        mariadb.execute(statement)
    login = Login(user=f"probe_{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex)
    mariadb.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (login.user, login.password))
    for statement, args in heartbeat.grant_statements(login.user, "127.0.0.1"):
        mariadb.execute(statement, args)
    mariadb.execute("CREATE DATABASE IF NOT EXISTS app")
    mariadb.execute("CREATE TABLE IF NOT EXISTS app.orders (id INT PRIMARY KEY)")
    yield login
    mariadb.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (login.user,))


def settings(
    mariadb: MariaDBServer, *, writer_port: int | None = None, reader_port: int | None = None
) -> probe_handler.ProbeSettings:
    return probe_handler.ProbeSettings(
        region=FIRST,
        environment="prod",
        global_cluster_id=GLOBAL_ID,
        endpoints={HOME: "127.0.0.1", FIRST: "127.0.0.1"},
        local_reader_host="127.0.0.1",
        secret_arn="probe-secret",
        table=TABLE,
        port=mariadb.port,
        ca_bundle=mariadb.ca_bundle,
        connect_timeout=1.0,
        read_timeout=1.0,
    )


class PortDeps(probe_handler.RealDeps):
    """RealDeps with the writer and the local reader on ports of the test's choosing."""

    writer_port: int = 0
    reader_port: int = 0

    def write_heartbeat(self, writer_region: str, credentials: Any) -> None:
        self.settings = _with_port(self.settings, self.writer_port)
        super().write_heartbeat(writer_region, credentials)

    def read_local(self, credentials: Any) -> float | None:
        self.settings = _with_port(self.settings, self.reader_port)
        return super().read_local(credentials)


def _with_port(s: probe_handler.ProbeSettings, port: int) -> probe_handler.ProbeSettings:
    return replace(s, port=port)


def deps(
    mariadb: MariaDBServer,
    login: Login | None,
    *,
    writer_port: int | None = None,
    reader_port: int | None = None,
) -> PortDeps:
    d = PortDeps(settings=settings(mariadb), secrets=Secrets(login), rds=Rds())
    d.writer_port = writer_port or mariadb.port
    d.reader_port = reader_port or mariadb.port
    return d


def test_the_probe_user_writes_its_heartbeat_and_reads_the_newest_replicated_row(mariadb, probe_login):
    before = time.time()
    attempt, _ = run_attempt(deps(mariadb, probe_login), region=FIRST, at=before)

    assert (attempt.verdict, attempt.reason, attempt.writer_region, attempt.local_ok) == (
        Verdict.ALIVE,
        "committed",
        HOME,
        True,
    )
    assert attempt.replica_newest is not None and abs(attempt.replica_newest - before) < 5
    [(seq,)] = mariadb.execute("SELECT seq FROM aurora_health.heartbeat WHERE region = %s", (FIRST,))
    run_attempt(deps(mariadb, probe_login), region=FIRST, at=time.time())
    assert mariadb.execute("SELECT seq FROM aurora_health.heartbeat WHERE region = %s", (FIRST,)) == [
        (seq + 1,)
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO app.orders VALUES (1)",
        "DELETE FROM aurora_health.heartbeat",
        "CREATE TABLE aurora_health.other (id INT)",
        "DROP TABLE aurora_health.heartbeat",
    ],
)
def test_the_probe_user_can_write_nothing_but_heartbeat_rows(mariadb, probe_login, statement):
    conn = mariadb.connect(user=probe_login.user, password=probe_login.password, autocommit=True)
    try:
        with pytest.raises(pymysql.err.OperationalError) as raised, conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()

    assert raised.value.args[0] in (1142, 1044)


def test_a_refused_writer_with_a_working_local_replica_is_dead(mariadb, probe_login):
    attempt, detail = run_attempt(
        deps(mariadb, probe_login, writer_port=free_port()), region=FIRST, at=time.time()
    )

    assert (attempt.verdict, attempt.reason, attempt.local_ok) == (Verdict.DEAD, "connect_failed", True)
    assert "Can't connect" in detail


def test_a_refused_writer_while_the_own_replica_fails_too_is_inconclusive(mariadb, probe_login):
    closed = free_port()

    attempt, _ = run_attempt(
        deps(mariadb, probe_login, writer_port=closed, reader_port=closed), region=FIRST, at=time.time()
    )

    assert (attempt.verdict, attempt.reason) == (Verdict.INCONCLUSIVE, "own_side_impaired:connect_failed")


def test_a_refused_login_is_inconclusive_never_dead(mariadb, probe_login):
    wrong = Login(user=probe_login.user, password="not-the-password")

    attempt, _ = run_attempt(deps(mariadb, wrong), region=FIRST, at=time.time())

    assert (attempt.verdict, attempt.reason) == (Verdict.INCONCLUSIVE, "auth_failed")


def test_an_unreadable_secret_is_inconclusive(mariadb):
    attempt, _ = run_attempt(deps(mariadb, None), region=FIRST, at=time.time())

    assert (attempt.verdict, attempt.reason) == (Verdict.INCONCLUSIVE, "secret_unavailable")


def test_a_read_only_server_is_no_longer_the_writer(mariadb, probe_login):
    mariadb.execute("SET GLOBAL read_only = 1")
    try:
        attempt, _ = run_attempt(deps(mariadb, probe_login), region=FIRST, at=time.time())
    finally:
        mariadb.execute("SET GLOBAL read_only = 0")

    assert (attempt.verdict, attempt.reason) == (Verdict.DEAD, "not_writer")


def test_a_black_holed_writer_is_dead_within_the_connect_timeout(mariadb, probe_login):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # accepts the TCP connect, never answers the handshake
    try:
        started = time.monotonic()
        attempt, _ = run_attempt(
            deps(mariadb, probe_login, writer_port=listener.getsockname()[1]), region=FIRST, at=time.time()
        )
        elapsed = time.monotonic() - started
    finally:
        listener.close()

    assert (attempt.verdict, attempt.reason) == (Verdict.DEAD, "timeout")
    assert elapsed < 10


def _wrapped(inner: BaseException) -> BaseException:
    outer = DatabaseUnavailable("cannot connect")
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ssl.SSLCertVerificationError("certificate verify failed"), (Verdict.INCONCLUSIVE, "tls_failed")),
        (socket.gaierror(-2, "Name or service not known"), (Verdict.INCONCLUSIVE, "name_resolution_failed")),
        (pymysql.err.OperationalError(1045, "Access denied"), (Verdict.INCONCLUSIVE, "auth_failed")),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), (Verdict.INCONCLUSIVE, "schema_missing")),
        (pymysql.err.OperationalError(1290, "--read-only"), (Verdict.DEAD, "not_writer")),
        (pymysql.err.OperationalError(2013, "Lost connection"), (Verdict.DEAD, "connect_failed")),
        (TimeoutError("timed out"), (Verdict.DEAD, "timeout")),
        (ValueError("something odd"), (Verdict.INCONCLUSIVE, "unexpected_error")),
    ],
)
def test_classification_of_write_failures(error, expected):
    assert classify_write_error(_wrapped(error)) == expected


def test_probe_settings_name_the_variable_and_require_this_regions_endpoint():
    env = {
        "AWS_REGION": FIRST,
        "ENVIRONMENT": "prod",
        "GLOBAL_CLUSTER_ID": GLOBAL_ID,
        "CLUSTER_ENDPOINTS": json.dumps({HOME: "writer.home"}),
        "LOCAL_READER_HOST": "reader.first",
        "PROBE_SECRET_ARN": "arn",
        "FAILOVER_TABLE": TABLE,
    }

    with pytest.raises(
        ConfigurationError,
        match=r"^CLUSTER_ENDPOINTS must be an object that includes this region \(us-west-2\)",
    ):
        probe_handler.load_settings(env)


def test_each_attempt_is_published_in_the_probes_own_table_where_the_decider_reads_it(
    mariadb, probe_login, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=FIRST)
        create_failover_table(client)
        now = {"t": 1_700_000_000.0}
        rt = probe_handler.ProbeRuntime(
            settings=settings(mariadb),
            deps=deps(mariadb, probe_login),
            dynamodb=client,
            clock=lambda: now["t"],
            sleep=lambda seconds: now.update(t=now["t"] + seconds),
        )

        result = probe_handler.run(rt, budget_seconds=30)

        store = DynamoRegionStore(client=client, table=TABLE, global_cluster_id=GLOBAL_ID, region=FIRST)
        published = store.recent_attempts(FIRST, since=1_699_999_000)
    # Attempts start while a whole interval of the 30 s budget is left: at 0, 10, 20 and 30 s.
    assert result["attempts"] == 4
    assert [a.verdict for a in published] == [Verdict.ALIVE] * 4
    assert [a.at for a in published] == [1_700_000_000.0 + 10 * i for i in range(4)]
