"""Bootstrap: database, least-privilege users and bookkeeping, idempotent, on a real MariaDB.

Secrets come from moto; the database is the session's shared MariaDB server, so every
test uses its own database and user names and removes them afterwards.
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
from moto import mock_aws

from lambda_src.bootstrap import handler as bootstrap_handler
from lambda_src.bootstrap.bootstrap import BootstrapError, InvalidBootstrapRequest
from lambda_src.common.aws import ClientCache
from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import DatabaseUnavailable, PasswordExpired, TlsVerificationFailed
from tests.support.mariadb import ROOT_PASSWORD, MariaDBServer, free_port
from tests.support.tls import WRONG_HOST, PlainGreetingServer

pytestmark = pytest.mark.mariadb

from tests.support.paths import EVENTS  # noqa: E402

ROLES = ("app", "readonly", "migrator")
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

    def settings(self, port: int | None = None) -> bootstrap_handler.Settings:
        return bootstrap_handler.Settings(
            master_secret_arn=self.master_arn,
            db_host=self.server.host,
            db_port=port or self.server.port,
            db_ca_bundle=self.server.ca_bundle,
        )

    def run(self, **kwargs: Any) -> dict[str, Any]:
        request = bootstrap_handler.Request.parse(self.event())
        return bootstrap_handler.run(request, self.settings(), secrets=self.secrets, **kwargs)

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
    request = bootstrap_handler.Request.parse(deployment.event())
    slept: list[float] = []
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match=f"cannot connect to 127.0.0.1:{(port := free_port())}"):
        bootstrap_handler.run(
            request, deployment.settings(port=port), secrets=deployment.secrets, sleep=slept.append
        )
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
def test_a_bad_database_name_is_refused_before_any_change(deployment, database):
    event = {**deployment.event(), "database": database}
    request = bootstrap_handler.Request.parse(event)
    with pytest.raises(InvalidBootstrapRequest, match="'database' must be 1-64 letters, digits or _"):
        bootstrap_handler.run(request, deployment.settings(), secrets=deployment.secrets)
    assert (
        deployment.server.execute("SELECT 1 FROM mysql.user WHERE User = %s", (deployment.usernames["app"],))
        == []
    )


def test_handler_reads_its_environment_and_logs_the_failure_as_one_json_line(deployment, monkeypatch):
    monkeypatch.setenv("MASTER_SECRET_ARN", deployment.master_arn)
    monkeypatch.setenv("DB_HOST", deployment.server.host)
    monkeypatch.setenv("DB_PORT", str(deployment.server.port))
    monkeypatch.setenv("DB_CA_BUNDLE", deployment.server.ca_bundle)
    monkeypatch.setattr(bootstrap_handler, "aws", ClientCache())
    log_stream = io.StringIO()
    monkeypatch.setattr(bootstrap_handler.logger.registered_handler, "stream", log_stream)
    bootstrap_handler.settings.cache_clear()
    try:
        result = bootstrap_handler.handler(deployment.event(), FakeContext())
        with pytest.raises(InvalidBootstrapRequest):
            bootstrap_handler.handler({**deployment.event(), "database": "mysql"}, FakeContext())
    finally:
        bootstrap_handler.settings.cache_clear()

    assert result["database_created"] is True
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [entry["message"] for entry in logs] == ["bootstrap finished", "bootstrap failed"]
    assert logs[1]["error_type"] == "InvalidBootstrapRequest" and logs[1]["database"] == "mysql"
    assert logs[1]["function_request_id"] == "req-boot-1"


# --- TLS that authenticates the database (FC-P-6) and expired passwords -------------------


def _refused_without_retry(deployment, settings, error, match):
    request = bootstrap_handler.Request.parse(deployment.event())
    slept: list[float] = []
    with pytest.raises(error, match=match):
        bootstrap_handler.run(request, settings, secrets=deployment.secrets, sleep=slept.append)
    assert slept == [], "a failed verification or an expired password does not get better with retries"
    assert deployment.server.execute("SHOW DATABASES LIKE %s", (deployment.database,)) == []


def test_deployed_configuration_trusts_only_the_amazon_rds_cas(deployment):
    # GIVEN the environment as deployed (no DB_CA_BUNDLE) and a server certified by another CA
    deployed = bootstrap_handler.Settings.from_env(
        {
            "MASTER_SECRET_ARN": deployment.master_arn,
            "DB_HOST": deployment.server.host,
            "DB_PORT": str(deployment.server.port),
        }
    )
    assert deployed.db_ca_bundle == RDS_CA_BUNDLE
    # WHEN bootstrap runs THEN it refuses before the master password is sent, and creates nothing
    _refused_without_retry(deployment, deployed, TlsVerificationFailed, r"rds-ca-bundle\.pem")


def test_a_server_certified_by_an_unknown_ca_is_refused(deployment, test_pki):
    settings = dataclasses.replace(deployment.settings(), db_ca_bundle=str(test_pki.unknown_ca_file))
    _refused_without_retry(deployment, settings, TlsVerificationFailed, "no credentials were sent")


def test_a_certificate_for_another_host_name_is_refused(deployment):
    settings = dataclasses.replace(deployment.settings(), db_host=WRONG_HOST)
    _refused_without_retry(deployment, settings, TlsVerificationFailed, f"Hostname mismatch.*'{WRONG_HOST}'")


def test_a_server_without_tls_receives_no_master_password(deployment):
    impostor = PlainGreetingServer()
    try:
        settings = deployment.settings(port=impostor.port)
        _refused_without_retry(deployment, settings, TlsVerificationFailed, "offers no TLS")
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
            deployment, deployment.settings(), PasswordExpired, f"the password of '{master}' has expired"
        )
    finally:
        deployment.server.execute("DROP USER IF EXISTS %s@'%%'", (master,))
