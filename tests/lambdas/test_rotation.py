"""Single-user rotation of the master password against a real MariaDB and moto Secrets Manager.

moto's RotateSecret cannot drive this function here (it runs Lambdas in Docker, and
without a Lambda it moves AWSCURRENT to an empty version), so the tests put the secret
in the state Secrets Manager creates before calling createSecret (`begin_rotation`)
and call the handler with the step events, as Secrets Manager does.
"""

from __future__ import annotations

import io
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pymysql
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from lambda_src.common.db import RDS_CA_BUNDLE
from lambda_src.common.errors import (
    ConfigurationError,
    PasswordExpired,
    SecretError,
    TlsVerificationFailed,
)
from lambda_src.rotation import handler as rotation_handler
from lambda_src.rotation import steps as rotation_steps
from lambda_src.rotation.handler import settings_from_env
from lambda_src.rotation.steps import (
    DEFAULT_EXCLUDE_CHARACTERS,
    CredentialsMismatch,
    InvalidRotationEvent,
    NoWorkingCredentials,
    PasswordChangeFailed,
    PendingSecretRejected,
    RotationNotEnabled,
    VersionNotStaged,
    WriterRequired,
)
from tests.support.mariadb import MariaDBServer
from tests.support.tls import WRONG_HOST, PlainGreetingServer, TestPki

pytestmark = pytest.mark.mariadb

