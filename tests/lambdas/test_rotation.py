"""Single-user rotation against a real MariaDB, moto Secrets Manager and RDS, with the writer
in another region than the secret.

The rotation function (home region REGION) finds the writer with DescribeGlobalClusters and
invokes the SQL worker of the writer's region through an in-process Lambda API
(tests/support/lambda_fake.py); only that worker reaches the MariaDB server, so a rotation
that succeeds proves the SQL went to the writer's region. moto replicates the secret to
WRITER_REGION (the replica shares the primary's versions) but does not model the replica's
KMS key or IAM: that the rotation role may encrypt with every replica key is proven on the
plan (tests/components/test_components_rotation.py and the guardrail).

moto's RotateSecret cannot drive this function here (it runs Lambdas in Docker, and
without a Lambda it moves AWSCURRENT to an empty version), so the tests put the secret
in the state Secrets Manager creates before calling createSecret (`begin_rotation`)
and call the handler with the step events, as Secrets Manager does.
"""

from __future__ import annotations

import io
import json
import re
import secrets
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
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import ConfigurationError, SecretError
from lambda_src.common.rotation_sql import SqlProtocolError
from lambda_src.rotation import handler as rotation_handler
from lambda_src.rotation.errors import (
    CredentialsMismatch,
    InvalidRotationEvent,
    NoWorkerForRegion,
    RotationNotEnabled,
    SqlWorkerFailed,
    SqlWorkerUnreachable,
    VersionNotStaged,
    WriterMoved,
    WriterUnavailable,
)
from lambda_src.rotation.handler import delegation_from_env, settings_from_env
from lambda_src.rotation.steps import DEFAULT_EXCLUDE_CHARACTERS
from lambda_src.rotation_sql import handler as sql_handler
from lambda_src.rotation_sql import sql as rotation_sql
from lambda_src.rotation_sql.handler import target_from_env
from tests.support.global_cluster import create_global_cluster as shared_create_global_cluster
from tests.support.global_cluster import failing_over
from tests.support.global_cluster import member as shared_member
from tests.support.lambda_fake import InProcessLambda
from tests.support.mariadb import MariaDBServer
from tests.support.paths import EVENTS
from tests.support.tls import WRONG_HOST

pytestmark = pytest.mark.mariadb

REGION = "us-east-1"
"""The home region: the secret, its rotation and RDS DescribeGlobalClusters live here."""
WRITER_REGION = "us-west-2"
"""Where the writer is (after a failover): its worker is the only one reaching the database."""
GLOBAL_ID = "rot-aurora-global"
GLOBAL_WRITER_HOST = "rot-aurora-global.global-c0ffee.global.rds.amazonaws.com"
"""The secret's ``host`` (Aurora's global writer endpoint): unresolvable here, never used by rotation."""
WORKERS = {
    region: f"arn:aws:lambda:{region}:{DEFAULT_ACCOUNT_ID}:function:rot-aurora-{code}-rotation-sql"
    for region, code in ((REGION, "use1"), (WRITER_REGION, "usw2"))
}

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:aurora-rotation"


# --- helpers --------------------------------------------------------------------------


def load_event(step: str, *, secret_id: str, token: str) -> dict[str, Any]:
    name = step.removesuffix("Secret")
    event: dict[str, Any] = json.loads((EVENTS / f"rotation_{name}_secret.json").read_text())
    event.update(SecretId=secret_id, ClientRequestToken=token)
    return event


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' inject_lambda_context reads."""

    function_name: str = "aurora-rotation"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{DEFAULT_ACCOUNT_ID}:function:aurora-rotation"
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"


def invoke(step: str, secret_arn: str, token: str) -> str:
    event = load_event(step, secret_id=secret_arn, token=token)
    return rotation_handler.handler(event, FakeLambdaContext())["result"]  # type: ignore[arg-type]


def rotate(secret_arn: str, token: str) -> list[str]:
    return [invoke(step, secret_arn, token) for step in STEPS]


def _moto_secret(secret_arn: str) -> Any:
    return secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[secret_arn]


def configure_rotation(secret_arn: str) -> None:
    """Record a rotation function and schedule, as RotateSecret does (without running it)."""
    secret = _moto_secret(secret_arn)
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = FUNCTION_ARN
    secret.auto_rotate_after_days = 30


def begin_rotation(secret_arn: str) -> str:
    """Stage a new version without a value as AWSPENDING: what Secrets Manager does before createSecret."""
    token = str(uuid.uuid4())
    secret = _moto_secret(secret_arn)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    return token


def stage_password(sm: Any, secret_arn: str, stage: str, token: str | None = None) -> str:
    request = {"SecretId": secret_arn, "VersionStage": stage} | ({"VersionId": token} if token else {})
    return str(json.loads(sm.get_secret_value(**request)["SecretString"])["password"])


