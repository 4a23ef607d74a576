"""Migrator Lambda: status, migrate or repair this environment's application database.

Event: ``{"action": "status" | "migrate" | "repair", "dry_run": false,
"target_version": 7, "version": 3}`` (``target_version`` for migrate, ``version`` for
repair). A refusal or failure raises a named error, so the invocation fails with a
message that names the migration (and for a failed statement, the statement and the
database's error).

The connection uses TLS verified against ``DB_CA_BUNDLE`` (default: the Amazon RDS CA
bundle shipped in the archive); there is no way to turn verification off.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pymysql
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.aws import ClientCache
from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, ca_bundle_from_env, connect
from lambda_src.common.errors import ConfigurationError, LambdaCodeError
from lambda_src.common.secrets import fetch_credentials
from lambda_src.migrator import migrations
from lambda_src.migrator.errors import InvalidRequest, SourceError, VersionNotPublished
from lambda_src.migrator.manifest import Manifest, MigrationSet
from lambda_src.migrator.source import load_migration_set, normalize_prefix, read_manifest

logger = Logger(service="migrator")

ACTIONS = ("status", "migrate", "repair")
# Keep this much of the Lambda's budget to record a failed statement before the runtime stops us.
RECORD_MARGIN_SECONDS = 15
DEFAULT_STATEMENT_TIMEOUT = 600.0
aws = ClientCache()


@dataclass(frozen=True)
class Settings:
    db_host: str
    db_port: int
    db_name: str
    secret_arn: str
    bucket: str
    prefix: str
    version_parameter: str
    environment: str | None
    lock_timeout: float
    ddl_lock_wait: int
    db_ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the database's certificate must chain to (``DB_CA_BUNDLE``); TLS is
    always on and verified. Defaults to the shipped Amazon RDS bundle."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [
            name
            for name in (
                "DB_HOST",
                "DB_NAME",
                "MIGRATOR_SECRET_ARN",
                "MIGRATIONS_BUCKET",
                "MIGRATIONS_PREFIX",
                "VERSION_PARAMETER",
            )
            if not env.get(name)
        ]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        try:
            return cls(
                db_host=env["DB_HOST"],
                db_port=int(env.get("DB_PORT", "3306")),
                db_name=env["DB_NAME"],
                secret_arn=env["MIGRATOR_SECRET_ARN"],
                bucket=env["MIGRATIONS_BUCKET"],
                prefix=normalize_prefix(env["MIGRATIONS_PREFIX"]),
                version_parameter=env["VERSION_PARAMETER"],
                environment=env.get("ENVIRONMENT") or None,
                lock_timeout=float(env.get("LOCK_TIMEOUT_SECONDS", "10")),
                ddl_lock_wait=int(env.get("DDL_LOCK_WAIT_SECONDS", "60")),
                db_ca_bundle=ca_bundle_from_env(env),
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"DB_PORT, LOCK_TIMEOUT_SECONDS and DDL_LOCK_WAIT_SECONDS must be numbers: {exc}"
            ) from None


@functools.cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@dataclass(frozen=True)
class Request:
    action: str
    dry_run: bool = False
    target_version: int | None = None
    version: int | None = None

    @classmethod
    def parse(cls, event: Any) -> Request:
        if not isinstance(event, dict):
            raise InvalidRequest(f"event must be a JSON object, got {type(event).__name__}")
        action = event.get("action", "status")
        if action not in ACTIONS:
            raise InvalidRequest(f"'action' must be one of {', '.join(ACTIONS)}; got {action!r}")
        dry_run = event.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidRequest(f"'dry_run' must be true or false; got {dry_run!r}")
        target, version = (_version_field(event, name) for name in ("target_version", "version"))
        if action == "repair" and version is None:
            raise InvalidRequest("repair needs 'version': the failed migration's version number")
        return cls(action=action, dry_run=dry_run, target_version=target, version=version)


def _version_field(event: dict[str, Any], name: str) -> int | None:
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"{name!r} must be a positive integer; got {value!r}")
    return value


@logger.inject_lambda_context
def handler(event: Any, context: Any) -> dict[str, Any]:
    request = Request.parse(event)
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    applied_by = f"{context.function_name}/{context.aws_request_id}" if context else "migrator"
    try:
        result = run(
            request,
            settings(),
            s3=aws("s3"),
            ssm=aws("ssm"),
            secrets=aws("secretsmanager"),
            applied_by=applied_by,
            statement_timeout=statement_budget(remaining),
        )
    except LambdaCodeError as exc:
        logger.error(
            "migrator stopped",
            extra={"action": request.action, "error_type": type(exc).__name__, "error": str(exc)},
        )
        raise
    logger.info(
        "migrator finished",
        extra={
            "action": request.action,
            "dry_run": request.dry_run,
            "version": result.get("version"),
            "applied": [m["filename"] for m in result.get("applied", []) if request.action == "migrate"],
        },
    )
    return result


def statement_budget(remaining_seconds: float | None) -> float:
    """Read timeout for migration statements: the Lambda's budget minus time to record a failure."""
    if remaining_seconds is None:
        return DEFAULT_STATEMENT_TIMEOUT
    return max(5.0, remaining_seconds - RECORD_MARGIN_SECONDS)


