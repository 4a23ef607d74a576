"""The migrator worker's handler (in the VPC of every regional stack).

Handler: ``lambda_src.migrator_worker.handler.handler``. Invoked synchronously by the
migrator function with a :class:`~lambda_src.common.migrator_sql.MigrationRequest` (the
migrator user's credentials and the published files: the event is never logged); returns
the action's result and the worker's region. A refusal or failure raises a named error
(Lambda returns it as ``FunctionError`` with its ``errorType`` and ``errorMessage``), except
a migrate run that stopped after it took the lock: that one answers with ``failed`` and the
version the database is at, which the function publishes before it raises the error. A
read-only cluster raises ``NotWriter`` before anything is read or changed.

Statements run with a read timeout of the worker's remaining time (capped by the function's
``time_budget_seconds``) less RECORD_MARGIN_SECONDS, kept to record a failed statement.

Environment (read once per container):

* ``DB_HOST``: this region's cluster (writer) endpoint. Required.
* ``DB_PORT``: defaults to 3306.
* ``DB_CA_BUNDLE``: PEM file of the CAs the database's certificate must chain to. Defaults
  to the Amazon RDS bundle shipped in the archive; TLS is always on and verified.
* ``REGION_NAME``: this region; defaults to ``AWS_REGION``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pymysql
from aws_lambda_powertools import Logger

from lambda_src.common.db import Endpoint, connect
from lambda_src.common.errors import LambdaCodeError
from lambda_src.common.migration.errors import MigrationError
from lambda_src.common.migrator_sql import FAILED, MigrationRequest
from lambda_src.common.worker import OwnCluster, own_cluster_from_env, require_writer
from lambda_src.migrator_worker import migrations

SERVICE = "migrator-worker"
logger = Logger(service=SERVICE)

# Keep this much of the budget to record a failed statement before the runtime stops us.
RECORD_MARGIN_SECONDS = 15
DEFAULT_STATEMENT_TIMEOUT = 600.0


@cache
def get_target() -> OwnCluster:
    return own_cluster_from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    remaining = context.get_remaining_time_in_millis() / 1000 if context else None
    try:
        request = MigrationRequest.from_payload(event)
        result = run(get_target(), request, statement_timeout=statement_budget(remaining, request))
    except LambdaCodeError as exc:
        logger.error(
            "migrator worker stopped",
            extra={"action": action, "error_type": type(exc).__name__, "error": str(exc)},
        )
        raise
    logger.info(
        "migrator worker finished",
        extra={"action": action, "version": result.get("version"), "failed": result.get(FAILED)},
    )
    return result


def statement_budget(remaining_seconds: float | None, request: MigrationRequest) -> float:
    """Read timeout for migration statements: the smaller of the worker's remaining time and the
    function's budget, minus time to record a failure."""
    budgets = [b for b in (remaining_seconds, request.time_budget_seconds) if b is not None]
    if not budgets:
        return DEFAULT_STATEMENT_TIMEOUT
    return max(5.0, min(budgets) - RECORD_MARGIN_SECONDS)


def run(
    target: OwnCluster, request: MigrationRequest, *, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
) -> dict[str, Any]:
    """Connect to this region's cluster as the migrator user, check it is the writer and act."""
    where = f"{target.host}:{target.port} in {target.region}"
    migration_set = request.migration_set(where=f"the request to the migrator worker in {target.region}")
    endpoint = Endpoint(
        host=target.host,
        port=target.port,
        user=request.migrator.username,
        password=request.migrator.password,
        database=request.database,
        connect_timeout=5,
        read_timeout=statement_timeout,
        write_timeout=30,
        ca_bundle=target.ca_bundle,
    )
    # The bookkeeping connection: holds the lock, writes the records (autocommit).
    conn = connect(endpoint)
    try:
        require_writer(
            conn,
            where=where,
            chosen_by="the migrator function",
            retry="nothing was read or changed; run `infra db` again to reach the new writer",
        )
        if request.action == "status":
            result = migrations.status(conn, migration_set)
        elif request.action == "migrate":
            assert migration_set is not None  # MigrationRequest.from_payload requires the files
            reached: list[int] = []
            try:
                result = migrations.migrate(
                    conn,
                    migration_set,
                    target_version=request.target_version,
                    dry_run=request.dry_run,
                    lock_timeout=request.lock_timeout,
                    applied_by=request.applied_by,
                    on_finish=reached.append,
                    open_session=lambda: migration_session(endpoint, request.ddl_lock_wait),
                    log=lambda message, **fields: logger.info(message, extra=fields),
                )
            except MigrationError as exc:
                if not reached:
                    raise  # stopped before it held the lock: the version is what it was
                # The version reached is the function's to publish: answer, don't fail.
                return {
                    "action": "migrate",
                    "database": request.database,
                    "version": reached[-1],
                    FAILED: {"error_type": type(exc).__name__, "message": str(exc)},
                    "region": target.region,
                }
        else:
            assert request.version is not None
            result = migrations.repair(
                conn, request.version, dry_run=request.dry_run, lock_timeout=request.lock_timeout
            )
    finally:
        conn.close()
    return {**result, "region": target.region}


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
