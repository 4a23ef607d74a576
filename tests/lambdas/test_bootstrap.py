"""Bootstrap: database, least-privilege users and bookkeeping, idempotent, on a real MariaDB,
on the writer wherever it is.

Secrets come from moto; the database is the session's shared MariaDB server, so every
test uses its own database and user names and removes them afterwards. The SQL tests call
the bootstrap worker's ``run`` with the request the bootstrap function builds from the
secrets; the delegation tests run the bootstrap function, which finds the writer (moto's
RDS, or a stubbed DescribeGlobalClusters) and invokes the worker of the writer's region
through an in-process Lambda API (tests/support/lambda_fake.py): only that region's worker
reaches the MariaDB server.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pymysql
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.bootstrap import handler as bootstrap_handler
from lambda_src.bootstrap_worker import handler as worker_handler
from lambda_src.bootstrap_worker.bootstrap import BootstrapError
from lambda_src.common.aws import ClientCache
from lambda_src.common.bootstrap_sql import BootstrapProtocolError, BootstrapRequest, InvalidBootstrapRequest
from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    PasswordExpired,
    TlsVerificationFailed,
)
from lambda_src.common.worker import OwnCluster, own_cluster_from_env
from lambda_src.common.writer import (
    Delegation,
    SqlWorkerFailed,
    SqlWorkerUnreachable,
    WriterMoved,
    WriterUnavailable,
)
from tests.support.global_cluster import create_global_cluster, failing_over
from tests.support.lambda_fake import InProcessLambda
from tests.support.mariadb import ROOT_PASSWORD, MariaDBServer, free_port
from tests.support.tls import WRONG_HOST, PlainGreetingServer

pytestmark = pytest.mark.mariadb

from tests.support.paths import EVENTS  # noqa: E402

ROLES = ("app", "readonly", "migrator")
REGION = "us-east-1"
"""The home region: the secrets and the bootstrap function live here."""
WRITER_REGION = "us-west-2"
"""Where the writer is after a failover (the delegation tests)."""
ACCOUNT = "123456789012"
GLOBAL_ID = "boot-aurora-global"
CLUSTERS = "boot-aurora"
"""Prefix of the global cluster's members (``boot-aurora-<region>``)."""
WORKERS = {
    region: f"arn:aws:lambda:{region}:{ACCOUNT}:function:boot-aurora-{code}-bootstrap-worker"
    for region, code in ((REGION, "use1"), (WRITER_REGION, "usw2"))
}
EXPECTED_PRIVILEGES = {
    "app": {"SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE"},
    "readonly": {"SELECT"},
    "migrator": {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "ALTER",
        "DROP",
        "INDEX",
        "REFERENCES",
        "CREATE VIEW",
        "SHOW VIEW",
        "TRIGGER",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EXECUTE",
    },
}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


@dataclass
class FakeContext:
    function_name: str = "aurora-dev-bootstrap"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111111111111:function:aurora-dev-bootstrap"
    aws_request_id: str = "req-boot-1"


