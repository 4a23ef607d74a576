"""The migrator's database connection: verified TLS only, on a real MariaDB; moto for S3, SSM, secrets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src.bootstrap_worker.bootstrap import BOOKKEEPING_DDL
from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import ConfigurationError, PasswordExpired, TlsVerificationFailed
from lambda_src.migrator import handler as migrator_handler
from tests.support.mariadb import MariaDBServer
from tests.support.tls import WRONG_HOST, PlainGreetingServer, TestPki

pytestmark = pytest.mark.mariadb


@dataclass
class Migrator:
    server: MariaDBServer
    settings: migrator_handler.Settings
    username: str
    clients: dict[str, Any]

    def status(self, settings: migrator_handler.Settings | None = None) -> dict[str, Any]:
        request = migrator_handler.Request.parse({"action": "status"})
        return migrator_handler.run(request, settings or self.settings, **self.clients)


@pytest.fixture
def migrator(mariadb: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Migrator]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:8]
    database, username, password = f"tls_{suffix}", f"mig_{suffix}", uuid.uuid4().hex
    mariadb.execute(f"CREATE DATABASE `{database}`")
    mariadb.execute(BOOKKEEPING_DDL.format(database=database))
    mariadb.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (username, password))
    mariadb.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (username,))
    try:
        with mock_aws():
            s3, secrets = boto3.client("s3"), boto3.client("secretsmanager")
            bucket = f"migrations-{suffix}"
            s3.create_bucket(Bucket=bucket)
            secret = secrets.create_secret(
                Name=f"aurora-dev-db-migrator-{suffix}",
                SecretString=json.dumps({"username": username, "password": password}),
            )
            settings = migrator_handler.Settings(
                db_host=mariadb.host,
                db_port=mariadb.port,
                db_name=database,
                secret_arn=secret["ARN"],
                bucket=bucket,
                prefix="migrations/dev/",
                version_parameter="/aurora/dev/schema/version",
                environment="dev",
                lock_timeout=2,
                ddl_lock_wait=10,
                db_ca_bundle=mariadb.ca_bundle,
            )
            clients = {"s3": s3, "ssm": boto3.client("ssm"), "secrets": secrets}
            yield Migrator(mariadb, settings, username, clients)
    finally:
        mariadb.execute("DROP USER IF EXISTS %s@'%%'", (username,))
        mariadb.execute(f"DROP DATABASE IF EXISTS `{database}`")


def test_trusted_ca_and_right_host_name_connect_and_answer(migrator: Migrator) -> None:
    # GIVEN the test CA and the address the server's certificate names
    # WHEN status runs THEN it reads the (empty) history over the verified connection
    result = migrator.status()
    assert (result["action"], result["version"], result["problems"]) == ("status", 0, [])


def test_deployed_configuration_trusts_only_the_amazon_rds_cas(migrator: Migrator) -> None:
    # GIVEN the environment as deployed (no DB_CA_BUNDLE): the shipped RDS bundle
    env = {
        "DB_HOST": migrator.settings.db_host,
        "DB_PORT": str(migrator.settings.db_port),
        "DB_NAME": migrator.settings.db_name,
        "MIGRATOR_SECRET_ARN": migrator.settings.secret_arn,
        "MIGRATIONS_BUCKET": migrator.settings.bucket,
        "MIGRATIONS_PREFIX": migrator.settings.prefix,
        "VERSION_PARAMETER": migrator.settings.version_parameter,
    }
    deployed = migrator_handler.Settings.from_env(env)
    assert deployed.db_ca_bundle == RDS_CA_BUNDLE

    # WHEN it meets a server whose certificate is from another CA THEN it refuses to log in
    with pytest.raises(TlsVerificationFailed, match=r"rds-ca-bundle\.pem"):
        migrator.status(deployed)


def test_a_server_certified_by_an_unknown_ca_is_refused(migrator: Migrator, test_pki: TestPki) -> None:
    settings = replace(migrator.settings, db_ca_bundle=str(test_pki.unknown_ca_file))
    with pytest.raises(TlsVerificationFailed, match="no credentials were sent"):
        migrator.status(settings)


def test_a_certificate_for_another_host_name_is_refused(migrator: Migrator) -> None:
    settings = replace(migrator.settings, db_host=WRONG_HOST)
    with pytest.raises(TlsVerificationFailed, match=f"Hostname mismatch.*'{WRONG_HOST}'"):
        migrator.status(settings)


def test_a_server_without_tls_receives_no_login(migrator: Migrator) -> None:
    impostor = PlainGreetingServer()
    try:
        with pytest.raises(TlsVerificationFailed, match="offers no TLS"):
            migrator.status(replace(migrator.settings, db_port=impostor.port))
    finally:
        impostor.close()
    assert impostor.connections == 1 and impostor.received == []


def test_an_expired_password_is_named_as_such(migrator: Migrator) -> None:
    migrator.server.execute("ALTER USER %s@'%%' PASSWORD EXPIRE", (migrator.username,))
    with pytest.raises(PasswordExpired, match=f"the password of '{migrator.username}' has expired"):
        migrator.status()


def test_turning_tls_off_is_a_configuration_error() -> None:
    env = {
        name: "x"
        for name in (
            "DB_HOST",
            "DB_NAME",
            "MIGRATOR_SECRET_ARN",
            "MIGRATIONS_BUCKET",
            "MIGRATIONS_PREFIX",
            "VERSION_PARAMETER",
        )
    }
    with pytest.raises(ConfigurationError, match=r"DB_TLS='false' is not supported.*remove DB_TLS"):
        migrator_handler.Settings.from_env({**env, "DB_TLS": "false"})
