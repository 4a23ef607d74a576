"""The four steps of single-user rotation: Secrets Manager work here, SQL on the writer's worker.

Modelled on AWS's ``SecretsManagerRDSMySQLRotationSingleUser`` template: the user's own
password is changed, so the old password stops working as soon as ``setSecret`` succeeds.
``createSecret`` and ``finishSecret`` are Secrets Manager calls in the home region;
``setSecret`` and ``testSecret`` read the versions here and hand the SQL to the rotation
SQL worker of the writer's region (``lambda_src.rotation.writer``). Every step can run
again after it has succeeded (Secrets Manager retries steps) and then changes nothing.

A new version is written once, to the primary secret; Secrets Manager replicates it to
every replica region, encrypting with each replica's key *as the caller*: this function's
role needs kms:Encrypt and kms:GenerateDataKey on every replica key (AWS_FACTS.md).

Passwords never reach a log line or an exception message: errors name the secret,
the version, the stage, the account and the endpoint, never a secret value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.errors import SecretError
from lambda_src.common.rotation_sql import Login, SqlRequest, SqlResult, SqlStep
from lambda_src.common.secrets import DbCredentials, parse_secret
from lambda_src.rotation.errors import (
    CredentialsMismatch,
    InvalidRotationEvent,
    RotationNotEnabled,
    SecretVersionMissing,
    VersionNotStaged,
)

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

_ACCESS_DENIED = 1045  # ER_ACCESS_DENIED_ERROR: wrong password (or unknown user)


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
    """How to reach Secrets Manager and what to generate, read once from the environment."""

    secrets_manager_endpoint: str | None = None
    """Secrets Manager endpoint URL. Defaults to None (the regional endpoint)."""
    password_length: int = 32
    """Length of generated passwords, 8 to 41. Defaults to 32."""
    exclude_characters: str = DEFAULT_EXCLUDE_CHARACTERS
    """Characters generated passwords never contain. Defaults to ``/@"'\\``."""


SqlDelegate = Callable[[SqlRequest], SqlResult]
"""Runs a SQL step on the writer (``SqlWorkers.run``)."""


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


def set_secret(client: Any, secret_id: str, token: str, delegate: SqlDelegate) -> StepResult:
    """Make the writer accept the AWSPENDING password (the worker logs in with pending, current, previous)."""
    current = read_version(client, secret_id, AWSCURRENT)
    pending = read_version(client, secret_id, AWSPENDING, token=token)
    _require_same_account(pending, current, secret_id)
    logins = [Login(stage=AWSCURRENT, password=current.credentials.password)]
    previous = _read_optional(client, secret_id, AWSPREVIOUS)
    if previous is not None:
        _require_same_account(pending, previous, secret_id)
        logins.append(Login(stage=AWSPREVIOUS, password=previous.credentials.password))
    result = delegate(_sql_request(SqlStep.SET, secret_id, token, pending, tuple(logins)))
    logger.info(
        "database password set on the writer",
        extra={
            "version_id": token,
            "result": result.result,
            "writer_region": result.region,
            "logged_in_with": result.logged_in_with,
            "account": result.account,
        },
    )
    return StepResult.ALREADY_SET if result.result == StepResult.ALREADY_SET else StepResult.PASSWORD_SET


def _sql_request(
    step: SqlStep, secret_id: str, token: str, pending: SecretVersion, logins: tuple[Login, ...]
) -> SqlRequest:
    return SqlRequest(
        step=step,
        secret_id=secret_id,
        version_id=token,
        username=pending.credentials.username,
        dbname=pending.credentials.dbname or None,
        pending=pending.credentials.password,
        logins=logins,
    )


def _require_same_account(pending: SecretVersion, other: SecretVersion, secret_id: str) -> None:
    if pending.account != other.account:
        raise CredentialsMismatch(
            f"{secret_id}: the AWSPENDING version names user/host/port {pending.account!r} but the "
            f"{other.stage} version names {other.account!r}; single-user rotation changes one "
            "account's password and never moves it"
        )


def test_secret(client: Any, secret_id: str, token: str, delegate: SqlDelegate) -> StepResult:
    """Have the writer's worker log in with the AWSPENDING password and run a query."""
    pending = read_version(client, secret_id, AWSPENDING, token=token)
    result = delegate(_sql_request(SqlStep.TEST, secret_id, token, pending, ()))
    logger.info(
        "AWSPENDING password works on the writer", extra={"version_id": token, "writer_region": result.region}
    )
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


def run_step(
    client: Any, event: RotationEvent, settings: RotationSettings, delegate: SqlDelegate
) -> StepResult:
    """Check the staging, then run the event's step."""
    versions = check_staging(client, event.secret_id, event.token)
    if AWSCURRENT in versions[event.token]:
        # A retry after finishSecret (or a rotation of the current version): nothing to do.
        logger.info("version is already AWSCURRENT", extra={"version_id": event.token})
        return StepResult.ALREADY_CURRENT
    if event.step is Step.CREATE:
        return create_secret(client, event.secret_id, event.token, settings)
    if event.step is Step.SET:
        return set_secret(client, event.secret_id, event.token, delegate)
    if event.step is Step.TEST:
        return test_secret(client, event.secret_id, event.token, delegate)
    return finish_secret(client, event.secret_id, event.token, versions)