def version_stages(sm: Any, secret_arn: str) -> dict[str, list[str]]:
    versions = sm.describe_secret(SecretId=secret_arn)["VersionIdsToStages"]
    return {vid: sorted(stages) for vid, stages in versions.items()}


@dataclass
class DbAccount:
    """A dedicated database user standing in for the Aurora master user."""

    server: MariaDBServer
    username: str
    password: str
    dbname: str

    def accepts(self, password: str) -> bool:
        try:
            conn = self.server.connect(
                user=self.username, password=password, database=self.dbname, connect_timeout=2
            )
        except pymysql.err.OperationalError as exc:
            if exc.args[0] == 1045:
                return False
            raise
        conn.close()
        return True

    def force_password(self, password: str) -> None:
        """Change the password behind rotation's back (as root)."""
        self.server.execute("ALTER USER %s@%s IDENTIFIED BY %s", (self.username, "%", password))

    def secret_fields(self, *, host: str | None = None, engine: str = "mysql") -> dict[str, Any]:
        return {
            "engine": engine,
            "host": host or GLOBAL_WRITER_HOST,
            "port": self.server.port,
            "username": self.username,
            "password": self.password,
            "dbname": self.dbname,
        }


def make_account(server: MariaDBServer) -> DbAccount:
    suffix = uuid.uuid4().hex[:8]
    account = DbAccount(server, f"rot_{suffix}", f"Initial-{secrets.token_hex(8)}", f"rotdb_{suffix}")
    server.execute(f"CREATE DATABASE `{account.dbname}`")
    server.execute("CREATE USER %s@%s IDENTIFIED BY %s", (account.username, "%", account.password))
    server.execute(f"GRANT ALL ON `{account.dbname}`.* TO %s@%s", (account.username, "%"))
    # The RDS master user holds CREATE USER; MariaDB needs it for ALTER USER of oneself.
    server.execute("GRANT CREATE USER ON *.* TO %s@%s", (account.username, "%"))
    return account


def drop_account(account: DbAccount) -> None:
    account.server.execute("DROP USER IF EXISTS %s@%s", (account.username, "%"))
    account.server.execute(f"DROP DATABASE IF EXISTS `{account.dbname}`")


def create_secret(sm: Any, fields: dict[str, Any], *, rotation: bool = True) -> str:
    """A secret replicated to WRITER_REGION with that region's own key (moto records the
    replica but not its key: it reports alias/aws/secretsmanager)."""
    replica_key = boto3.client("kms", region_name=WRITER_REGION).create_key()["KeyMetadata"]["Arn"]
    arn = str(
        sm.create_secret(
            Name=f"aurora-master-{uuid.uuid4().hex[:8]}",
            SecretString=json.dumps(fields),
            AddReplicaRegions=[{"Region": WRITER_REGION, "KmsKeyId": replica_key}],
        )["ARN"]
    )
    if rotation:
        configure_rotation(arn)
    return arn


def reset_handler_caches() -> None:
    rotation_handler.get_settings.cache_clear()
    rotation_handler.get_delegation.cache_clear()
    rotation_handler.get_secrets_client.cache_clear()
    # A test may have replaced the RDS client getter with a stubbed client.
    getattr(rotation_handler.get_rds_client, "cache_clear", lambda: None)()
    sql_handler.get_target.cache_clear()


def create_global_cluster(*, writer: str) -> None:
    shared_create_global_cluster(
        GLOBAL_ID, writer=writer, regions=(REGION, WRITER_REGION), cluster_prefix="rot-aurora"
    )