@dataclass
class Deployment:
    """One deploy's view: the master secret, one secret per user, the Invocation's input."""

    server: MariaDBServer
    secrets: Any
    database: str
    usernames: dict[str, str]
    secret_arns: dict[str, str]
    master_arn: str

    def event(self) -> dict[str, Any]:
        event = load_event("bootstrap_deploy")
        event["database"] = self.database
        event["users"] = dict(self.secret_arns)
        return event

    def settings(self) -> bootstrap_handler.Settings:
        """A regional environment's bootstrap function (its writer is the home cluster)."""
        return bootstrap_handler.Settings(
            master_secret_arn=self.master_arn,
            delegation=Delegation(home_region=REGION, global_cluster_id=None, workers=WORKERS),
        )

    def target(self, port: int | None = None) -> OwnCluster:
        """The worker's own cluster: this test's server, its certificate checked against the test CA."""
        return OwnCluster(
            host=self.server.host,
            port=port or self.server.port,
            ca_bundle=self.server.ca_bundle,
            region=REGION,
        )

    def run(self, target: OwnCluster | None = None, **kwargs: Any) -> dict[str, Any]:
        """The worker's run with the request the bootstrap function makes of the secrets."""
        request = bootstrap_handler.Request.parse(self.event())
        payload = bootstrap_handler.worker_request(request, self.settings(), secrets=self.secrets)
        return worker_handler.run(target or self.target(), payload, **kwargs)

    def run_function(self, *, global_cluster: bool = True) -> dict[str, Any]:
        """The bootstrap function as deployed: secrets here, the SQL on the writer region's worker."""
        settings = bootstrap_handler.Settings(
            master_secret_arn=self.master_arn,
            delegation=Delegation(
                home_region=REGION, global_cluster_id=GLOBAL_ID if global_cluster else None, workers=WORKERS
            ),
        )
        request = bootstrap_handler.Request.parse(self.event())
        return bootstrap_handler.run(
            request, settings, secrets=self.secrets, workers=bootstrap_handler.get_workers(settings)
        )

    def password(self, role: str) -> str:
        secret = self.secrets.get_secret_value(SecretId=self.secret_arns[role])
        return json.loads(secret["SecretString"])["password"]

    def login(self, role: str, password: str | None = None, **kwargs: Any) -> pymysql.Connection:
        return self.server.connect(
            user=self.usernames[role], password=password or self.password(role), autocommit=True, **kwargs
        )

    def grants(self, role: str) -> set[tuple[frozenset[str], str]]:
        """SHOW GRANTS as (privileges, object) pairs; the password hash is left out."""
        rows = self.server.execute("SHOW GRANTS FOR %s@'%%'", (self.usernames[role],))
        parsed = set()
        for (line,) in rows:
            match = re.match(r"GRANT (.+) ON (\S+) TO ", line)
            assert match, line
            parsed.add((frozenset(p.strip() for p in match[1].split(",")), match[2]))
        return parsed


@pytest.fixture
def deployment(mariadb: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:8]
    # An underscore in the name proves the grant is not a wildcard pattern.
    database = f"app_{suffix}"
    usernames = {role: f"{role[:4]}_{suffix}" for role in ROLES}
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        master = secrets.create_secret(
            Name=f"master-{suffix}", SecretString=json.dumps({"username": "root", "password": ROOT_PASSWORD})
        )
        arns = {
            role: secrets.create_secret(
                Name=f"aurora-dev-db-{role}-{suffix}",
                SecretString=json.dumps(
                    {"username": usernames[role], "password": f"{role}-{uuid.uuid4().hex}"}
                ),
            )["ARN"]
            for role in ROLES
        }
        yield Deployment(mariadb, secrets, database, usernames, arns, master["ARN"])
    mariadb.execute(f"DROP DATABASE IF EXISTS `{database}`")
    mariadb.execute(f"DROP DATABASE IF EXISTS `appX{suffix}`")
    for username in usernames.values():
        mariadb.execute("DROP USER IF EXISTS %s@'%%'", (username,))


@pytest.fixture
def lambdas(monkeypatch: pytest.MonkeyPatch) -> InProcessLambda:
    """The Lambda API of every region (no worker until `register_worker`), and RDS of the home region."""
    fake = InProcessLambda()
    monkeypatch.setattr(bootstrap_handler, "get_lambda_client", fake.client)
    monkeypatch.setattr(bootstrap_handler, "get_rds_client", lambda: boto3.client("rds", region_name=REGION))
    return fake


def register_worker(lambdas: InProcessLambda, region: str, server: MariaDBServer | None) -> None:
    """The region's bootstrap worker, connecting to ``server`` (its own cluster) or, for None, to
    an endpoint that does not resolve; TLS verified against the test CA."""
    environment = {
        "DB_HOST": server.host if server else f"cluster.{region}.unreachable.invalid",
        "DB_PORT": str(server.port if server else 3306),
        "REGION_NAME": region,
    }
    if server is not None:
        environment["DB_CA_BUNDLE"] = server.ca_bundle
    lambdas.register(
        WORKERS[region],
        worker_handler.handler,
        environment=environment,
        reset=worker_handler.get_target.cache_clear,
        context=FakeContext(
            function_name=WORKERS[region].rsplit(":", 1)[-1], invoked_function_arn=WORKERS[region]
        ),
    )


def stub_global_cluster(monkeypatch: pytest.MonkeyPatch, cluster: dict[str, Any]) -> Stubber:
    """Replace moto's RDS with botocore's Stubber answering DescribeGlobalClusters once."""
    client = boto3.client("rds", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_global_clusters", {"GlobalClusters": [cluster]}, {"GlobalClusterIdentifier": GLOBAL_ID}
    )
    stubber.activate()
    monkeypatch.setattr(bootstrap_handler, "get_rds_client", lambda: client)
    return stubber