REGION = "us-east-1"
from tests.support.paths import EVENTS  # noqa: E402

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
    invoked_function_arn: str = FUNCTION_ARN
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
            "host": host or self.server.host,
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
    arn = str(
        sm.create_secret(Name=f"aurora-master-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(fields))["ARN"]
    )
    if rotation:
        configure_rotation(arn)
    return arn


def reset_handler_caches() -> None:
    rotation_handler.get_settings.cache_clear()
    rotation_handler.get_secrets_client.cache_clear()


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch, test_pki: TestPki) -> Iterator[Any]:
    """moto Secrets Manager and the function's environment (trusting the test servers' CA)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "DB_CA_BUNDLE": str(test_pki.ca_file),
    }.items():
        monkeypatch.setenv(key, value)
    for key in (
        "AWS_PROFILE",
        "SECRETS_MANAGER_ENDPOINT",
        "DB_HOST",
        "PASSWORD_LENGTH",
        "EXCLUDE_CHARACTERS",
    ):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        reset_handler_caches()
        yield boto3.client("secretsmanager", region_name=REGION)
    reset_handler_caches()


@pytest.fixture
def account(mariadb: MariaDBServer) -> Iterator[DbAccount]:
    account = make_account(mariadb)
    try:
        yield account
    finally:
        drop_account(account)


@pytest.fixture
def secret_arn(sm: Any, account: DbAccount) -> str:
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
    """Everything the function prints (one JSON object per line), as Lambda would ship it."""
    stream = io.StringIO()
    handler = rotation_handler.logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield CapturedLogs(stream)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


# --- the rotation ---------------------------------------------------------------------


def test_full_rotation_changes_the_database_password_and_awscurrent(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    # GIVEN the database accepts the password held by AWSCURRENT
    old_version = sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["VersionId"]
    assert account.accepts(account.password)
    token = begin_rotation(secret_arn)

    # WHEN Secrets Manager runs the four steps
    results = rotate(secret_arn, token)

    # THEN the new password is current, the database accepts it and refuses the old one
    assert results == ["created", "password_set", "tested", "finished"]
    new_password = stage_password(sm, secret_arn, "AWSCURRENT")
    assert new_password != account.password
    assert account.accepts(new_password)
    assert not account.accepts(account.password)
    stages = version_stages(sm, secret_arn)
    assert "AWSCURRENT" in stages[token]
    assert stages[old_version] == ["AWSPREVIOUS"]
    assert stage_password(sm, secret_arn, "AWSPREVIOUS") == account.password
    # and every other field of the secret is carried over unchanged
    current = json.loads(sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"])
    assert current == account.secret_fields() | {"password": new_password}


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

    # THEN it logged in with AWSPREVIOUS and the database now accepts the pending password
    assert result == "password_set"
    pending = stage_password(sm, secret_arn, "AWSPENDING", token)
    assert account.accepts(pending)
    assert not account.accepts(account.password)
    changed = [r for r in logs.records() if r["message"] == "database password changed"]
    assert [r["logged_in_with"] for r in changed] == ["AWSPREVIOUS"]


def test_set_secret_refuses_clearly_when_no_version_can_log_in(
    sm: Any, account: DbAccount, secret_arn: str
) -> None:
    # GIVEN someone changed the password outside rotation
    unknown = f"Manual-{secrets.token_hex(8)}"
    account.force_password(unknown)
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs
    with pytest.raises(NoWorkingCredentials) as caught:
        invoke("setSecret", secret_arn, token)

    # THEN the error says which account and which versions were tried, and nothing changed
    message = str(caught.value)
    assert account.username in message
    assert f"{account.server.host}:{account.server.port}" in message
    assert "AWSPENDING, AWSCURRENT and AWSPREVIOUS" in message
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
    with pytest.raises(PendingSecretRejected) as caught:
        invoke("testSecret", secret_arn, token)

    # THEN the error names the version, the account and the endpoint, never the password
    message = str(caught.value)
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
    monkeypatch.setattr(rotation_steps, "change_own_password", lambda conn, username, password: username)
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it checks the new password and fails instead of reporting success
    with pytest.raises(PasswordChangeFailed, match="ALTER USER succeeded but the database still refuses"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


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


def test_a_pending_version_for_another_user_is_refused(sm: Any, account: DbAccount, secret_arn: str) -> None:
    # GIVEN an AWSPENDING version (created outside this function) that names another user
    token = begin_rotation(secret_arn)
    other = account.secret_fields() | {"username": "someone_else", "password": f"P-{secrets.token_hex(8)}"}
    sm.put_secret_value(
        SecretId=secret_arn,
        ClientRequestToken=token,
        SecretString=json.dumps(other),
        VersionStages=["AWSPENDING"],
    )
    # WHEN setSecret runs THEN it refuses to touch any account
    with pytest.raises(CredentialsMismatch, match="someone_else"):
        invoke("setSecret", secret_arn, token)
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


def test_db_host_overrides_the_host_in_the_secret(
    sm: Any, account: DbAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a secret whose host does not resolve here, and DB_HOST pointing at the server
    secret_arn = create_secret(sm, account.secret_fields(host="writer.aurora.invalid"))
    monkeypatch.setenv("DB_HOST", account.server.host)
    reset_handler_caches()

    # WHEN the rotation runs THEN it reaches the server through DB_HOST
    assert rotate(secret_arn, begin_rotation(secret_arn)) == ["created", "password_set", "tested", "finished"]
    current = json.loads(sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"])
    assert current["host"] == "writer.aurora.invalid"
    assert account.accepts(current["password"])


def test_by_default_only_a_server_certified_by_the_amazon_rds_cas_is_trusted(
    sm: Any, account: DbAccount, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the deployed configuration (no DB_CA_BUNDLE) and a server whose certificate is
    # from a CA outside the Amazon RDS bundle (as any impostor's would be)
    monkeypatch.delenv("DB_CA_BUNDLE")
    reset_handler_caches()
    assert rotation_handler.get_settings().db_ca_bundle == RDS_CA_BUNDLE
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it refuses the server before logging in, and nothing changes
    with pytest.raises(TlsVerificationFailed, match=r"TLS verification failed: .*rds-ca-bundle\.pem"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


def test_a_server_certified_by_an_unknown_ca_is_refused(
    sm: Any, account: DbAccount, secret_arn: str, monkeypatch: pytest.MonkeyPatch, test_pki: TestPki
) -> None:
    # GIVEN the function trusts another CA than the one that signed the server's certificate
    monkeypatch.setenv("DB_CA_BUNDLE", str(test_pki.unknown_ca_file))
    reset_handler_caches()
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it names the failed verification and changes nothing
    with pytest.raises(TlsVerificationFailed, match="no credentials were sent"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


def test_a_certificate_for_another_host_name_is_refused(
    sm: Any, account: DbAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the secret names the server by a name its (trusted) certificate does not carry
    secret_arn = create_secret(sm, account.secret_fields(host=WRONG_HOST))
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN the host name check refuses it, and nothing changes
    with pytest.raises(TlsVerificationFailed, match=f"Hostname mismatch.*'{WRONG_HOST}'"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


def test_a_server_without_tls_receives_no_login(sm: Any, account: DbAccount) -> None:
    # GIVEN the secret's host:port answers like a MySQL server that offers no TLS
    impostor = PlainGreetingServer()
    try:
        fields = {**account.secret_fields(), "port": impostor.port}
        secret_arn = create_secret(sm, fields)
        token = begin_rotation(secret_arn)
        assert invoke("createSecret", secret_arn, token) == "created"

        # WHEN setSecret runs THEN it refuses, and the impostor got no login packet at all
        with pytest.raises(TlsVerificationFailed, match="offers no TLS"):
            invoke("setSecret", secret_arn, token)
    finally:
        impostor.close()
    assert impostor.connections == 1 and impostor.received == []


def test_an_expired_password_is_named_as_such(sm: Any, account: DbAccount, secret_arn: str) -> None:
    # GIVEN the account's current password has expired
    account.server.execute("ALTER USER %s@%s PASSWORD EXPIRE", (account.username, "%"))
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it says the password expired (not "no version can log in")
    with pytest.raises(PasswordExpired, match=f"the password of '{account.username}' has expired"):
        invoke("setSecret", secret_arn, token)


def test_a_read_only_server_is_refused(sm: Any, fresh_mariadb: MariaDBServer) -> None:
    # GIVEN the secret points at a read-only server (an Aurora reader or secondary)
    account = make_account(fresh_mariadb)
    fresh_mariadb.execute("SET GLOBAL read_only = 1")
    secret_arn = create_secret(sm, account.secret_fields())
    token = begin_rotation(secret_arn)
    assert invoke("createSecret", secret_arn, token) == "created"

    # WHEN setSecret runs THEN it says to use the writer and changes nothing
    with pytest.raises(WriterRequired, match="point the secret's 'host' or DB_HOST at the writer"):
        invoke("setSecret", secret_arn, token)
    assert account.accepts(account.password)


def test_settings_defaults() -> None:
    settings = settings_from_env({})
    assert settings.db_ca_bundle == RDS_CA_BUNDLE
    assert settings.password_length == 32
    assert settings.exclude_characters == "/@\"'\\"
    assert settings.secrets_manager_endpoint is None
    assert settings.db_host is None


def test_settings_from_a_full_environment(test_pki: TestPki) -> None:
    settings = settings_from_env(
        {
            "SECRETS_MANAGER_ENDPOINT": "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com",
            "DB_HOST": "writer.example.internal",
            "DB_CA_BUNDLE": str(test_pki.ca_file),
            "PASSWORD_LENGTH": "41",
            "EXCLUDE_CHARACTERS": "/@\"'\\`$",
        }
    )
    assert (
        settings.secrets_manager_endpoint == "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com"
    )
    assert settings.db_host == "writer.example.internal"
    assert settings.db_ca_bundle == str(test_pki.ca_file)
    assert settings.password_length == 41
    assert settings.exclude_characters == "/@\"'\\`$"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_TLS": "false"}, "DB_TLS='false' is not supported: every database connection uses TLS"),
        ({"DB_CA_BUNDLE": "/absent/ca.pem"}, "DB_CA_BUNDLE must name a readable PEM file of CA certificates"),
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


# --- logs -----------------------------------------------------------------------------


def test_logs_are_structured_and_never_contain_a_password(
    sm: Any, account: DbAccount, secret_arn: str, logs: CapturedLogs
) -> None:
    # GIVEN a full rotation, then a second rotation whose testSecret fails
    first = begin_rotation(secret_arn)
    rotate(secret_arn, first)
    second = begin_rotation(secret_arn)
    invoke("createSecret", secret_arn, second)
    with pytest.raises(PendingSecretRejected):
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
    assert all(r["secret_id"] == secret_arn and r["service"] == "rotation" for r in records)
    failed = [r for r in records if r["message"] == "rotation step failed"]
    assert [(f["step"], f["error"], f["client_request_token"]) for f in failed] == [
        ("testSecret", "PendingSecretRejected", second)
    ]
    # AND no password appears anywhere in what was printed
    for password in passwords:
        assert password not in logs.text
