"""The four steps of single-user rotation, as plain functions of a client and settings.

Modelled on AWS's ``SecretsManagerRDSMySQLRotationSingleUser`` template: the function
logs in as the user and changes that user's own password, so the old password stops
working as soon as ``setSecret`` succeeds. Every step can run again after it has
succeeded (Secrets Manager retries steps) and then changes nothing.

Passwords never reach a log line or an exception message: errors name the secret,
the version, the stage, the account and the endpoint, never a secret value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pymysql
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, connect
from lambda_src.common.errors import (
    AuthenticationFailed,
    DatabaseUnavailable,
    LambdaCodeError,
    PasswordExpired,
    SecretError,
)
from lambda_src.common.secrets import DbCredentials, parse_secret

SERVICE = "rotation"
logger = Logger(service=SERVICE, child=True)

AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"
AWSPREVIOUS = "AWSPREVIOUS"

MYSQL_ENGINES = frozenset({"mysql", "aurora-mysql", "mariadb"})
"""Values of the secret's ``engine`` field this function rotates."""

RDS_FORBIDDEN_PASSWORD_CHARACTERS = '/"@'  # noqa: S105 - a character set, not a password
"""RDS refuses these in a master password (CreateDBCluster ``MasterUserPassword``)."""

DEFAULT_EXCLUDE_CHARACTERS = "/@\"'\\"
"""AWS's template default: breaks RDS rules, SQL string literals or connection URLs.

Spaces are excluded separately (``IncludeSpace=False``).
"""

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 41
"""RDS accepts Aurora MySQL master passwords of 8 to 41 characters (CreateDBCluster and
ModifyDBCluster ``MasterUserPassword``); staying inside keeps the RDS API usable to reset
the password by hand."""


# --- errors --------------------------------------------------------------------------


class RotationError(LambdaCodeError):
    """A rotation step cannot proceed; Secrets Manager retries it, then reports failure."""


class InvalidRotationEvent(RotationError):
    """The event lacks SecretId or ClientRequestToken, or names an unknown Step."""


class RotationNotEnabled(RotationError):
    """The secret is not configured for rotation (never, or rotation was cancelled)."""


class VersionNotStaged(RotationError):
    """The event's token is not a version staged AWSPENDING (or AWSCURRENT) of the secret."""


class SecretVersionMissing(SecretError):
    """The requested version/stage of the secret holds no value (yet)."""


class CredentialsMismatch(RotationError):
    """The pending version names another user or server than the version that logs in."""


class NoWorkingCredentials(RotationError):
    """setSecret could log in with none of AWSPENDING, AWSCURRENT and AWSPREVIOUS."""


class WriterRequired(RotationError):
    """The server is read-only (an Aurora reader or a secondary cluster)."""


class PasswordChangeFailed(RotationError):
    """ALTER USER failed, or the server still refuses the new password after it."""


class PendingSecretRejected(RotationError):
    """testSecret: the server refuses the AWSPENDING password."""


# --- inputs --------------------------------------------------------------------------


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class StepResult(StrEnum):
    CREATED = "created"
    PENDING_EXISTS = "pending_exists"
    PASSWORD_SET = "password_set"  # noqa: S105 - a result name
    ALREADY_SET = "already_set"
    TESTED = "tested"
    FINISHED = "finished"
    ALREADY_CURRENT = "already_current"


@dataclass(frozen=True)
class RotationEvent:
    """What Secrets Manager sends. Other keys (``RotationToken``) are ignored."""

    secret_id: str
    token: str
    step: Step

    @classmethod
    def from_dict(cls, event: Mapping[str, Any]) -> RotationEvent:
        if not isinstance(event, Mapping):
            raise InvalidRotationEvent(f"rotation event must be a JSON object, got {type(event).__name__}")
        missing = [key for key in ("SecretId", "ClientRequestToken", "Step") if not event.get(key)]
        if missing:
            raise InvalidRotationEvent(f"rotation event lacks {', '.join(missing)}")
        step = str(event["Step"])
        try:
            parsed_step = Step(step)
        except ValueError:
            allowed = ", ".join(s.value for s in Step)
            raise InvalidRotationEvent(f"'Step' must be one of {allowed}; got {step!r}") from None
        return cls(secret_id=str(event["SecretId"]), token=str(event["ClientRequestToken"]), step=parsed_step)


