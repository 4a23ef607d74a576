"""The migrator worker's database connection: verified TLS only, on a real MariaDB.

The migrator function connects to no database (it runs outside any VPC); the worker of the
writer's region does, with the credentials the function sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from lambda_src.bootstrap_worker.bootstrap import BOOKKEEPING_DDL
from lambda_src.common.bootstrap_sql import Account
from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import ConfigurationError, PasswordExpired, TlsVerificationFailed
from lambda_src.common.migrator_sql import MigrationRequest
from lambda_src.common.worker import OwnCluster, own_cluster_from_env
from lambda_src.migrator_worker import handler as worker_handler
from tests.support.mariadb import MariaDBServer
from tests.support.tls import WRONG_HOST, PlainGreetingServer, TestPki

pytestmark = pytest.mark.mariadb


@dataclass
class Migrator:
    server: MariaDBServer
    target: OwnCluster
    username: str
    request: MigrationRequest

    def status(self, target: OwnCluster | None = None) -> dict[str, Any]:
        return worker_handler.run(target or self.target, self.request)


@pytest.fixture
def migrator(mariadb: MariaDBServer) -> Iterator[Migrator]:
    suffix = uuid.uuid4().hex[:8]
    database, username, password = f"tls_{suffix}", f"mig_{suffix}", uuid.uuid4().hex
    mariadb.execute(f"CREATE DATABASE `{database}`")
    mariadb.execute(BOOKKEEPING_DDL.format(database=database))
    mariadb.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (username, password))
    mariadb.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (username,))
    try:
        target = OwnCluster(
            host=mariadb.host, port=mariadb.port, ca_bundle=mariadb.ca_bundle, region="us-east-1"
        )
        request = MigrationRequest(
            action="status",
            database=database,
            migrator=Account(username=username, password=password),
            files=None,
        )
        yield Migrator(mariadb, target, username, request)
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
    env = {"DB_HOST": migrator.target.host, "DB_PORT": str(migrator.target.port), "REGION_NAME": "us-east-1"}
    deployed = own_cluster_from_env(env)
    assert deployed.ca_bundle == RDS_CA_BUNDLE

    # WHEN it meets a server whose certificate is from another CA THEN it refuses to log in
    with pytest.raises(TlsVerificationFailed, match=r"rds-ca-bundle\.pem"):
        migrator.status(deployed)


def test_a_server_certified_by_an_unknown_ca_is_refused(migrator: Migrator, test_pki: TestPki) -> None:
    target = replace(migrator.target, ca_bundle=str(test_pki.unknown_ca_file))
    with pytest.raises(TlsVerificationFailed, match="no credentials were sent"):
        migrator.status(target)


def test_a_certificate_for_another_host_name_is_refused(migrator: Migrator) -> None:
    target = replace(migrator.target, host=WRONG_HOST)
    with pytest.raises(TlsVerificationFailed, match=f"Hostname mismatch.*'{WRONG_HOST}'"):
        migrator.status(target)


def test_a_server_without_tls_receives_no_login(migrator: Migrator) -> None:
    impostor = PlainGreetingServer()
    try:
        with pytest.raises(TlsVerificationFailed, match="offers no TLS"):
            migrator.status(replace(migrator.target, port=impostor.port))
    finally:
        impostor.close()
    assert impostor.connections == 1 and impostor.received == []


def test_an_expired_password_is_named_as_such(migrator: Migrator) -> None:
    migrator.server.execute("ALTER USER %s@'%%' PASSWORD EXPIRE", (migrator.username,))
    with pytest.raises(PasswordExpired, match=f"the password of '{migrator.username}' has expired"):
        migrator.status()


def test_turning_tls_off_is_a_configuration_error() -> None:
    env = {"DB_HOST": "x", "REGION_NAME": "us-east-1"}
    with pytest.raises(ConfigurationError, match=r"DB_TLS='false' is not supported.*remove DB_TLS"):
        own_cluster_from_env({**env, "DB_TLS": "false"})