def replica_arn(secret_arn: str) -> str:
    return secret_arn.replace(f":{REGION}:", f":{WRITER_REGION}:")


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch, lambdas: InProcessLambda) -> Iterator[Any]:
    """moto Secrets Manager and RDS (a global cluster whose writer is in WRITER_REGION), the
    rotation function's environment, and the Lambda API reaching every region's worker."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "HOME_REGION": REGION,
        "GLOBAL_CLUSTER_ID": GLOBAL_ID,
        "SQL_WORKERS": json.dumps(WORKERS),
    }.items():
        monkeypatch.setenv(key, value)
    for key in (
        "AWS_PROFILE",
        "SECRETS_MANAGER_ENDPOINT",
        "DB_HOST",
        "DB_PORT",
        "DB_TLS",
        "REGION_NAME",
        "PASSWORD_LENGTH",
        "EXCLUDE_CHARACTERS",
        "WORKER_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(rotation_handler, "get_lambda_client", lambdas.client)
    with mock_aws():
        reset_handler_caches()
        create_global_cluster(writer=WRITER_REGION)
        yield boto3.client("secretsmanager", region_name=REGION)
    reset_handler_caches()


@pytest.fixture
def lambdas() -> InProcessLambda:
    """The Lambda API with no worker yet; `workers` registers them."""
    return InProcessLambda()


def register_worker(
    lambdas: InProcessLambda,
    region: str,
    server: MariaDBServer | None,
    *,
    ca_bundle: str | None = None,
    host: str | None = None,
) -> None:
    """The region's rotation SQL worker, connecting to ``server`` (its own cluster) or, for None,
    to an endpoint that does not resolve; TLS verified against the test CA (or ``ca_bundle``)."""
    environment = {
        "DB_HOST": host or (server.host if server else f"cluster.{region}.unreachable.invalid"),
        "DB_PORT": str(server.port if server else 3306),
        "REGION_NAME": region,
    }
    if server is not None:
        environment["DB_CA_BUNDLE"] = ca_bundle or server.ca_bundle
    lambdas.register(
        WORKERS[region],
        sql_handler.handler,
        environment=environment,
        reset=sql_handler.get_target.cache_clear,
        context=FakeLambdaContext(
            function_name=WORKERS[region].rsplit(":", 1)[-1], invoked_function_arn=WORKERS[region]
        ),
    )


@pytest.fixture
def workers(lambdas: InProcessLambda, mariadb: MariaDBServer) -> InProcessLambda:
    """The writer region's worker reaches the database; the home region's cluster is a reader
    whose endpoint this test can't reach (any use of it fails)."""
    register_worker(lambdas, WRITER_REGION, mariadb)
    register_worker(lambdas, REGION, None)
    return lambdas


@pytest.fixture
def account(mariadb: MariaDBServer) -> Iterator[DbAccount]:
    account = make_account(mariadb)
    try:
        yield account
    finally:
        drop_account(account)


@pytest.fixture
def secret_arn(sm: Any, account: DbAccount, workers: InProcessLambda) -> str:
    return create_secret(sm, account.secret_fields())


@dataclass
class CapturedLogs:
    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    """Everything both functions print (one JSON object per line), as Lambda would ship it."""
    stream = io.StringIO()
    handlers = [rotation_handler.logger.registered_handler, sql_handler.logger.registered_handler]
    previous = [h.setStream(stream) for h in handlers]  # type: ignore[attr-defined]
    try:
        yield CapturedLogs(stream)
    finally:
        for h, old in zip(handlers, previous, strict=True):
            h.setStream(old)  # type: ignore[attr-defined]


def worker_regions(lambdas: InProcessLambda) -> list[tuple[str, str | None]]:
    return [(i.region, i.step) for i in lambdas.invocations]


def stub_global_cluster(monkeypatch: pytest.MonkeyPatch, *responses: dict[str, Any]) -> Stubber:
    """Replace moto's RDS with botocore's Stubber answering DescribeGlobalClusters in order."""
    client = boto3.client("rds", region_name=REGION)
    stubber = Stubber(client)
    for response in responses:
        stubber.add_response("describe_global_clusters", response, {"GlobalClusterIdentifier": GLOBAL_ID})
    stubber.activate()
    monkeypatch.setattr(rotation_handler, "get_rds_client", lambda: client)
    return stubber


def member(region: str, *, writer: bool) -> dict[str, Any]:
    return shared_member(region, writer=writer, cluster_prefix="rot-aurora")


# --- the rotation ---------------------------------------------------------------------