def invoked(lambdas: InProcessLambda) -> list[tuple[str, str, str | None]]:
    return [(i.region, i.function_arn, i.error_type) for i in lambdas.invocations]


def test_bootstrap_creates_the_database_bookkeeping_table_and_users(deployment):
    result = deployment.run()

    assert result["database"] == deployment.database and result["database_created"] is True
    assert result["bookkeeping_table_created"] is True
    assert result["version"] == "2024-06-01.1"
    assert {(u["role"], u["username"], u["created"]) for u in result["users"]} == {
        (role, deployment.usernames[role], True) for role in ROLES
    }
    columns = deployment.server.execute(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = "
        "'schema_migrations' ORDER BY ORDINAL_POSITION",
        (deployment.database,),
    )
    assert [c[0] for c in columns][:5] == ["version", "description", "filename", "sha256", "status"]
    for role in ROLES:
        with deployment.login(role, database=deployment.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM schema_migrations")
            assert cur.fetchone() == (0,)
    assert not any(deployment.password(role) in json.dumps(result) for role in ROLES)


def test_a_second_run_changes_nothing_and_leaves_identical_grants(deployment):
    deployment.run()
    before = {role: deployment.grants(role) for role in ROLES}

    again = deployment.run()

    assert again["database_created"] is False and again["bookkeeping_table_created"] is False
    assert [(u["created"], u["grants_changed"]) for u in again["users"]] == [(False, False)] * 3
    assert {role: deployment.grants(role) for role in ROLES} == before


def test_each_user_holds_exactly_its_role_privileges_on_the_app_database_only(deployment):
    deployment.run()
    escaped = f"`{deployment.database.replace('_', chr(92) + '_')}`.*"
    for role in ROLES:
        assert deployment.grants(role) == {
            (frozenset({"USAGE"}), "*.*"),
            (frozenset(EXPECTED_PRIVILEGES[role]), escaped),
        }, role


def test_privileges_work_as_intended_and_do_not_reach_a_look_alike_database(deployment):
    deployment.run()
    db = deployment.database
    look_alike = db.replace("_", "X", 1)  # matched by app_... if '_' were left a wildcard
    deployment.server.execute(f"CREATE DATABASE `{look_alike}`")
    deployment.server.execute(f"CREATE TABLE `{look_alike}`.t (id INT)")

    with deployment.login("migrator", database=db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("CREATE VIEW item_names AS SELECT name FROM items")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute(f"CREATE TABLE `{look_alike}`.x (id INT)")
    with deployment.login("app", database=db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items VALUES (1, 'one')")
        cur.execute("UPDATE items SET name = 'uno' WHERE id = 1")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute("CREATE TABLE app_made (id INT)")
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute(f"SELECT * FROM `{look_alike}`.t")  # noqa: S608 - test-made name
    with deployment.login("readonly", database=db) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM item_names")
        assert cur.fetchall() == (("uno",),)
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute("DELETE FROM items")


def test_a_rotated_secret_sets_the_new_password_on_the_existing_user(deployment):
    deployment.run()
    old = deployment.password("app")
    deployment.secrets.put_secret_value(
        SecretId=deployment.secret_arns["app"],
        SecretString=json.dumps({"username": deployment.usernames["app"], "password": "rotated-" + old}),
    )

    result = deployment.run()

    assert next(u for u in result["users"] if u["role"] == "app")["created"] is False
    with deployment.login("app") as conn:
        assert conn.open
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        deployment.login("app", password=old)


def test_privileges_granted_by_hand_are_taken_away(deployment):
    deployment.run()
    expected = deployment.grants("readonly")
    user = deployment.usernames["readonly"]
    deployment.server.execute("GRANT PROCESS ON *.* TO %s@'%%'", (user,))
    deployment.server.execute(
        f"GRANT INSERT ON `{deployment.database}`.schema_migrations TO %s@'%%'", (user,)
    )
    deployment.server.execute(
        f"GRANT DELETE ON `{deployment.database.replace('_', chr(92) + '_')}`.* TO %s@'%%'", (user,)
    )
    assert deployment.grants("readonly") != expected

    result = deployment.run()

    assert next(u for u in result["users"] if u["role"] == "readonly")["grants_changed"] is True
    assert deployment.grants("readonly") == expected


def test_a_database_error_fails_the_invocation_with_the_databases_message(deployment):
    # GIVEN a master secret for an account that may create databases but not users
    limited = f"lim_{uuid.uuid4().hex[:8]}"
    deployment.server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'limited-pw'", (limited,))
    try:
        deployment.server.execute("GRANT CREATE, SELECT ON *.* TO %s@'%%'", (limited,))
        deployment.secrets.put_secret_value(
            SecretId=deployment.master_arn,
            SecretString=json.dumps({"username": limited, "password": "limited-pw"}),
        )
        with pytest.raises(BootstrapError) as failed:
            deployment.run()
    finally:
        deployment.server.execute("DROP USER %s@'%%'", (limited,))

    message = str(failed.value)
    assert message.startswith(
        f"bootstrap step 'create {deployment.usernames['app']}' failed: MySQL error 1227"
    )
    assert "CREATE USER" in message
    assert not any(deployment.password(role) in message for role in ROLES)


def test_an_unreachable_database_is_retried_with_backoff_then_reported(deployment):
    slept: list[float] = []
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match=f"cannot connect to 127.0.0.1:{(port := free_port())}"):
        deployment.run(deployment.target(port=port), sleep=slept.append)
    assert slept == [1.0, 2.0, 4.0]
    assert time.monotonic() - started < 5  # refused connections: no hang


def test_a_refused_login_is_not_retried(deployment):
    deployment.secrets.put_secret_value(
        SecretId=deployment.master_arn, SecretString=json.dumps({"username": "root", "password": "wrong"})
    )
    slept: list[float] = []
    with pytest.raises(DatabaseUnavailable, match="Access denied"):
        deployment.run(sleep=slept.append)
    assert slept == []


def test_an_event_without_every_role_is_refused_naming_the_roles_before_reading_secrets():
    with pytest.raises(
        InvalidBootstrapRequest,
        match="'users' must name exactly the roles app, migrator, readonly; got app, readonly",
    ):
        bootstrap_handler.Request.parse(load_event("bootstrap_missing_role"))


@pytest.mark.parametrize("database", ["mysql", "app-db", "x" * 65, ""])
def test_a_bad_database_name_is_refused_before_any_worker_is_invoked(deployment, lambdas, database):
    register_worker(lambdas, REGION, deployment.server)
    event = {**deployment.event(), "database": database}
    request = bootstrap_handler.Request.parse(event)
    with pytest.raises(InvalidBootstrapRequest, match="'database' must be 1-64 letters, digits or _"):
        bootstrap_handler.run(
            request,
            deployment.settings(),
            secrets=deployment.secrets,
            workers=bootstrap_handler.get_workers(deployment.settings()),
        )
    assert lambdas.invocations == []
    assert (
        deployment.server.execute("SELECT 1 FROM mysql.user WHERE User = %s", (deployment.usernames["app"],))
        == []
    )


def test_the_worker_checks_the_names_again_before_touching_the_database(deployment):
    request = bootstrap_handler.Request.parse(deployment.event())
    payload = bootstrap_handler.worker_request(request, deployment.settings(), secrets=deployment.secrets)
    bad = BootstrapRequest.from_payload({**payload.to_payload(), "database": "mysql"})
    with pytest.raises(InvalidBootstrapRequest, match="not a system schema; got 'mysql'"):
        worker_handler.run(deployment.target(port=free_port()), bad)


def test_handler_reads_its_environment_and_logs_the_failure_as_one_json_line(
    deployment, lambdas, monkeypatch
):
    # GIVEN a regional environment: the bootstrap function and its home worker, as deployed
    monkeypatch.setenv("MASTER_SECRET_ARN", deployment.master_arn)
    monkeypatch.setenv("HOME_REGION", REGION)
    monkeypatch.setenv("SQL_WORKERS", json.dumps(WORKERS))
    monkeypatch.delenv("GLOBAL_CLUSTER_ID", raising=False)
    register_worker(lambdas, REGION, deployment.server)
    monkeypatch.setattr(bootstrap_handler, "aws", ClientCache())
    monkeypatch.setattr(bootstrap_handler, "get_lambda_client", lambdas.client)
    log_stream = io.StringIO()
    monkeypatch.setattr(bootstrap_handler.logger.registered_handler, "stream", log_stream)
    worker_stream = io.StringIO()
    monkeypatch.setattr(worker_handler.logger.registered_handler, "stream", worker_stream)
    bootstrap_handler.settings.cache_clear()
    try:
        result = bootstrap_handler.handler(deployment.event(), FakeContext())
        with pytest.raises(InvalidBootstrapRequest):
            bootstrap_handler.handler({**deployment.event(), "database": "mysql"}, FakeContext())
    finally:
        bootstrap_handler.settings.cache_clear()

    assert result["database_created"] is True and result["region"] == REGION
    assert [(i.region, i.function_arn, i.error_type) for i in lambdas.invocations] == [
        (REGION, WORKERS[REGION], None)
    ]
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [entry["message"] for entry in logs] == [
        "delegating the SQL step to the writer's region",
        "bootstrap finished",
        "bootstrap failed",
    ]
    assert logs[0]["writer_region"] == REGION and logs[0]["worker"] == WORKERS[REGION]
    assert logs[2]["error_type"] == "InvalidBootstrapRequest" and logs[2]["database"] == "mysql"
    assert logs[2]["function_request_id"] == "req-boot-1"
    worker_logs = [json.loads(line) for line in worker_stream.getvalue().splitlines()]
    assert [entry["message"] for entry in worker_logs] == ["bootstrap finished"]
    # AND neither function printed a password (the worker's request carries them all)
    printed = log_stream.getvalue() + worker_stream.getvalue()
    assert ROOT_PASSWORD not in printed
    assert not any(deployment.password(role) in printed for role in ROLES)


# --- on the writer, wherever it is ------------------------------------------------------


def test_with_the_writer_in_another_region_bootstrap_runs_on_that_regions_worker_and_the_users_exist_there(
    deployment, lambdas
):
    # GIVEN the writer is in WRITER_REGION (after a failover); the home region's cluster is a
    # reader whose endpoint this test can't reach, and only WRITER_REGION's worker reaches the server
    create_global_cluster(
        GLOBAL_ID, writer=WRITER_REGION, regions=(REGION, WRITER_REGION), cluster_prefix=CLUSTERS
    )
    register_worker(lambdas, WRITER_REGION, deployment.server)
    register_worker(lambdas, REGION, None)

    # WHEN the deployment runs the bootstrap function
    result = deployment.run_function()

    # THEN the writer region's worker did the work, through its own region's client
    assert invoked(lambdas) == [(WRITER_REGION, WORKERS[WRITER_REGION], None)]
    assert result["region"] == WRITER_REGION and result["version"] == "2024-06-01.1"
    assert result["database_created"] is True
    # AND the users exist on that database with their secrets' passwords and their privileges
    for role in ROLES:
        with deployment.login(role, database=deployment.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM schema_migrations")
            assert cur.fetchone() == (0,)
    assert not any(deployment.password(role) in json.dumps(result) for role in ROLES)


def test_a_regional_environment_bootstraps_on_its_home_worker_without_asking_rds(
    deployment, lambdas, monkeypatch
):
    register_worker(lambdas, REGION, deployment.server)
    stubber = stub_global_cluster(monkeypatch, failing_over(REGION, WRITER_REGION, cluster_prefix=CLUSTERS))

    result = deployment.run_function(global_cluster=False)

    assert invoked(lambdas) == [(REGION, WORKERS[REGION], None)]
    assert result["region"] == REGION and result["database_created"] is True
    with pytest.raises(AssertionError):  # DescribeGlobalClusters was never called
        stubber.assert_no_pending_responses()


def test_a_global_cluster_in_transition_fails_the_deployment_clearly_and_changes_nothing(
    deployment, lambdas, monkeypatch
):
    # GIVEN the global cluster is failing over
    register_worker(lambdas, WRITER_REGION, deployment.server)
    register_worker(lambdas, REGION, deployment.server)
    stub_global_cluster(monkeypatch, failing_over(REGION, WRITER_REGION, cluster_prefix=CLUSTERS))

    # WHEN the bootstrap function runs THEN it names the transition and what to do, invoking no worker
    with pytest.raises(WriterUnavailable) as caught:
        deployment.run_function()
    message = str(caught.value)
    assert f"global cluster {GLOBAL_ID} is in transition (FailoverState 'failing-over'" in message
    assert "nothing was changed; run `infra up` again once the new writer is in place" in message
    assert lambdas.invocations == []
    assert deployment.server.execute("SHOW DATABASES LIKE %s", (deployment.database,)) == []


def test_a_worker_that_finds_its_cluster_read_only_refuses_and_the_deployment_fails_naming_its_region(
    deployment, lambdas, fresh_mariadb
):
    # GIVEN DescribeGlobalClusters names WRITER_REGION, but its cluster is read-only by now
    create_global_cluster(
        GLOBAL_ID, writer=WRITER_REGION, regions=(REGION, WRITER_REGION), cluster_prefix=CLUSTERS
    )
    fresh_mariadb.execute("SET GLOBAL read_only = 1")
    register_worker(lambdas, WRITER_REGION, fresh_mariadb)

    # WHEN the bootstrap function runs THEN it fails with WriterMoved, naming the region and the
    # worker's refusal, and the read-only server (which lets the master user write) is untouched
    with pytest.raises(WriterMoved) as caught:
        deployment.run_function()
    assert str(caught.value).startswith(
        f"bootstrap of {deployment.database}: bootstrap failed in the writer's region {WRITER_REGION} "
        f"(worker {WORKERS[WRITER_REGION]}): NotWriter: the cluster at "
    )
    assert caught.value.error_type == "NotWriter" and caught.value.region == WRITER_REGION
    assert (
        "is read-only (read_only=1, innodb_read_only=0): it is not the writer" in caught.value.worker_message
    )
    assert "run `infra up` again" in caught.value.worker_message
    assert invoked(lambdas) == [(WRITER_REGION, WORKERS[WRITER_REGION], "NotWriter")]
    assert fresh_mariadb.execute("SHOW DATABASES LIKE %s", (deployment.database,)) == []
    assert (
        fresh_mariadb.execute("SELECT 1 FROM mysql.user WHERE User = %s", (deployment.usernames["app"],))
        == []
    )


def test_a_database_error_on_the_writer_fails_the_deployment_with_the_databases_message(deployment, lambdas):
    # GIVEN a master secret for an account that may create databases but not users
    create_global_cluster(
        GLOBAL_ID, writer=WRITER_REGION, regions=(REGION, WRITER_REGION), cluster_prefix=CLUSTERS
    )
    register_worker(lambdas, WRITER_REGION, deployment.server)
    limited = f"lim_{uuid.uuid4().hex[:8]}"
    deployment.server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'limited-pw'", (limited,))
    try:
        deployment.server.execute("GRANT CREATE, SELECT ON *.* TO %s@'%%'", (limited,))
        deployment.secrets.put_secret_value(
            SecretId=deployment.master_arn,
            SecretString=json.dumps({"username": limited, "password": "limited-pw"}),
        )
        with pytest.raises(SqlWorkerFailed) as failed:
            deployment.run_function()
    finally:
        deployment.server.execute("DROP USER %s@'%%'", (limited,))

    # THEN the error names the region, the worker's error and quotes the database, without a password
    assert failed.value.error_type == "BootstrapError" and failed.value.region == WRITER_REGION
    assert failed.value.worker_message.startswith(
        f"bootstrap step 'create {deployment.usernames['app']}' failed: MySQL error 1227"
    )
    assert f"in the writer's region {WRITER_REGION}" in str(failed.value)
    assert not any(deployment.password(role) in str(failed.value) for role in ROLES)
    assert "limited-pw" not in str(failed.value)


def test_a_writer_region_without_a_deployed_worker_is_named(deployment, lambdas):
    create_global_cluster(
        GLOBAL_ID, writer=WRITER_REGION, regions=(REGION, WRITER_REGION), cluster_prefix=CLUSTERS
    )
    register_worker(lambdas, REGION, deployment.server)

    with pytest.raises(SqlWorkerUnreachable) as caught:
        deployment.run_function()
    message = str(caught.value)
    assert f"cannot invoke the bootstrap worker {WORKERS[WRITER_REGION]} in {WRITER_REGION}" in message
    assert "ResourceNotFoundException" in message
    assert f"is the regional stack of {WRITER_REGION} deployed?" in message
    assert deployment.server.execute("SHOW DATABASES LIKE %s", (deployment.database,)) == []


def test_the_function_reads_its_environment_strictly():
    env = {"MASTER_SECRET_ARN": "arn:m", "HOME_REGION": REGION, "SQL_WORKERS": json.dumps(WORKERS)}
    settings = bootstrap_handler.Settings.from_env({**env, "GLOBAL_CLUSTER_ID": GLOBAL_ID})
    assert settings.delegation == Delegation(
        home_region=REGION, global_cluster_id=GLOBAL_ID, workers=WORKERS, worker_timeout_seconds=120
    )
    with pytest.raises(
        ConfigurationError, match="MASTER_SECRET_ARN must name the master credentials' secret"
    ):
        bootstrap_handler.Settings.from_env({**env, "MASTER_SECRET_ARN": ""})
    with pytest.raises(ConfigurationError, match="SQL_WORKERS must be a non-empty JSON object"):
        bootstrap_handler.Settings.from_env({**env, "SQL_WORKERS": "{}"})
    with pytest.raises(ConfigurationError, match=f"must name a worker for the home region {REGION}"):
        bootstrap_handler.Settings.from_env(
            {**env, "SQL_WORKERS": json.dumps({WRITER_REGION: WORKERS[WRITER_REGION]})}
        )


def test_the_worker_refuses_a_malformed_request_naming_the_field():
    for payload, message in [
        ([], "bootstrap request must be a JSON object, got list"),
        (
            {"database": "app", "users": [], "master": {"username": "m"}},
            "'master' must be an object with username and password",
        ),
        (
            {"database": "app", "users": [{"role": "app"}]},
            "'users' must be a list of objects with role, username and password",
        ),
    ]:
        with pytest.raises(BootstrapProtocolError, match=re.escape(message)):
            BootstrapRequest.from_payload(payload)
    request = BootstrapRequest.from_payload(
        {"database": "app", "users": [], "master": {"username": "m", "password": "secret-pw"}}
    )
    assert "secret-pw" not in repr(request)


# --- TLS that authenticates the database (FC-P-6) and expired passwords -------------------


def _refused_without_retry(deployment, target, error, match):
    slept: list[float] = []
    with pytest.raises(error, match=match):
        deployment.run(target, sleep=slept.append)
    assert slept == [], "a failed verification or an expired password does not get better with retries"
    assert deployment.server.execute("SHOW DATABASES LIKE %s", (deployment.database,)) == []


def test_deployed_configuration_trusts_only_the_amazon_rds_cas(deployment):
    # GIVEN the environment as deployed (no DB_CA_BUNDLE) and a server certified by another CA
    deployed = own_cluster_from_env(
        {"DB_HOST": deployment.server.host, "DB_PORT": str(deployment.server.port), "REGION_NAME": REGION}
    )
    assert deployed.ca_bundle == RDS_CA_BUNDLE
    # WHEN bootstrap runs THEN it refuses before the master password is sent, and creates nothing
    _refused_without_retry(deployment, deployed, TlsVerificationFailed, r"rds-ca-bundle\.pem")


def test_a_server_certified_by_an_unknown_ca_is_refused(deployment, test_pki):
    target = dataclasses.replace(deployment.target(), ca_bundle=str(test_pki.unknown_ca_file))
    _refused_without_retry(deployment, target, TlsVerificationFailed, "no credentials were sent")


def test_a_certificate_for_another_host_name_is_refused(deployment):
    target = dataclasses.replace(deployment.target(), host=WRONG_HOST)
    _refused_without_retry(deployment, target, TlsVerificationFailed, f"Hostname mismatch.*'{WRONG_HOST}'")


def test_a_server_without_tls_receives_no_master_password(deployment):
    impostor = PlainGreetingServer()
    try:
        target = deployment.target(port=impostor.port)
        _refused_without_retry(deployment, target, TlsVerificationFailed, "offers no TLS")
    finally:
        impostor.close()
    assert impostor.connections == 1 and impostor.received == []


def test_an_expired_master_password_is_named_and_not_retried(deployment):
    # GIVEN the master secret's account has an expired password
    master, password = f"mst_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    deployment.server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s PASSWORD EXPIRE", (master, password))
    try:
        deployment.server.execute("GRANT ALL ON *.* TO %s@'%%' WITH GRANT OPTION", (master,))
        deployment.secrets.put_secret_value(
            SecretId=deployment.master_arn,
            SecretString=json.dumps({"username": master, "password": password}),
        )
        # WHEN bootstrap runs THEN it says the password expired, without retrying
        _refused_without_retry(
            deployment, deployment.target(), PasswordExpired, f"the password of '{master}' has expired"
        )
    finally:
        deployment.server.execute("DROP USER IF EXISTS %s@'%%'", (master,))
