"""Health-check Lambda against a real MariaDB server, with moto for Secrets Manager and CloudWatch."""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint
from lambda_src.common.errors import ConfigurationError
from lambda_src.health import handler as health_handler
from lambda_src.health.check import HealthConfig, connect_within_budget
from lambda_src.health.handler import Runtime
from tests.support.mariadb import MariaDBServer, SilentListener
from tests.support.tls import WRONG_HOST, PlainGreetingServer, TestPki

pytestmark = pytest.mark.mariadb

from tests.support.paths import EVENTS  # noqa: E402

REGION = "eu-west-1"
NAMESPACE = "AuroraGlobal/Health"
ENVIRONMENT = "dev"
CLUSTER_ID = "aurora-dev-eu-west-1"
# The secret is a replica of the primary region's: its host is another region's cluster.
FOREIGN_HOST = "aurora-dev.cluster-abc.us-east-1.rds.amazonaws.invalid"
EXPECTED_DIMENSIONS = [
    {"Name": "Environment", "Value": ENVIRONMENT},
    {"Name": "Region", "Value": REGION},
    {"Name": "ClusterIdentifier", "Value": CLUSTER_ID},
]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"health_{name}.json").read_text())


@dataclass
class FakeContext:
    function_name: str = "aurora-dev-health"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:aurora-dev-health"
    aws_request_id: str = "7f0a3b52-0000-4000-8000-000000000001"


def invoke() -> dict[str, Any]:
    return health_handler.handler(load_event("scheduled_event"), cast(LambdaContext, FakeContext()))


class Recorder:
    """Parameters of every call to one operation, as the client sent them."""

    def __init__(self, client: Any, operation: str) -> None:
        self.calls: list[dict[str, Any]] = []
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"provide-client-params.{service}.{operation}", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(copy.deepcopy(params))


@dataclass
class Aws:
    secrets: Any
    cloudwatch: Any
    puts: Recorder
    secret_reads: Recorder

    def create_secret(self, username: str, password: str) -> str:
        value = {
            "engine": "mysql",
            "username": username,
            "password": password,
            "host": FOREIGN_HOST,
            "port": 3306,
        }
        return str(
            self.secrets.create_secret(
                Name=f"aurora/dev/master-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(value)
            )["ARN"]
        )

    def put_secret(self, arn: str, username: str, password: str, stage: str = "AWSCURRENT") -> None:
        value = {
            "engine": "mysql",
            "username": username,
            "password": password,
            "host": FOREIGN_HOST,
            "port": 3306,
        }
        self.secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(value), VersionStages=[stage])

    def stored(self, metric: str) -> list[float]:
        """Values CloudWatch (moto) holds for the metric with our exact dimensions."""
        now = datetime.now(UTC)
        response = self.cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": EXPECTED_DIMENSIONS,
                        },
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=10),
        )
        return [float(v) for v in response["MetricDataResults"][0]["Values"]]

    def last_put(self) -> dict[str, dict[str, Any]]:
        assert self.puts.calls, "PutMetricData was never called"
        call = self.puts.calls[-1]
        assert call["Namespace"] == NAMESPACE
        return {datum["MetricName"]: datum for datum in call["MetricData"]}


@dataclass
class Login:
    user: str
    password: str


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        yield Aws(
            secrets=secrets,
            cloudwatch=cloudwatch,
            puts=Recorder(cloudwatch, "PutMetricData"),
            secret_reads=Recorder(secrets, "GetSecretValue"),
        )


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The handler's structured log lines, parsed."""
    buffer = io.StringIO()
    stream_handler: Any = health_handler.logger.registered_handler
    previous = stream_handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    stream_handler.setStream(previous)


def create_login(server: MariaDBServer) -> Login:
    """A least-privilege user, like the one the secret holds (no SUPER: read_only applies to it)."""
    login = Login(user=f"health_{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex)
    server.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (login.user, login.password))
    return login


@pytest.fixture
def db_login(mariadb: MariaDBServer) -> Iterator[Login]:
    login = create_login(mariadb)
    yield login
    mariadb.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (login.user,))