def test_full_rotation_sets_the_password_on_the_writer_in_another_region_and_every_replica_reads_it(
    sm: Any, account: DbAccount, secret_arn: str, workers: InProcessLambda
) -> None:
    # GIVEN the writer is in WRITER_REGION (after a failover), the secret lives in REGION and
    # is replicated to WRITER_REGION, and the database accepts the AWSCURRENT password
    old_version = sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
    assert account.accepts(account.password)
    token = begin_rotation(secret_arn)

    # WHEN Secrets Manager runs the four steps
    results = rotate(secret_arn, token)

    # THEN the SQL steps ran on the writer region's worker only, through its own region's client
    assert results == ["created", "password_set", "tested", "finished"]
    assert worker_regions(workers) == [(WRITER_REGION, "setSecret"), (WRITER_REGION, "testSecret")]
    assert {i.function_arn for i in workers.invocations} == {WORKERS[WRITER_REGION]}
    # AND the new password is current, the writer accepts it and refuses the old one
    new_password = stage_password(sm, secret_arn, "AWSCURRENT")
    assert new_password != account.password
    assert account.accepts(new_password)
    assert not account.accepts(account.password)
    stages = version_stages(sm, secret_arn)
    assert "AWSCURRENT" in stages[token]
    assert stages[old_version] == ["AWSPREVIOUS"]
    assert stage_password(sm, secret_arn, "AWSPREVIOUS") == account.password
    # AND every other field of the secret is carried over unchanged
    current = json.loads(sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"])
    assert current == account.secret_fields() | {"password": new_password}
    # AND the replica region reads the new version as current
    replica = boto3.client("secretsmanager", region_name=WRITER_REGION)
    replicated = replica.get_secret_value(SecretId=replica_arn(secret_arn), VersionStage="AWSCURRENT")
    assert replicated["VersionId"] == token
    assert json.loads(replicated["SecretString"])["password"] == new_password


def test_every_step_run_again_after_success_changes_nothing(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    token = begin_rotation(secret_arn)

    def snapshot() -> tuple[dict[str, list[str]], dict[str, str], tuple[bool, ...]]:
        stages = version_stages(sm, secret_arn)
        passwords = {
            vid: stage_password(sm, secret_arn, labels[0], vid)
            for vid, labels in stages.items()
            if labels  # the pending version only has a value after createSecret
        }
        return stages, passwords, tuple(account.accepts(p) for p in sorted(passwords.values()))

    expected = [
        ("createSecret", "created", "pending_exists"),
        ("setSecret", "password_set", "already_set"),
        ("testSecret", "tested", "tested"),
        ("finishSecret", "finished", "already_current"),
    ]
    for step, first, again in expected:
        # GIVEN the step succeeded once
        assert invoke(step, secret_arn, token) == first
        before = snapshot()
        # WHEN Secrets Manager retries it
        result = invoke(step, secret_arn, token)
        # THEN it reports the work as done and changes nothing
        assert result == again, step
        assert snapshot() == before, step

    # AND after finishSecret, a late retry of any step is a no-op for the current version
    before = snapshot()
    assert [invoke(step, secret_arn, token) for step in STEPS] == ["already_current"] * 4
    assert snapshot() == before
    assert account.accepts(stage_password(sm, secret_arn, "AWSCURRENT"))


def test_set_secret_retry_succeeds_when_the_password_was_already_changed(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    # GIVEN a setSecret that changed the password and then died before reporting success
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)
    account.force_password(pending)

    # WHEN Secrets Manager retries setSecret
    result = invoke("setSecret", secret_arn, token)

    # THEN it recognises the pending password and the rotation completes
    assert result == "already_set"
    assert invoke("testSecret", secret_arn, token) == "tested"
    assert invoke("finishSecret", secret_arn, token) == "finished"
    assert stage_password(sm, secret_arn, "AWSCURRENT") == pending
    assert account.accepts(pending)
    assert not account.accepts(account.password)


def test_set_secret_logs_in_with_awsprevious_when_awscurrent_never_reached_the_database(
    sm: Any, account: DbAccount, secret_arn: str, logs: CapturedLogs
) -> None:
    # GIVEN AWSCURRENT holds a password the database never got; AWSPREVIOUS holds the real one
    stale = account.secret_fields() | {"password": f"Stale-{secrets.token_hex(8)}"}
    sm.put_secret_value(SecretId=secret_arn, SecretString=json.dumps(stale))
    assert stage_password(sm, secret_arn, "AWSPREVIOUS") == account.password
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs
    result = invoke("setSecret", secret_arn, token)

    # THEN the worker logged in with AWSPREVIOUS and the database now accepts the pending password
    assert result == "password_set"
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)
    assert account.accepts(pending)
    assert not account.accepts(account.password)
    changed = [r for r in logs.records() if r["message"] == "database password set on the writer"]
    assert [(r["logged_in_with"], r["writer_region"]) for r in changed] == [("AWSPREVIOUS", WRITER_REGION)]


def test_set_secret_refuses_clearly_when_no_version_can_log_in(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    # GIVEN someone changed the password outside rotation
    unknown = f"Manual-{secrets.token_hex(8)}"
    account.force_password(unknown)
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs
    with pytest.raises(SqlWorkerFailed) as caught:
        invoke("setSecret", secret_arn, token)

    # THEN the error names the worker's region and error, the account and the versions tried
    assert caught.value.region == WRITER_REGION
    assert caught.value.error_type == "NoWorkingCredentials"
    message = str(caught.value)
    assert f"setSecret failed in the writer's region {WRITER_REGION}" in message
    assert account.username in message
    assert f"{account.server.host}:{account.server.port}" in message
    assert "with the AWSPENDING, AWSCURRENT passwords" in message  # no AWSPREVIOUS yet
    assert account.accepts(unknown)


def test_test_secret_with_a_wrong_pending_password_fails_clearly_and_keeps_awscurrent(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    # GIVEN a pending password the database does not know (setSecret did not take effect)
    current_before = sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)

    # WHEN testSecret runs
    with pytest.raises(SqlWorkerFailed) as caught:
        invoke("testSecret", secret_arn, token)

    # THEN the error names the region, the version, the account and the endpoint, never the password
    assert caught.value.error_type == "PendingSecretRejected"
    message = str(caught.value)
    assert WRITER_REGION in message
    assert token in message
    assert "AWSPENDING" in message
    assert "AWSCURRENT is unchanged" in message
    assert f"user {account.username!r} at {account.server.host}:{account.server.port}" in message
    assert pending not in message
    assert account.password not in message
    # AND AWSCURRENT and the database are untouched
    current_after = sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")
    assert current_after["VersionId"] == current_before
    assert stage_password(sm, secret_arn, "AWSCURRENT") == account.password
    assert account.accepts(account.password)
    assert not account.accepts(pending)


def test_set_secret_fails_when_the_server_still_refuses_the_new_password(
    sm: Any, account: DbAccount, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an ALTER USER that reports success without changing anything (as MariaDB 10.11
    # does for ALTER USER CURRENT_USER())
    monkeypatch.setattr(rotation_sql, "change_own_password", lambda conn, username, password: username)
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it checks the new password and fails instead of reporting success
    with pytest.raises(
        SqlWorkerFailed, match=r"PasswordChangeFailed: .*ALTER USER succeeded but the database still refuses"
    ):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


# --- where the writer is ----------------------------------------------------------------


def test_a_writer_in_the_home_region_is_reached_through_the_home_worker(
    sm: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambdas: InProcessLambda,
    mariadb: MariaDBServer,
    account: DbAccount,
) -> None:
    # GIVEN the writer is back home: only the home region's worker reaches the database
    register_worker(lambdas, REGION, mariadb)
    register_worker(lambdas, WRITER_REGION, None)
    stub_global_cluster(
        monkeypatch,
        *[
            {
                "GlobalClusters": [
                    {
                        "GlobalClusterMembers": [
                            member(REGION, writer=True),
                            member(WRITER_REGION, writer=False),
                        ]
                    }
                ]
            }
        ]
        * 2,
    )
    secret_arn = create_secret(sm, account.secret_fields())

    # WHEN the rotation runs THEN it delegated to the home worker (one path, even when local)
    assert rotate(secret_arn, begin_rotation(secret_arn)) == ["created", "password_set", "tested", "finished"]
    assert worker_regions(lambdas) == [(REGION, "setSecret"), (REGION, "testSecret")]
    assert account.accepts(stage_password(sm, secret_arn, "AWSCURRENT"))


def test_a_regional_environment_rotates_on_its_own_cluster_without_asking_rds(
    sm: Any,
    monkeypatch: pytest.MonkeyPatch,
    lambdas: InProcessLambda,
    mariadb: MariaDBServer,
    account: DbAccount,
) -> None:
    # GIVEN no global cluster and one worker; RDS answers nothing (any call would fail the test)
    monkeypatch.delenv("GLOBAL_CLUSTER_ID")
    monkeypatch.setenv("SQL_WORKERS", json.dumps({REGION: WORKERS[REGION]}))
    reset_handler_caches()
    register_worker(lambdas, REGION, mariadb)
    stubber = stub_global_cluster(monkeypatch)
    secret_arn = create_secret(sm, account.secret_fields())

    # WHEN the rotation runs
    assert rotate(secret_arn, begin_rotation(secret_arn)) == ["created", "password_set", "tested", "finished"]

    # THEN the home worker did the SQL and DescribeGlobalClusters was never called
    assert worker_regions(lambdas) == [(REGION, "setSecret"), (REGION, "testSecret")]
    stubber.assert_no_pending_responses()
    assert account.accepts(stage_password(sm, secret_arn, "AWSCURRENT"))


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (
            failing_over(REGION, WRITER_REGION, cluster_prefix="rot-aurora"),
            "is in transition (FailoverState 'failing-over'",
        ),
        (
            {
                "Status": "available",
                "GlobalClusterMembers": [member(REGION, writer=False), member(WRITER_REGION, writer=False)],
            },
            "has 0 writer members",
        ),
    ],
    ids=["failing over", "no writer"],
)
def test_a_global_cluster_in_transition_is_a_retryable_refusal_that_changes_nothing(
    sm: Any,
    account: DbAccount,
    secret_arn: str,
    workers: InProcessLambda,
    monkeypatch: pytest.MonkeyPatch,
    cluster: dict[str, Any],
    expected: str,
) -> None:
    # GIVEN the global cluster is between writers
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"
    stub_global_cluster(monkeypatch, {"GlobalClusters": [cluster]})

    # WHEN setSecret runs THEN it raises (Secrets Manager retries) without invoking any worker
    with pytest.raises(WriterUnavailable, match=re.escape(expected)) as caught:
        invoke("setSecret", secret_arn, token)
    assert "Secrets Manager retries the step" in str(caught.value)
    assert workers.invocations == []
    assert account.accepts(account.password)


def test_a_worker_that_finds_its_cluster_read_only_refuses_and_names_its_region(
    sm: Any, lambdas: InProcessLambda, fresh_mariadb: MariaDBServer
) -> None:
    # GIVEN DescribeGlobalClusters chose WRITER_REGION but its cluster is read-only by now
    account = make_account(fresh_mariadb)
    fresh_mariadb.execute("SET GLOBAL read_only = 1")
    register_worker(lambdas, WRITER_REGION, fresh_mariadb)
    secret_arn = create_secret(sm, account.secret_fields())
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it refuses with WriterMoved and changes nothing
    with pytest.raises(
        WriterMoved, match=f"setSecret failed in the writer's region {WRITER_REGION}"
    ) as caught:
        invoke("setSecret", secret_arn, token)
    assert caught.value.error_type == "NotWriter"
    assert "read-only" in caught.value.worker_message
    assert account.accepts(account.password)

    # AND testSecret, even with a pending password the server knows (set on the old writer and
    # replicated here), refuses to call a reader's acceptance a test of the writer
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)
    fresh_mariadb.execute("SET GLOBAL read_only = 0")
    account.force_password(pending)
    fresh_mariadb.execute("SET GLOBAL read_only = 1")
    with pytest.raises(WriterMoved, match=f"testSecret failed in the writer's region {WRITER_REGION}"):
        invoke("testSecret", secret_arn, token)


def test_a_writer_region_without_a_deployed_worker_is_named(
    sm: Any, account: DbAccount, lambdas: InProcessLambda
) -> None:
    # GIVEN the writer's region has no worker (its stack is not deployed)
    secret_arn = create_secret(sm, account.secret_fields())
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN the error names the worker, its region and the Lambda error
    with pytest.raises(SqlWorkerUnreachable) as caught:
        invoke("setSecret", secret_arn, token)
    message = str(caught.value)
    assert WORKERS[WRITER_REGION] in message
    assert f"in {WRITER_REGION}" in message
    assert "ResourceNotFoundException" in message
    assert account.accepts(account.password)


def test_a_writer_in_a_region_without_a_configured_worker_is_refused(
    sm: Any, account: DbAccount, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL_WORKERS", json.dumps({REGION: WORKERS[REGION]}))
    reset_handler_caches()
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    with pytest.raises(
        NoWorkerForRegion, match=f"the writer is in {WRITER_REGION}.*names workers only for {REGION}"
    ):
        invoke("setSecret", secret_arn, token)


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["unknown version", "AWSPREVIOUS version"])
def test_a_token_that_is_not_staged_for_rotation_is_refused(
    sm: Any, account: DbAccount, secret_arn: str, which: str
) -> None:
    # GIVEN a token that is not an AWSPENDING version of the secret
    if which == "unknown version":
        token = str(uuid.uuid4())
        expected = "has no stage"
    else:
        token = sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
        rotate(secret_arn, begin_rotation(secret_arn))
        assert version_stages(sm, secret_arn)[token] == ["AWSPREVIOUS"]
        expected = "staged AWSPREVIOUS, not AWSPENDING"
    stages_before = version_stages(sm, secret_arn)
    current = stage_password(sm, secret_arn, "AWSCURRENT")

    # WHEN any step is invoked with it THEN it is refused and nothing changes
    for step in STEPS:
        with pytest.raises(VersionNotStaged, match=expected):
            invoke(step, secret_arn, token)
    assert version_stages(sm, secret_arn) == stages_before
    assert account.accepts(current)


@pytest.mark.parametrize("how", ["cancelled", "never configured"])
def test_rotation_disabled_is_refused(sm: Any, account: DbAccount, how: str) -> None:
    # GIVEN a secret whose rotation is off
    secret_arn = create_secret(sm, account.secret_fields(), rotation=how == "cancelled")
    if how == "cancelled":
        sm.cancel_rotate_secret(SecretId=secret_arn)
    token = begin_rotation(secret_arn)

    # WHEN createSecret is invoked THEN it is refused before generating anything
    with pytest.raises(RotationNotEnabled, match="rotation is not enabled"):
        invoke("createSecret", secret_arn, token)
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId=secret_arn, VersionId=token, VersionStage="AWSPENDING")
    assert account.accepts(account.password)