@dataclass(frozen=True, kw_only=True)
class RotationSettings:
    """How to reach Secrets Manager and the database, read once from the environment."""

    secrets_manager_endpoint: str | None = None
    """Secrets Manager endpoint URL (a VPC endpoint without private DNS). Defaults to None
    (the regional endpoint, which private DNS resolves to the VPC endpoint)."""
    db_host: str | None = None
    """Host to connect to instead of the secret's ``host``. Defaults to None."""
    db_ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the database's certificate must chain to; TLS is always on and
    verified. Defaults to the shipped Amazon RDS bundle."""
    password_length: int = 32
    """Length of generated passwords, 8 to 41. Defaults to 32."""
    exclude_characters: str = DEFAULT_EXCLUDE_CHARACTERS
    """Characters generated passwords never contain. Defaults to ``/@"'\\``."""
    connect_timeout: float = 3.0
    """Seconds for TCP connect, TLS and login. Defaults to 3."""
    read_timeout: float = 5.0
    """Seconds to wait for any answer, ALTER USER included. Defaults to 5."""


# --- secret versions ------------------------------------------------------------------


@dataclass(frozen=True)
class SecretVersion:
    """One parsed version of the secret. Its values stay out of ``repr`` and logs."""

    stage: str
    version_id: str
    fields: dict[str, Any] = field(repr=False)
    credentials: DbCredentials = field(repr=False)

    @property
    def account(self) -> tuple[str, str | None, int]:
        """Who and where: (username, host, port), compared across versions."""
        return (self.credentials.username, self.credentials.host, self.credentials.port or 3306)