def run(
    request: Request,
    cfg: Settings,
    *,
    s3: Any,
    ssm: Any,
    secrets: Any,
    applied_by: str = "migrator",
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
) -> dict[str, Any]:
    """Carry out one request against the environment's database; plain function for tests."""
    manifest: Manifest | None = None
    migration_set: MigrationSet | None = None
    if request.action != "repair":
        manifest = read_manifest(s3, cfg.bucket, cfg.prefix)
        if manifest is None and request.action == "migrate":
            raise SourceError(f"no migration set published at s3://{cfg.bucket}/{cfg.prefix}manifest.json")
        if manifest is not None:
            if cfg.environment and manifest.environment != cfg.environment:
                raise SourceError(
                    f"s3://{cfg.bucket}/{cfg.prefix}manifest.json was published for environment "
                    f"{manifest.environment!r}, this is {cfg.environment!r}"
                )
            migration_set = load_migration_set(s3, cfg.bucket, cfg.prefix, manifest)
    credentials = fetch_credentials(secrets, cfg.secret_arn)
    endpoint = Endpoint(
        host=cfg.db_host,
        port=cfg.db_port,
        user=credentials.username,
        password=credentials.password,
        database=cfg.db_name,
        connect_timeout=5,
        read_timeout=statement_timeout,
        write_timeout=30,
        ca_bundle=cfg.db_ca_bundle,
    )
    # The bookkeeping connection: holds the lock, writes the records (autocommit).
    conn = connect(endpoint)
    try:
        if request.action == "status":
            result = migrations.status(conn, migration_set)
        elif request.action == "migrate":
            assert migration_set is not None
            result = migrations.migrate(
                conn,
                migration_set,
                target_version=request.target_version,
                dry_run=request.dry_run,
                lock_timeout=cfg.lock_timeout,
                applied_by=applied_by,
                on_finish=lambda version: publish_version(ssm, cfg.version_parameter, version),
                open_session=lambda: migration_session(endpoint, cfg.ddl_lock_wait),
                log=lambda message, **fields: logger.info(message, extra=fields),
            )
        else:
            assert request.version is not None
            result = migrations.repair(
                conn, request.version, dry_run=request.dry_run, lock_timeout=cfg.lock_timeout
            )
    finally:
        conn.close()
    result["environment"] = cfg.environment
    if manifest is not None:
        result["published"] = {
            "source": manifest.source,
            "published_at": manifest.published_at,
            "latest_version": migration_set.latest_version if migration_set else 0,
        }
    return result


def migration_session(endpoint: Endpoint, ddl_lock_wait: int) -> pymysql.Connection:
    """The session one migration's statements run on, apart from the bookkeeping connection."""
    session = connect(endpoint)
    try:
        with session.cursor() as cur:
            # An ALTER waiting for a metadata lock held by a long transaction must give up
            # (and be recorded) rather than stall every query queued behind it.
            cur.execute("SET SESSION lock_wait_timeout = %s", (ddl_lock_wait,))
    except BaseException:
        session.close()
        raise
    return session


def publish_version(ssm: Any, name: str, version: int) -> None:
    try:
        ssm.put_parameter(Name=name, Value=str(version), Type="String", Overwrite=True)
    except (ClientError, BotoCoreError) as exc:
        raise VersionNotPublished(
            f"schema is at version {version} but SSM parameter {name} was not updated ({exc}); "
            "run migrate again to publish it"
        ) from exc