def test_a_secret_for_another_engine_is_refused(sm: Any, account: DbAccount) -> None:
    secret_arn = create_secret(sm, account.secret_fields(engine="postgres"))
    token = begin_rotation(secret_arn)
    with pytest.raises(
        SecretError, match="'engine' must be one of aurora-mysql, mariadb, mysql; got 'postgres'"
    ):
        invoke("createSecret", secret_arn, token)


def test_a_pending_version_for_another_user_is_refused(
    sm: Any, account: DbAccount, secret_arn: str, workers: InProcessLambda
) -> None:
    # GIVEN an AWSPENDING version (created outside this function) that names another user
    token = begin_rotation(secret_arn)
    other = account.secret_fields() | {"username": "someone_else", "password": f"P-{secrets.token_hex(8)}"}
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString=json.dumps(other),
        VersionStages=["AWSPENDING"],
    )
    # WHEN setSecret runs THEN it refuses before reaching any worker
    with pytest.raises(CredentialsMismatch, match="someone_else"):
        invoke("setSecret", secret_arn, token)
    assert workers.invocations == []
    assert account.accepts(account.password)


@pytest.mark.parametrize(
    "event",
    [
        {"SecretId": "arn:x", "Step": "createSecret"},
        {"SecretId": "arn:x", "ClientRequestToken": "t", "Step": "rotateSecret"},
        {"ClientRequestToken": "t", "Step": "setSecret"},
    ],
    ids=["no token", "unknown step", "no secret id"],
)
def test_malformed_events_are_refused(sm: Any, event: dict[str, Any]) -> None:
    with pytest.raises(InvalidRotationEvent):
        rotation_handler.handler(event, FakeLambdaContext())  # type: ignore[arg-type]