@pytest.fixture
def install_runtime(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, test_pki: TestPki
) -> Iterator[Callable[..., Runtime]]:
    """Make the handler use a Runtime wired to moto and the given database port."""
    installed: list[Runtime] = []
    monkeypatch.setattr(health_handler, "_runtime", None)

    def install(
        port: int, secret_arn: str, *, connect: Any = connect_within_budget, **overrides: Any
    ) -> Runtime:
        settings: dict[str, Any] = {
            "secret_arn": secret_arn,
            "db_host": "127.0.0.1",
            "db_port": port,
            "namespace": NAMESPACE,
            "environment": ENVIRONMENT,
            "region": REGION,
            "cluster_id": CLUSTER_ID,
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            "ca_bundle": str(test_pki.ca_file),
        }
        settings.update(overrides)
        rt = Runtime(
            config=HealthConfig(**settings),
            secrets_client=aws.secrets,
            cloudwatch_client=aws.cloudwatch,
            connect=connect,
        )
        monkeypatch.setattr(health_handler, "_runtime", rt)
        installed.append(rt)
        return rt

    yield install
    for rt in installed:
        rt.state.drop_connection()


def test_healthy_writer_publishes_standard_resolution_metrics_with_the_three_dimensions(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, mariadb: MariaDBServer, db_login: Login, logs: Any
) -> None:
    # GIVEN the function configured through its environment, as deployed
    arn = aws.create_secret(db_login.user, db_login.password)
    for name, value in {
        "SECRET_ARN": arn,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(mariadb.port),
        "METRIC_NAMESPACE": NAMESPACE,
        "ENVIRONMENT": ENVIRONMENT,
        "REGION_NAME": REGION,
        "CLUSTER_ID": CLUSTER_ID,
        "DB_CA_BUNDLE": mariadb.ca_bundle,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(health_handler, "_runtime", None)
    rt = health_handler.runtime()
    puts = Recorder(rt.cloudwatch_client, "PutMetricData")

    try:
        # WHEN it is invoked by the schedule
        result = invoke()
    finally:
        rt.state.drop_connection()

    # THEN it reports a healthy writer, connecting to DB_HOST (not the secret's host)
    assert result["healthy"] is True and result["reachable"] is True and result["writer"] is True
    assert result["reason"] == "ok" and result["metrics_published"] is True
    assert result["latency_ms"] > 0
    json.dumps(result)
    # AND every datapoint was sent at standard resolution with exactly our dimensions
    sent = puts.calls[-1]
    assert sent["Namespace"] == NAMESPACE
    by_name = {d["MetricName"]: d for d in sent["MetricData"]}
    assert set(by_name) == {"WriterHealthy", "Reachable", "CheckLatencyMs"}
    for datum in by_name.values():
        assert datum["StorageResolution"] == 60, datum
        assert datum["Dimensions"] == EXPECTED_DIMENSIONS, datum
    assert by_name["CheckLatencyMs"]["Unit"] == "Milliseconds"
    # AND CloudWatch stored them
    assert aws.stored("WriterHealthy") == [1.0]
    assert aws.stored("Reachable") == [1.0]
    assert aws.stored("CheckLatencyMs") == [pytest.approx(result["latency_ms"])]
    listed = aws.cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {m["MetricName"] for m in listed} == {"WriterHealthy", "Reachable", "CheckLatencyMs"}
    assert all(
        sorted(m["Dimensions"], key=lambda d: d["Name"])
        == sorted(EXPECTED_DIMENSIONS, key=lambda d: d["Name"])
        for m in listed
    )
    # AND one structured log line says so
    [line] = [entry for entry in logs() if entry["message"] == "writer healthy"]
    assert line["reason"] == "ok" and line["cluster_id"] == CLUSTER_ID and line["level"] == "INFO"


def test_warm_invocations_reuse_one_connection_and_read_the_secret_once(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN a container whose connections are counted
    opened: list[Any] = []

    def counting_connect(endpoint: Any) -> Any:
        conn = connect_within_budget(endpoint)
        opened.append(conn)
        return conn

    rt = install_runtime(
        mariadb.port, aws.create_secret(db_login.user, db_login.password), connect=counting_connect
    )

    # WHEN it is invoked three times
    results = [invoke() for _ in range(3)]

    # THEN all are healthy, one connection served them all and the secret was read once
    assert [r["healthy"] for r in results] == [True, True, True]
    assert [r["connection_reused"] for r in results] == [False, True, True]
    assert len(opened) == 1
    assert len(aws.secret_reads.calls) == 1
    # AND the server sees a single session of that user, the one we hold
    sessions = mariadb.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (db_login.user,)
    )
    assert sessions == [(rt.state.connection.thread_id(),)]


def test_read_only_server_is_reachable_but_not_a_healthy_writer(
    aws: Aws, fresh_mariadb: MariaDBServer, install_runtime: Any, logs: Any
) -> None:
    # GIVEN a server that refuses writes (as an Aurora reader or secondary cluster does)
    login = create_login(fresh_mariadb)
    install_runtime(fresh_mariadb.port, aws.create_secret(login.user, login.password))
    fresh_mariadb.execute("SET GLOBAL read_only = 1")

    # WHEN the check runs
    result = invoke()

    # THEN it is reachable, not a writer, with reason read_only
    assert (result["healthy"], result["reachable"], result["writer"]) == (False, True, False)
    assert result["reason"] == "read_only"
    sent = aws.last_put()
    assert sent["WriterHealthy"]["Value"] == 0.0 and sent["Reachable"]["Value"] == 1.0
    assert "CheckLatencyMs" in sent
    assert [e["reason"] for e in logs() if e["message"] == "writer unhealthy"] == ["read_only"]

    # WHEN the server accepts writes again, THEN the next (warm) check sees it
    fresh_mariadb.execute("SET GLOBAL read_only = 0")
    again = invoke()
    assert again["healthy"] is True and again["connection_reused"] is True


def test_stopped_server_reports_connect_failed_then_recovers_with_a_new_connection(
    aws: Aws, fresh_mariadb: MariaDBServer, install_runtime: Any, logs: Any
) -> None:
    # GIVEN a warm container holding a connection
    login = create_login(fresh_mariadb)
    rt = install_runtime(fresh_mariadb.port, aws.create_secret(login.user, login.password))
    assert invoke()["healthy"] is True

    # WHEN the server is stopped
    fresh_mariadb.stop()
    started = time.monotonic()
    down = invoke()
    elapsed = time.monotonic() - started

    # THEN the check reports connect_failed promptly, publishes 0s and no latency, and drops the connection
    assert (down["healthy"], down["reachable"], down["reason"]) == (False, False, "connect_failed")
    assert elapsed < rt.config.connect_timeout + 1.5
    sent = aws.last_put()
    assert sent["WriterHealthy"]["Value"] == 0.0 and sent["Reachable"]["Value"] == 0.0
    assert "CheckLatencyMs" not in sent
    assert rt.state.connection is None
    assert [e["reason"] for e in logs() if e["message"] == "writer unhealthy"] == ["connect_failed"]

    # WHEN the server is back, THEN the next check reconnects and is healthy
    fresh_mariadb.start()
    up = invoke()
    assert up["healthy"] is True and up["connection_reused"] is False


def test_wrong_password_reports_auth_failed_without_raising(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any, logs: Any
) -> None:
    # GIVEN a secret whose password the database does not accept, and no rotation in progress
    install_runtime(mariadb.port, aws.create_secret(db_login.user, "not-the-password"))

    # WHEN the check runs
    result = invoke()

    # THEN it reports auth_failed, looked for a pending rotation, and published unhealthy
    assert (result["healthy"], result["reachable"], result["reason"]) == (False, False, "auth_failed")
    assert "1045" in result["detail"]
    assert [c.get("VersionStage") for c in aws.secret_reads.calls] == ["AWSCURRENT", "AWSPENDING"]
    assert aws.stored("WriterHealthy") == [0.0]
    [line] = [e for e in logs() if e["message"] == "writer unhealthy"]
    assert line["reason"] == "auth_failed" and line["level"] == "WARNING"
    assert "not-the-password" not in json.dumps(logs())


def test_black_holed_endpoint_is_reported_within_the_connect_timeout(
    aws: Aws, install_runtime: Any, logs: Any
) -> None:
    # GIVEN an endpoint that accepts TCP and never answers, and a read timeout longer than the connect timeout
    listener = SilentListener()
    try:
        rt = install_runtime(
            listener.port, aws.create_secret("health", "pw"), connect_timeout=1.0, read_timeout=5.0
        )

        # WHEN the check runs
        started = time.monotonic()
        result = invoke()
        elapsed = time.monotonic() - started
    finally:
        listener.close()

    # THEN it reports a timeout bounded by the connect timeout (not the 5 s read timeout)
    assert (result["healthy"], result["reachable"], result["reason"]) == (False, False, "timeout")
    assert elapsed < rt.config.connect_timeout + 1.5
    assert aws.last_put()["WriterHealthy"]["Value"] == 0.0
    assert [e["reason"] for e in logs() if e["message"] == "writer unhealthy"] == ["timeout"]


def test_slow_server_is_reported_as_timeout_within_the_budget(
    aws: Aws, fresh_mariadb: MariaDBServer, install_runtime: Any
) -> None:
    # GIVEN a server that takes 5 s to set up every session of our user
    login = create_login(fresh_mariadb)
    rt = install_runtime(fresh_mariadb.port, aws.create_secret(login.user, login.password))
    fresh_mariadb.execute("SET GLOBAL init_connect = 'DO SLEEP(5)'")

    # WHEN the check runs
    started = time.monotonic()
    result = invoke()
    elapsed = time.monotonic() - started

    # THEN it gives up after its timeout and says why
    assert (result["healthy"], result["reason"]) == (False, "timeout")
    assert elapsed < rt.config.connect_timeout + 1.5
    assert rt.state.connection is None


def test_rotated_secret_is_picked_up_when_the_cached_login_is_refused(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN a warm container holding a connection and the old credentials
    arn = aws.create_secret(db_login.user, db_login.password)
    rt = install_runtime(mariadb.port, arn)
    assert invoke()["healthy"] is True
    old_session = rt.state.connection.thread_id()

    # WHEN the password is rotated (database and secret) and the warm connection is dropped by the server
    mariadb.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (db_login.user, "rotated-password"))
    aws.put_secret(arn, db_login.user, "rotated-password")
    mariadb.execute(f"KILL {int(old_session)}")
    result = invoke()

    # THEN the same invocation re-reads AWSCURRENT once, logs in and is healthy on a new session
    assert result["healthy"] is True
    assert result["secret_refreshed"] is True and result["connection_reused"] is False
    assert [c.get("VersionStage") for c in aws.secret_reads.calls] == ["AWSCURRENT", "AWSCURRENT"]
    assert rt.state.credentials.password == "rotated-password"
    assert rt.state.connection.thread_id() != old_session


def test_pending_password_is_accepted_during_single_user_rotation(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN rotation has set the new password in the database but AWSCURRENT still holds the old one
    arn = aws.create_secret(db_login.user, "old-password")
    aws.put_secret(arn, db_login.user, db_login.password, stage="AWSPENDING")
    install_runtime(mariadb.port, arn)

    # WHEN the check runs
    result = invoke()

    # THEN the pending credentials are tried and the writer is healthy
    assert result["healthy"] is True and result["secret_refreshed"] is True
    assert [c.get("VersionStage") for c in aws.secret_reads.calls] == ["AWSCURRENT", "AWSPENDING"]


def test_unreadable_secret_reports_secret_unavailable(
    aws: Aws, mariadb: MariaDBServer, install_runtime: Any
) -> None:
    # GIVEN a secret ARN that does not exist in this region
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:aurora/dev/absent-AbCdEf"
    install_runtime(mariadb.port, missing)

    # WHEN the check runs, THEN it reports secret_unavailable and publishes unhealthy
    result = invoke()
    assert (result["healthy"], result["reason"]) == (False, "secret_unavailable")
    assert "absent" in result["detail"]
    assert aws.stored("WriterHealthy") == [0.0]
    assert aws.stored("Reachable") == [0.0]


def test_put_metric_data_failure_is_logged_and_the_result_still_returned(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any, logs: Any
) -> None:
    # GIVEN CloudWatch rejects PutMetricData
    rt = install_runtime(mariadb.port, aws.create_secret(db_login.user, db_login.password))
    with Stubber(rt.cloudwatch_client) as stub:
        stub.add_client_error("put_metric_data", service_error_code="InternalFailure", http_status_code=500)

        # WHEN the check runs
        result = invoke()

        stub.assert_no_pending_responses()

    # THEN the health result is returned unchanged and the failure is logged
    assert result["healthy"] is True and result["reason"] == "ok"
    assert result["metrics_published"] is False
    [failure] = [e for e in logs() if e["message"] == "PutMetricData failed"]
    assert failure["reason"] == "metrics_publish_failed" and "InternalFailure" in failure["detail"]


def test_missing_configuration_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, logs: Any
) -> None:
    # GIVEN a deployment that forgot DB_HOST
    monkeypatch.setattr(health_handler, "_runtime", None)
    for name, value in {
        "SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
        "METRIC_NAMESPACE": NAMESPACE,
        "ENVIRONMENT": ENVIRONMENT,
        "CLUSTER_ID": CLUSTER_ID,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DB_HOST", raising=False)

    # WHEN invoked, THEN it returns configuration_error naming the variable, and logs it
    result = invoke()
    assert (result["healthy"], result["reason"]) == (False, "configuration_error")
    assert "DB_HOST is required" in result["detail"]
    assert [e["reason"] for e in logs() if e["message"] == "health check misconfigured"] == [
        "configuration_error"
    ]


def test_config_defaults_come_from_the_documented_environment() -> None:
    config = HealthConfig.from_env(
        {
            "SECRET_ARN": "arn:s",
            "DB_HOST": "w.cluster-x.eu-west-1.rds.amazonaws.com",
            "METRIC_NAMESPACE": NAMESPACE,
            "ENVIRONMENT": "prod",
            "CLUSTER_ID": "c1",
            "AWS_REGION": "eu-central-1",
        }
    )
    assert (config.db_port, config.connect_timeout, config.read_timeout) == (3306, 2.0, 2.0)
    assert config.ca_bundle == RDS_CA_BUNDLE
    assert config.region == "eu-central-1"


def test_config_rejects_bad_values_and_names_each_one() -> None:
    environ = {
        "SECRET_ARN": "arn:s",
        "DB_HOST": "h",
        "METRIC_NAMESPACE": NAMESPACE,
        "ENVIRONMENT": "prod",
        "CLUSTER_ID": "c1",
        "REGION_NAME": "eu-west-1",
        "DB_PORT": "33o6",
        "CONNECT_TIMEOUT_S": "0",
        "DB_TLS": "false",
    }
    with pytest.raises(ConfigurationError) as raised:
        HealthConfig.from_env(environ)
    message = str(raised.value)
    assert "DB_PORT must be an integer between 1 and 65535, got '33o6'" in message
    assert "CONNECT_TIMEOUT_S must be a number of seconds in (0, 30], got '0'" in message
    assert "DB_TLS='false' is not supported: every database connection uses TLS verified" in message


def test_budgeted_connection_keeps_the_longer_read_timeout_for_queries(
    mariadb: MariaDBServer, db_login: Login
) -> None:
    # GIVEN a connection whose handshake was bounded by a 0.5 s connect timeout, with a 3 s read timeout
    endpoint = Endpoint(
        host="127.0.0.1",
        port=mariadb.port,
        user=db_login.user,
        password=db_login.password,
        connect_timeout=0.5,
        read_timeout=3.0,
        ca_bundle=mariadb.ca_bundle,
    )
    conn = connect_within_budget(endpoint)

    # WHEN a query takes longer than the connect timeout, THEN it still answers
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT SLEEP(1)")
            assert cursor.fetchall() == ((0,),)
    finally:
        conn.close()


def test_secondary_without_a_writer_is_reachable_through_its_reader_endpoint(
    aws: Aws, db_login: Login, mariadb: MariaDBServer, install_runtime: Any
) -> None:
    # GIVEN a secondary whose cluster (writer) endpoint refuses connections (127.0.0.2: nothing
    # listens there) while its reader endpoint answers
    install_runtime(
        mariadb.port,
        aws.create_secret(db_login.user, db_login.password),
        db_host="127.0.0.2",
        reader_host="127.0.0.1",
    )

    # WHEN the check runs
    outcome = invoke()

    # THEN the region is reachable (the failover Lambda may promote it) but not a healthy writer,
    # so its Route 53 health check stays unhealthy until it is promoted
    assert (outcome["reachable"], outcome["writer"], outcome["healthy"]) == (True, False, False)
    assert outcome["reason"] == "connect_failed"
    assert "reader endpoint answered" in outcome["detail"]
    sent = aws.last_put()
    assert sent["Reachable"]["Value"] == 1.0 and sent["WriterHealthy"]["Value"] == 0.0


def test_reader_endpoint_does_not_make_a_dead_region_reachable(
    aws: Aws, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN both endpoints refuse connections
    install_runtime(
        1, aws.create_secret(db_login.user, db_login.password), db_host="127.0.0.2", reader_host="127.0.0.3"
    )

    # WHEN the check runs, THEN the region is unreachable
    outcome = invoke()
    assert (outcome["reachable"], outcome["healthy"]) == (False, False)
    assert aws.last_put()["Reachable"]["Value"] == 0.0


# --- TLS that authenticates the database (FC-P-6) and expired passwords -------------------


def test_deployed_configuration_trusts_only_the_amazon_rds_cas(
    monkeypatch: pytest.MonkeyPatch, aws: Aws, mariadb: MariaDBServer, db_login: Login, logs: Any
) -> None:
    # GIVEN the function configured as deployed (no DB_CA_BUNDLE) and a server whose certificate
    # is from a CA outside the Amazon RDS bundle, as an impostor's would be
    arn = aws.create_secret(db_login.user, db_login.password)
    for name, value in {
        "SECRET_ARN": arn,
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(mariadb.port),
        "METRIC_NAMESPACE": NAMESPACE,
        "ENVIRONMENT": ENVIRONMENT,
        "REGION_NAME": REGION,
        "CLUSTER_ID": CLUSTER_ID,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DB_CA_BUNDLE", raising=False)
    monkeypatch.setattr(health_handler, "_runtime", None)
    rt = health_handler.runtime()
    assert rt.config.ca_bundle == RDS_CA_BUNDLE

    # WHEN it is invoked
    result = invoke()

    # THEN it is unhealthy for its own reason, logged and published, and the session never
    # reached the login (no session of the user exists)
    assert (result["healthy"], result["reachable"]) == (False, False)
    assert result["reason"] == "tls_verification_failed"
    assert "rds-ca-bundle.pem" in result["detail"] and "no credentials were sent" in result["detail"]
    assert aws.stored("WriterHealthy") == [0.0]
    [line] = [e for e in logs() if e["message"] == "writer unhealthy"]
    assert line["reason"] == "tls_verification_failed" and line["level"] == "WARNING"
    assert rt.state.connection is None


def test_a_server_certified_by_an_unknown_ca_is_unhealthy_and_the_reader_is_verified_too(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any, test_pki: TestPki
) -> None:
    # GIVEN the function trusts a CA that did not sign the server's certificate, and a reader endpoint
    install_runtime(
        mariadb.port,
        aws.create_secret(db_login.user, db_login.password),
        ca_bundle=str(test_pki.unknown_ca_file),
        reader_host="127.0.0.1",
    )

    # WHEN the check runs
    result = invoke()

    # THEN it reports the failed verification without re-reading the secret (a password would
    # not help), and the reader endpoint, verified the same way, does not make it reachable
    assert (result["healthy"], result["reachable"], result["reason"]) == (
        False,
        False,
        "tls_verification_failed",
    )
    assert "unknown-ca.pem" in result["detail"]
    assert [c.get("VersionStage") for c in aws.secret_reads.calls] == ["AWSCURRENT"]
    assert aws.stored("Reachable") == [0.0]


def test_a_certificate_for_another_host_name_is_unhealthy(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any, logs: Any
) -> None:
    # GIVEN the endpoint is named by a name the trusted certificate does not carry
    install_runtime(mariadb.port, aws.create_secret(db_login.user, db_login.password), db_host=WRONG_HOST)

    # WHEN the check runs THEN the host name check fails it, with its own reason
    result = invoke()
    assert (result["healthy"], result["reason"]) == (False, "tls_verification_failed")
    assert f"Hostname mismatch, certificate is not valid for '{WRONG_HOST}'" in result["detail"]
    assert [e["reason"] for e in logs() if e["message"] == "writer unhealthy"] == ["tls_verification_failed"]


def test_a_verified_reader_still_decides_reachability_when_the_writer_address_fails_verification(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN the writer endpoint's name is not on the certificate while the reader endpoint's is
    install_runtime(
        mariadb.port,
        aws.create_secret(db_login.user, db_login.password),
        db_host=WRONG_HOST,
        reader_host="127.0.0.1",
    )

    # WHEN the check runs THEN the region is reachable through its verified reader endpoint,
    # but never a healthy writer, and the reason names the failed verification
    result = invoke()
    assert (result["reachable"], result["writer"], result["healthy"]) == (True, False, False)
    assert result["reason"] == "tls_verification_failed"
    assert "reader endpoint answered" in result["detail"]


def test_trusted_ca_and_right_host_name_give_a_tls_session(
    aws: Aws, mariadb: MariaDBServer, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN the test CA and the address the certificate names
    rt = install_runtime(mariadb.port, aws.create_secret(db_login.user, db_login.password))

    # WHEN the check runs THEN it is healthy over TLS
    assert invoke()["healthy"] is True
    with rt.state.connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        [(_, version)] = cursor.fetchall()
    assert version in ("TLSv1.2", "TLSv1.3")


def test_a_server_without_tls_is_unhealthy_and_receives_no_login(
    aws: Aws, db_login: Login, install_runtime: Any
) -> None:
    # GIVEN the endpoint answers like a MySQL server that offers no TLS
    impostor = PlainGreetingServer()
    try:
        install_runtime(impostor.port, aws.create_secret(db_login.user, db_login.password))

        # WHEN the check runs
        result = invoke()
    finally:
        impostor.close()

    # THEN it is unhealthy with the TLS reason and the impostor received nothing at all
    assert (result["healthy"], result["reason"]) == (False, "tls_verification_failed")
    assert "offers no TLS" in result["detail"]
    assert impostor.connections == 1 and impostor.received == []


@pytest.mark.parametrize("disconnect", ["ON", "OFF"], ids=["refused-at-login", "sandboxed-session"])
def test_an_expired_password_is_an_auth_failure_and_the_secret_is_reread(
    aws: Aws, fresh_mariadb: MariaDBServer, install_runtime: Any, logs: Any, disconnect: str
) -> None:
    # GIVEN a warm container, and the server refusing (ON: MySQL 8 and Aurora's default) or
    # sandboxing (OFF: MariaDB's default) logins with an expired password
    login = create_login(fresh_mariadb)
    arn = aws.create_secret(login.user, login.password)
    rt = install_runtime(fresh_mariadb.port, arn)
    assert invoke()["healthy"] is True
    fresh_mariadb.execute(f"SET GLOBAL disconnect_on_expired_password = {disconnect}")

    # WHEN the password expires and the server drops the warm session
    fresh_mariadb.execute("ALTER USER %s@'127.0.0.1' PASSWORD EXPIRE", (login.user,))
    fresh_mariadb.execute(f"KILL {int(rt.state.connection.thread_id())}")
    result = invoke()

    # THEN it is an authentication failure (not a query failure): AWSCURRENT and AWSPENDING
    # were re-read in case rotation had moved on
    assert (result["healthy"], result["reason"]) == (False, "auth_failed")
    assert "has expired" in result["detail"] and result["secret_refreshed"] is True
    assert [c.get("VersionStage") for c in aws.secret_reads.calls] == [
        "AWSCURRENT",
        "AWSCURRENT",
        "AWSPENDING",
    ]
    assert [e["reason"] for e in logs() if e["message"] == "writer unhealthy"] == ["auth_failed"]

    # WHEN the secret then holds a new password the server accepts, THEN the next check is healthy
    fresh_mariadb.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY 'renewed-password'", (login.user,))
    aws.put_secret(arn, login.user, "renewed-password")
    assert invoke()["healthy"] is True
