"""Migrator Lambda: status, migrate or repair this environment's application database, on the
current writer, through the migrator worker of the writer's region.

Event: ``{"action": "status" | "migrate" | "repair", "dry_run": false,
"target_version": 7, "version": 3}`` (``target_version`` for migrate, ``version`` for
repair). A refusal or failure raises a named error, so the invocation fails with a
message that names the migration (and for a failed statement, the statement and the
database's error).

Runs in the home region, outside any VPC, and never connects to a database: it reads the
published set from its own region's bucket (checking every checksum) and the migrator
user's secret, finds the writer (DescribeGlobalClusters; a regional environment's writer is
the home cluster) and invokes, synchronously, the migrator worker of the writer's region
(``lambda_src.migrator_worker``) with the files and the credentials
(``lambda_src.common.migrator_sql``); the worker applies them on its own region's cluster,
over TLS verified against its CA bundle. The function publishes the version the run left
to SSM, after a failure too (the worker answers a run that stopped with the version it
reached). The worker's errors are raised under their own names (``MigrationFailed``,
``LockNotAcquired``, ...), their messages naming the writer's region. A set too large for
one synchronous invocation (6 MB) is refused before anything is invoked.

Environment (read once per container):

* ``DB_NAME``, ``MIGRATOR_SECRET_ARN``, ``MIGRATIONS_BUCKET``, ``MIGRATIONS_PREFIX``,
  ``VERSION_PARAMETER``: the database, the migrator user's secret, where the set is
  published and the parameter the version goes to. Required. ``ENVIRONMENT``: refuse a set
  published for another environment.
* ``LOCK_TIMEOUT_SECONDS`` (10), ``DDL_LOCK_WAIT_SECONDS`` (60): passed to the worker.
* ``HOME_REGION``, ``GLOBAL_CLUSTER_ID``, ``SQL_WORKERS`` (region -> migrator worker ARN):
  as for bootstrap (``lambda_src.common.writer.delegation_from_env``).
* ``WORKER_TIMEOUT_SECONDS``: the workers' function timeout; the Invoke waits a little
  longer. Defaults to 840; the function's own timeout (900) leaves PUBLISH_MARGIN_SECONDS
  to publish the version.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common import errors as common_errors
from lambda_src.common.aws import ClientCache
from lambda_src.common.bootstrap_sql import Account
from lambda_src.common.errors import ConfigurationError, LambdaCodeError
from lambda_src.common.migration import errors as migration_errors
from lambda_src.common.migration.errors import InvalidRequest, SourceError, VersionNotPublished
from lambda_src.common.migration.manifest import Manifest, MigrationSet
from lambda_src.common.migrator_sql import (
    ACTIONS,
    FAILED,
    MigrationFile,
    MigrationRequest,
    result_from_payload,
)
from lambda_src.common.secrets import fetch_credentials
from lambda_src.common.writer import (
    LOOKUP_CONFIG,
    Delegation,
    SqlWorkerFailed,
    SqlWorkers,
    WriterMoved,
    delegation_from_env,
    invoke_config,
)
from lambda_src.migrator.source import load_migration_set, normalize_prefix, read_manifest

logger = Logger(service="migrator")

KIND = "migrator worker"
RETRY = "run `infra db` again"
WORKER_TIMEOUT_SECONDS = 840
"""Default of WORKER_TIMEOUT_SECONDS (the deployed workers' timeout, components.lambdas)."""
PUBLISH_MARGIN_SECONDS = 20
"""Kept of the function's remaining time, when it invokes the worker, to publish the version."""
DEFAULT_TIME_BUDGET = 600.0
aws = ClientCache()

WORKER_ERRORS: dict[str, type[LambdaCodeError]] = {
    name: cls
    for module in (migration_errors, common_errors)
    for name, cls in vars(module).items()
    if isinstance(cls, type) and issubclass(cls, LambdaCodeError) and cls is not LambdaCodeError
}
"""The worker's errors the function raises under their own names (errorType unchanged for `infra db`)."""


@dataclass(frozen=True)
class Settings:
    db_name: str
    secret_arn: str
    bucket: str
    prefix: str
    version_parameter: str
    environment: str | None
    lock_timeout: float
    ddl_lock_wait: int
    delegation: Delegation

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [
            name
            for name in (
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
            lock_timeout = float(env.get("LOCK_TIMEOUT_SECONDS", "10"))
            ddl_lock_wait = int(env.get("DDL_LOCK_WAIT_SECONDS", "60"))
        except ValueError as exc:
            raise ConfigurationError(
                f"LOCK_TIMEOUT_SECONDS and DDL_LOCK_WAIT_SECONDS must be numbers: {exc}"
            ) from None
        return cls(
            db_name=env["DB_NAME"],
            secret_arn=env["MIGRATOR_SECRET_ARN"],
            bucket=env["MIGRATIONS_BUCKET"],
            prefix=normalize_prefix(env["MIGRATIONS_PREFIX"]),
            version_parameter=env["VERSION_PARAMETER"],
            environment=env.get("ENVIRONMENT") or None,
            lock_timeout=lock_timeout,
            ddl_lock_wait=ddl_lock_wait,
            delegation=delegation_from_env(env, default_timeout=WORKER_TIMEOUT_SECONDS),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@functools.cache
def get_rds_client() -> Any:
    return boto3.client("rds", region_name=settings().delegation.home_region, config=LOOKUP_CONFIG)


@functools.cache
def get_lambda_client(region: str) -> Any:
    # Never retried: a second migrate behind a first one still running would only meet its lock.
    return boto3.client("lambda", region_name=region, config=invoke_config(settings().delegation, attempts=1))


def get_workers(cfg: Settings) -> SqlWorkers:
    return SqlWorkers.of(
        cfg.delegation,
        rds=get_rds_client,
        lambda_client=get_lambda_client,
        kind=KIND,
        retry=RETRY,
        logger=logger,
    )


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
        cfg = settings()
        result = run(
            request,
            cfg,
            s3=aws("s3"),
            ssm=aws("ssm"),
            secrets=aws("secretsmanager"),
            workers=get_workers(cfg),
            applied_by=applied_by,
            time_budget=time_budget(remaining),
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
            "region": result.get("region"),
            "applied": [m["filename"] for m in result.get("applied", []) if request.action == "migrate"],
        },
    )
    return result


def time_budget(remaining_seconds: float | None) -> float:
    """What the worker may take: the function's remaining time less the time to publish the version.
    The worker keeps its own margin to record a failed statement (RECORD_MARGIN_SECONDS there)."""
    if remaining_seconds is None:
        return DEFAULT_TIME_BUDGET
    return max(5.0, remaining_seconds - PUBLISH_MARGIN_SECONDS)


def run(
    request: Request,
    cfg: Settings,
    *,
    s3: Any,
    ssm: Any,
    secrets: Any,
    workers: SqlWorkers,
    applied_by: str = "migrator",
    time_budget: float = DEFAULT_TIME_BUDGET,
) -> dict[str, Any]:
    """Read the set and the secret here, run the request on the writer region's worker and publish
    the version; plain function for tests."""
    manifest: Manifest | None = None
    migration_set: MigrationSet | None = None
    where = f"s3://{cfg.bucket}/{cfg.prefix}manifest.json"
    if request.action != "repair":
        manifest = read_manifest(s3, cfg.bucket, cfg.prefix)
        if manifest is None and request.action == "migrate":
            raise SourceError(f"no migration set published at {where}")
        if manifest is not None:
            if cfg.environment and manifest.environment != cfg.environment:
                raise SourceError(
                    f"{where} was published for environment {manifest.environment!r}, this is {cfg.environment!r}"
                )
            migration_set = load_migration_set(s3, cfg.bucket, cfg.prefix, manifest)
    credentials = fetch_credentials(secrets, cfg.secret_arn)
    worker_request = MigrationRequest(
        action=request.action,
        database=cfg.db_name,
        migrator=Account(username=credentials.username, password=credentials.password),
        files=None if migration_set is None else tuple(MigrationFile.of(m) for m in migration_set.migrations),
        dry_run=request.dry_run,
        target_version=request.target_version,
        version=request.version,
        applied_by=applied_by,
        lock_timeout=cfg.lock_timeout,
        ddl_lock_wait=cfg.ddl_lock_wait,
        time_budget_seconds=time_budget,
    )
    worker_request.encode(where=where)  # refuse a set over the invocation limit before any lookup
    subject = f"{request.action} of {cfg.db_name}"
    try:
        result = workers.run(
            worker_request.to_payload(), subject=subject, action=request.action, parse=result_from_payload
        )
    except WriterMoved:
        raise
    except SqlWorkerFailed as exc:
        raise worker_error(exc.error_type, exc.worker_message, exc.region) or exc from None
    failed = result.pop(FAILED, None)
    if request.action == "migrate" and not request.dry_run:
        if failed is not None:
            # The failure is the headline: reporting the version must not replace it.
            with contextlib.suppress(VersionNotPublished):
                publish_version(ssm, cfg.version_parameter, int(result["version"]))
            error = worker_error(str(failed["error_type"]), str(failed["message"]), str(result["region"]))
            raise error or SqlWorkerFailed(
                f"{subject}: {failed['error_type']}: {failed['message']} (on the writer in {result['region']})",
                region=str(result["region"]),
                error_type=str(failed["error_type"]),
                worker_message=str(failed["message"]),
            )
        publish_version(ssm, cfg.version_parameter, int(result["version"]))
    result["environment"] = cfg.environment
    if manifest is not None:
        result["published"] = {
            "source": manifest.source,
            "published_at": manifest.published_at,
            "latest_version": migration_set.latest_version if migration_set else 0,
        }
    return result


def worker_error(error_type: str, message: str, region: str) -> LambdaCodeError | None:
    """The worker's error under its own name, its message naming the writer's region; None for a
    name the function does not know (the caller raises SqlWorkerFailed)."""
    cls = WORKER_ERRORS.get(error_type)
    return None if cls is None else cls(f"{message} (on the writer in {region})")


def publish_version(ssm: Any, name: str, version: int) -> None:
    try:
        ssm.put_parameter(Name=name, Value=str(version), Type="String", Overwrite=True)
    except (ClientError, BotoCoreError) as exc:
        raise VersionNotPublished(
            f"schema is at version {version} but SSM parameter {name} was not updated ({exc}); "
            "run migrate again to publish it"
        ) from exc