def test_the_worker_refuses_a_malformed_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "cluster.invalid")
    monkeypatch.setenv("REGION_NAME", WRITER_REGION)
    sql_handler.get_target.cache_clear()
    try:
        with pytest.raises(
            SqlProtocolError, match="'step' must be one of setSecret, testSecret; got 'dropUser'"
        ):
            sql_handler.handler(
                {"step": "dropUser", "secret_id": "s", "version_id": "v", "username": "u", "pending": "p"},
                FakeLambdaContext(),  # type: ignore[arg-type]
            )
    finally:
        sql_handler.get_target.cache_clear()


# --- environment and connection -------------------------------------------------------


def test_generated_passwords_follow_password_length_and_exclude_characters(
    sm: Any, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a longer password and more excluded characters
    exclude = DEFAULT_EXCLUDE_CHARACTERS + "abcdefghij012345678"
    monkeypatch.setenv("PASSWORD_LENGTH", "41")
    monkeypatch.setenv("EXCLUDE_CHARACTERS", exclude)
    reset_handler_caches()
    token = begin_rotation(secret_arn)

    # WHEN createSecret runs
    assert invoke("createSecret", secret_arn, token) == "created"

    # THEN the pending password honours both
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)
    assert len(pending) == 41
    assert not set(pending) & set(exclude + " ")


