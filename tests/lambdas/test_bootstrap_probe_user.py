"""Bootstrap creates the failover probe's user and heartbeat table, idempotently, on a real MariaDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pymysql
import pytest
from moto import mock_aws

from lambda_src.bootstrap import handler as bootstrap_handler
from lambda_src.bootstrap_worker import handler as worker_handler
from lambda_src.common import heartbeat
from lambda_src.common.bootstrap_sql import InvalidBootstrapRequest
from lambda_src.common.worker import OwnCluster
from lambda_src.common.writer import Delegation
from tests.support.mariadb import ROOT_PASSWORD, MariaDBServer

pytestmark = pytest.mark.mariadb
ROLES = ("app", "readonly", "migrator")


@dataclass
class Deploy:
    server: MariaDBServer
    secrets: Any
    event: dict[str, Any]
    master_arn: str
    probe_user: str
    probe_password: str
    names: list[str]

    def run(self) -> dict[str, Any]:
        # The request the bootstrap function makes of the secrets, run by the worker on its cluster.
        settings = bootstrap_handler.Settings(
            master_secret_arn=self.master_arn,
            delegation=Delegation(home_region="us-east-1", global_cluster_id=None, workers={}),
        )
        request = bootstrap_handler.worker_request(
            bootstrap_handler.Request.parse(self.event), settings, secrets=self.secrets
        )
        target = OwnCluster(
            host=self.server.host, port=self.server.port, ca_bundle=self.server.ca_bundle, region="us-east-1"
        )
        return worker_handler.run(target, request)

    def probe_grants(self) -> list[str]:
        return sorted(line for (line,) in self.server.execute("SHOW GRANTS FOR %s@'%%'", (self.probe_user,)))


@pytest.fixture
def deploy(mariadb: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deploy]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:8]
    names = [f"{role[:4]}_{suffix}" for role in ROLES]
    probe_user, probe_password = f"prob_{suffix}", uuid.uuid4().hex
    with mock_aws():
        secrets = boto3.client("secretsmanager")

        def secret(name: str, username: str, password: str) -> str:
            return secrets.create_secret(
                Name=name, SecretString=json.dumps({"username": username, "password": password})
            )["ARN"]

        event = {
            "database": f"app_{suffix}",
            "users": {
                role: secret(f"{role}-{suffix}", n, uuid.uuid4().hex)
                for role, n in zip(ROLES, names, strict=True)
            },
            "probe_user": secret(f"probe-{suffix}", probe_user, probe_password),
        }
        yield Deploy(
            mariadb,
            secrets,
            event,
            secret(f"master-{suffix}", "root", ROOT_PASSWORD),
            probe_user,
            probe_password,
            names,
        )
    mariadb.execute(f"DROP DATABASE IF EXISTS `app_{suffix}`")
    for username in [*names, probe_user]:
        mariadb.execute("DROP USER IF EXISTS %s@'%%'", (username,))


def test_bootstrap_creates_the_probe_user_with_write_access_to_the_heartbeat_table_only(deploy):
    result = deploy.run()

    probe = result["probe_user"]
    assert (probe["username"], probe["created"], probe["grants_changed"]) == (deploy.probe_user, True, True)
    assert probe["privileges"] == ["INSERT", "SELECT", "UPDATE"]
    assert deploy.server.execute(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (heartbeat.SCHEMA, heartbeat.TABLE),
    ) == [(1,)]
    conn = deploy.server.connect(user=deploy.probe_user, password=deploy.probe_password, autocommit=True)
    try:
        heartbeat.write_heartbeat(conn, f"test-{deploy.probe_user}")
        assert heartbeat.newest_replicated(conn) is not None
        with pytest.raises(pymysql.err.OperationalError), conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{deploy.event['database']}`.t (id INT)")
    finally:
        conn.close()
    assert password_not_in(result, deploy.probe_password)


def test_a_second_run_changes_nothing(deploy):
    deploy.run()
    before = deploy.probe_grants()

    again = deploy.run()["probe_user"]

    assert (again["created"], again["grants_changed"], again["heartbeat_table_created"]) == (
        False,
        False,
        False,
    )
    assert deploy.probe_grants() == before


def test_privileges_granted_to_the_probe_user_by_hand_are_taken_away(deploy):
    deploy.run()
    deploy.server.execute(f"GRANT SELECT ON `{deploy.event['database']}`.* TO %s@'%%'", (deploy.probe_user,))

    result = deploy.run()["probe_user"]

    assert result["grants_changed"] is True
    assert not any(deploy.event["database"] in line for line in deploy.probe_grants())


def test_a_probe_user_that_reuses_an_application_users_name_is_refused(deploy):
    deploy.event["probe_user"] = deploy.secrets.create_secret(
        Name=f"clash-{uuid.uuid4().hex[:6]}",
        SecretString=json.dumps({"username": deploy.names[0], "password": "x"}),
    )["ARN"]

    with pytest.raises(InvalidBootstrapRequest, match="probe user must have a name of its own"):
        deploy.run()


def password_not_in(result: dict[str, Any], password: str) -> bool:
    return password not in json.dumps(result)