def read_version(client: Any, secret_id: str, stage: str, *, token: str | None = None) -> SecretVersion:
    """Read and validate one version; ``token`` also checks that this version has ``stage``."""
    request: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
    if token is not None:
        request["VersionId"] = token
    label = f"{stage} version {token}" if token else f"{stage} version"
    try:
        response = client.get_secret_value(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise SecretVersionMissing(f"{secret_id}: no value stored for the {label}") from None
        raise SecretError(f"{secret_id}: cannot read the {label} ({_aws_error(exc)})") from None
    except BotoCoreError as exc:
        raise SecretError(f"{secret_id}: cannot read the {label} ({exc})") from None
    secret_string = response.get("SecretString")
    if not secret_string:
        raise SecretError(f"{secret_id}: the {label} has no SecretString")
    credentials = parse_secret(secret_string, secret_id=f"{secret_id} ({label})")
    fields: dict[str, Any] = json.loads(secret_string)
    engine = fields.get("engine")
    if engine not in MYSQL_ENGINES:
        allowed = ", ".join(sorted(MYSQL_ENGINES))
        raise SecretError(f"{secret_id} ({label}): 'engine' must be one of {allowed}; got {engine!r}")
    return SecretVersion(
        stage=stage, version_id=response["VersionId"], fields=fields, credentials=credentials
    )


def _read_optional(client: Any, secret_id: str, stage: str) -> SecretVersion | None:
    try:
        return read_version(client, secret_id, stage)
    except SecretVersionMissing:
        return None
    except SecretError as exc:
        # AWSPREVIOUS is only a fallback: an unreadable one must not block the rotation.
        logger.warning("ignoring unusable secret version", extra={"stage": stage, "reason": str(exc)})
        return None


def _aws_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"


# --- database ------------------------------------------------------------------------


def endpoint_for(version: SecretVersion, settings: RotationSettings) -> Endpoint:
    creds = version.credentials
    host = settings.db_host or creds.host
    if not host:
        raise SecretError(
            f"the {version.stage} version {version.version_id} has no 'host' and DB_HOST is not set"
        )
    return Endpoint(
        host=host,
        port=creds.port or 3306,
        user=creds.username,
        password=creds.password,
        database=creds.dbname or None,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        write_timeout=settings.read_timeout,
        ca_bundle=settings.db_ca_bundle,
    )


def try_login(version: SecretVersion, settings: RotationSettings) -> pymysql.Connection | None:
    """A connection, or None when the server refuses this password.

    Anything else raises DatabaseUnavailable, named by its subclass: TlsVerificationFailed
    (the server could not be authenticated: no password was sent), PasswordExpired (the
    password is right but expired: another version's would not help) or plain (unreachable,
    unknown database). Trying other passwords cannot help and would hide the cause.
    """
    try:
        return connect(endpoint_for(version, settings))
    except AuthenticationFailed as exc:
        if isinstance(exc, PasswordExpired):
            raise
        return None


def _where(version: SecretVersion, settings: RotationSettings) -> str:
    endpoint = endpoint_for(version, settings)
    return f"user {endpoint.user!r} at {endpoint.host}:{endpoint.port}"


def _redact(text: str, secret: str) -> str:
    """Server messages can quote the statement (syntax errors do): hide the password."""
    for form in {secret, pymysql.converters.escape_string(secret)}:
        if form:
            text = text.replace(form, "****")
    return text


def change_own_password(conn: pymysql.Connection, username: str, new_password: str) -> str:
    """ALTER USER the logged-in account to ``new_password``; returns the account changed.

    The account is named explicitly from CURRENT_USER(): MariaDB 10.11 answers OK to
    ``ALTER USER CURRENT_USER() IDENTIFIED BY ...`` and leaves the password unchanged.
    MariaDB requires CREATE USER even for one's own account; the RDS master user has it.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), @@GLOBAL.read_only, @@GLOBAL.innodb_read_only")
        row = cur.fetchone()
        account, read_only, innodb_read_only = str(row[0]), int(row[1]), int(row[2])
        user, _, host = account.rpartition("@")
        if user != username:
            raise CredentialsMismatch(
                f"the server authenticated {account!r}, not the secret's user {username!r}; "
                "refusing to change another account's password"
            )
        if read_only or innodb_read_only:
            raise WriterRequired(
                f"the server is read-only (read_only={read_only}, innodb_read_only={innodb_read_only}): "
                "it is an Aurora reader or a secondary cluster; point the secret's 'host' or DB_HOST "
                "at the writer (the global writer endpoint follows switchover and failover)"
            )
        try:
            # Parameters are quoted by pymysql as string literals: 'user'@'host' is valid
            # account-name syntax on MySQL 8 and MariaDB, whatever the characters.
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, new_password))
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else "?"
            message = _redact(str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__, new_password)
            raise PasswordChangeFailed(
                f"ALTER USER for {account!r} failed: MySQL error {code}: {message}"
            ) from None
    return account


# --- steps ---------------------------------------------------------------------------


def check_staging(client: Any, secret_id: str, token: str) -> Mapping[str, list[str]]:
    """Refuse unless rotation is on and ``token`` is staged; returns VersionIdsToStages.

    Stricter than AWS's template, which lets an absent ``RotationEnabled`` through:
    Secrets Manager only calls this function for a secret configured for rotation.
    """
    try:
        metadata = client.describe_secret(SecretId=secret_id)
    except ClientError as exc:
        raise SecretError(f"{secret_id}: DescribeSecret failed ({_aws_error(exc)})") from None
    except BotoCoreError as exc:
        raise SecretError(f"{secret_id}: DescribeSecret failed ({exc})") from None
    if metadata.get("RotationEnabled") is not True:
        raise RotationNotEnabled(
            f"{secret_id}: rotation is not enabled for this secret "
            f"(RotationEnabled={metadata.get('RotationEnabled')!r}); configure rotation before invoking"
        )
    versions: Mapping[str, list[str]] = metadata.get("VersionIdsToStages") or {}
    if token not in versions:
        raise VersionNotStaged(f"{secret_id}: version {token} has no stage; it is not being rotated")
    stages = versions[token]
    if AWSCURRENT not in stages and AWSPENDING not in stages:
        raise VersionNotStaged(
            f"{secret_id}: version {token} is staged {', '.join(stages) or 'nothing'}, not AWSPENDING; "
            "refusing to rotate it"
        )
    return versions


def create_secret(client: Any, secret_id: str, token: str, settings: RotationSettings) -> StepResult:
    """Store a new password as the AWSPENDING version ``token``, unless it already exists."""
    current = read_version(client, secret_id, AWSCURRENT)
    try:
        read_version(client, secret_id, AWSPENDING, token=token)
    except SecretVersionMissing:
        pass
    else:
        logger.info("AWSPENDING version already stored", extra={"version_id": token})
        return StepResult.PENDING_EXISTS
    try:
        password = client.get_random_password(
            PasswordLength=settings.password_length,
            ExcludeCharacters=settings.exclude_characters,
            IncludeSpace=False,
            RequireEachIncludedType=True,
        )["RandomPassword"]
        client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=json.dumps({**current.fields, "password": password}),
            VersionStages=[AWSPENDING],
        )
    except ClientError as exc:
        raise SecretError(
            f"{secret_id}: cannot store the AWSPENDING version {token} ({_aws_error(exc)})"
        ) from None
    except BotoCoreError as exc:
        raise SecretError(f"{secret_id}: cannot store the AWSPENDING version {token} ({exc})") from None
    logger.info(
        "stored new AWSPENDING version",
        extra={"version_id": token, "password_length": settings.password_length},
    )
    return StepResult.CREATED


def set_secret(client: Any, secret_id: str, token: str, settings: RotationSettings) -> StepResult:
    """Make the database accept the AWSPENDING password (log in with pending, current, previous)."""
    current = read_version(client, secret_id, AWSCURRENT)
    pending = read_version(client, secret_id, AWSPENDING, token=token)

    conn = try_login(pending, settings)
    if conn is not None:
        conn.close()
        logger.info("database already accepts the AWSPENDING password", extra={"version_id": token})
        return StepResult.ALREADY_SET

    _require_same_account(pending, current, secret_id)
    used = current
    conn = try_login(current, settings)
    if conn is None:
        previous = _read_optional(client, secret_id, AWSPREVIOUS)
        if previous is not None:
            _require_same_account(pending, previous, secret_id)
            used = previous
            conn = try_login(previous, settings)
    if conn is None:
        raise NoWorkingCredentials(
            f"{secret_id}: the database refuses {_where(pending, settings)} with the AWSPENDING, AWSCURRENT "
            "and AWSPREVIOUS passwords; the password was changed outside rotation: put the working "
            "password in AWSCURRENT and rotate again"
        )
    try:
        account = change_own_password(conn, pending.credentials.username, pending.credentials.password)
    finally:
        conn.close()

    check = try_login(pending, settings)
    if check is None:
        raise PasswordChangeFailed(
            f"{secret_id}: ALTER USER succeeded but the database still refuses {_where(pending, settings)} "
            f"with the AWSPENDING password of version {token}"
        )
    check.close()
    logger.info(
        "database password changed",
        extra={"version_id": token, "logged_in_with": used.stage, "account": account},
    )
    return StepResult.PASSWORD_SET


def _require_same_account(pending: SecretVersion, other: SecretVersion, secret_id: str) -> None:
    if pending.account != other.account:
        raise CredentialsMismatch(
            f"{secret_id}: the AWSPENDING version names user/host/port {pending.account!r} but the "
            f"{other.stage} version names {other.account!r}; single-user rotation changes one "
            "account's password and never moves it"
        )


def test_secret(client: Any, secret_id: str, token: str, settings: RotationSettings) -> StepResult:
    """Log in with the AWSPENDING password and run a query."""
    pending = read_version(client, secret_id, AWSPENDING, token=token)
    conn = try_login(pending, settings)
    if conn is None:
        raise PendingSecretRejected(
            f"{secret_id}: the database refuses {_where(pending, settings)} with the AWSPENDING password "
            f"of version {token}; AWSCURRENT is unchanged (setSecret did not take effect)"
        )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT NOW()")
            if cur.fetchone() is None:
                raise PendingSecretRejected(
                    f"{secret_id}: SELECT NOW() returned no row as {_where(pending, settings)}"
                )
    except pymysql.err.MySQLError as exc:
        raise DatabaseUnavailable(
            f"{secret_id}: SELECT NOW() failed as {_where(pending, settings)}: {exc}"
        ) from None
    finally:
        conn.close()
    logger.info("AWSPENDING password works", extra={"version_id": token})
    return StepResult.TESTED


# pytest would otherwise collect the step function above as a test.
test_secret.__test__ = False  # type: ignore[attr-defined]


def finish_secret(client: Any, secret_id: str, token: str, versions: Mapping[str, list[str]]) -> StepResult:
    """Move AWSCURRENT to ``token``; Secrets Manager then labels the old one AWSPREVIOUS."""
    current_version = next((vid for vid, stages in versions.items() if AWSCURRENT in stages), None)
    if current_version == token:
        logger.info("version is already AWSCURRENT", extra={"version_id": token})
        return StepResult.ALREADY_CURRENT
    try:
        client.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage=AWSCURRENT,
            MoveToVersionId=token,
            RemoveFromVersionId=current_version,
        )
    except ClientError as exc:
        raise SecretError(
            f"{secret_id}: cannot move AWSCURRENT to version {token} ({_aws_error(exc)})"
        ) from None
    except BotoCoreError as exc:
        raise SecretError(f"{secret_id}: cannot move AWSCURRENT to version {token} ({exc})") from None
    logger.info("moved AWSCURRENT", extra={"version_id": token, "previous_version_id": current_version})
    return StepResult.FINISHED


def run_step(client: Any, event: RotationEvent, settings: RotationSettings) -> StepResult:
    """Check the staging, then run the event's step."""
    versions = check_staging(client, event.secret_id, event.token)
    if AWSCURRENT in versions[event.token]:
        # A retry after finishSecret (or a rotation of the current version): nothing to do.
        logger.info("version is already AWSCURRENT", extra={"version_id": event.token})
        return StepResult.ALREADY_CURRENT
    if event.step is Step.CREATE:
        return create_secret(client, event.secret_id, event.token, settings)
    if event.step is Step.SET:
        return set_secret(client, event.secret_id, event.token, settings)
    if event.step is Step.TEST:
        return test_secret(client, event.secret_id, event.token, settings)
    return finish_secret(client, event.secret_id, event.token, versions)