@pytest.mark.parametrize(
    ("given", "worker"),
    [
        ("a server certified by a CA the worker does not trust", {"unknown_ca": True}),
        ("a server whose certificate names another host", {"host": WRONG_HOST}),
    ],
)
def test_the_worker_sends_no_password_to_a_database_it_cannot_authenticate(
    sm: Any,
    account: DbAccount,
    lambdas: InProcessLambda,
    mariadb: MariaDBServer,
    given: str,
    worker: dict[str, Any],
) -> None:
    # GIVEN the writer region's worker facing <given>
    assert mariadb.tls is not None
    ca_bundle = str(mariadb.tls.unknown_ca_file) if worker.get("unknown_ca") else None
    register_worker(lambdas, WRITER_REGION, mariadb, ca_bundle=ca_bundle, host=worker.get("host"))
    secret_arn = create_secret(sm, account.secret_fields())
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN verification fails before any login, and nothing changes
    with pytest.raises(SqlWorkerFailed, match=r"TlsVerificationFailed"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


def test_settings_defaults() -> None:
    settings = settings_from_env({})
    assert settings.password_length == 32
    assert settings.exclude_characters == "/@\"'\\"
    assert settings.secrets_manager_endpoint is None


def test_settings_from_a_full_environment() -> None:
    settings = settings_from_env(
        {
            "SECRETS_MANAGER_ENDPOINT": "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com",
            "PASSWORD_LENGTH": "41",
            "EXCLUDE_CHARACTERS": "/@\"'\\`$",
        }
    )
    assert (
        settings.secrets_manager_endpoint == "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com"
    )
    assert settings.password_length == 41
    assert settings.exclude_characters == "/@\"'\\`$"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PASSWORD_LENGTH": "long"}, "PASSWORD_LENGTH must be an integer; got 'long'"),
        (
            {"PASSWORD_LENGTH": "7"},
            "PASSWORD_LENGTH must be between 8 and 41 (RDS master password limits); got 7",
        ),
        ({"PASSWORD_LENGTH": "64"}, "got 64"),
        ({"EXCLUDE_CHARACTERS": "'\\"}, '/ " @ missing'),
        ({"SECRETS_MANAGER_ENDPOINT": "vpce-0abc"}, "must be an https:// URL"),
    ],
)
def test_settings_refuse_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(env)
    assert message in str(caught.value)


def test_delegation_from_a_global_environment() -> None:
    delegation = delegation_from_env(
        {"HOME_REGION": REGION, "GLOBAL_CLUSTER_ID": GLOBAL_ID, "SQL_WORKERS": json.dumps(WORKERS)}
    )
    assert delegation.home_region == REGION
    assert delegation.global_cluster_id == GLOBAL_ID
    assert dict(delegation.workers) == WORKERS
    assert delegation.worker_timeout_seconds == 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SQL_WORKERS": json.dumps(WORKERS)}, "HOME_REGION (or the runtime's AWS_REGION) must name"),
        (
            {"HOME_REGION": REGION},
            "SQL_WORKERS must be a non-empty JSON object region -> worker function ARN",
        ),
        ({"HOME_REGION": REGION, "SQL_WORKERS": "{"}, "SQL_WORKERS must be a JSON object"),
        ({"HOME_REGION": REGION, "SQL_WORKERS": '{"us-east-1": "fn"}'}, 'got \'{"us-east-1": "fn"}\''),
        (
            {"HOME_REGION": REGION, "SQL_WORKERS": json.dumps({WRITER_REGION: WORKERS[WRITER_REGION]})},
            f"must name a worker for the home region {REGION} of a regional environment",
        ),
    ],
    ids=["no home", "no workers", "not json", "not an arn", "regional without home worker"],
)
def test_delegation_refuses_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        delegation_from_env(env)
    assert message in str(caught.value)


def test_worker_target_defaults_and_refusals() -> None:
    target = target_from_env(
        {"DB_HOST": "c.cluster-x.us-west-2.rds.amazonaws.com", "AWS_REGION": WRITER_REGION}
    )
    assert (target.port, target.ca_bundle, target.region) == (3306, RDS_CA_BUNDLE, WRITER_REGION)
    for env, message in [
        ({"REGION_NAME": WRITER_REGION}, "DB_HOST must name this region's cluster endpoint"),
        (
            {"DB_HOST": "h", "REGION_NAME": "r", "DB_TLS": "false"},
            "DB_TLS='false' is not supported: every database connection uses TLS verified",
        ),
        ({"DB_HOST": "h", "REGION_NAME": "r", "DB_PORT": "x"}, "DB_PORT must be an integer; got 'x'"),
        ({"DB_HOST": "h"}, "REGION_NAME (or the runtime's AWS_REGION) must name this region"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            target_from_env(env)


# --- logs -----------------------------------------------------------------------------


def test_logs_are_structured_and_never_contain_a_password(
    sm: Any, account: DbAccount, secret_arn: str, logs: CapturedLogs
) -> None:
    # GIVEN a full rotation, then a second rotation whose testSecret fails
    first = begin_rotation(secret_arn)
    rotate(secret_arn, first)
    second = begin_rotation(secret_arn)
    invoke("createSecret", secret_arn, second)
    with pytest.raises(SqlWorkerFailed):
        invoke("testSecret", secret_arn, second)
    passwords = {
        account.password,
        stage_password(sm, secret_arn, "AWSCURRENT"),
        stage_password(sm, secret_arn, "AWSPENDING", second),
    }
    assert len(passwords) == 3

    # THEN every step left a JSON record with its result, the failure is logged by name
    records = logs.records()
    done = [(r["step"], r["result"]) for r in records if r["message"] == "rotation step done"]
    assert done == [
        ("createSecret", "created"),
        ("setSecret", "password_set"),
        ("testSecret", "tested"),
        ("finishSecret", "finished"),
        ("createSecret", "created"),
    ]
    assert all(r["secret_id"] == secret_arn for r in records)
    assert {r["service"] for r in records} == {"rotation", "rotation-sql"}
    failed = [(f["service"], f["step"], f["error"]) for f in records if "step failed" in f["message"]]
    assert failed == [
        ("rotation-sql", "testSecret", "PendingSecretRejected"),
        ("rotation", "testSecret", "SqlWorkerFailed"),
    ]
    delegated = [
        r["writer_region"]
        for r in records
        if r["message"] == "delegating the SQL step to the writer's region"
    ]
    assert delegated == [WRITER_REGION] * 3
    # AND no password appears anywhere in what was printed
    for password in passwords:
        assert password not in logs.text
