"""The bootstrap worker's handler (in the VPC of every regional stack).

Handler: ``lambda_src.bootstrap_worker.handler.handler``. Invoked synchronously by the
bootstrap function with a :class:`~lambda_src.common.bootstrap_sql.BootstrapRequest`
payload (the master's and the users' credentials: the event is never logged); returns
what bootstrap changed and the worker's region. A failure raises a named error (Lambda
returns it as ``FunctionError`` with its ``errorType`` and ``errorMessage``, the database's
own message included), so the deployment fails with it. A read-only cluster raises
``NotWriter`` before any statement changes anything.

Environment (read once per container):

* ``DB_HOST``: this region's cluster (writer) endpoint. Required.
* ``DB_PORT``: defaults to 3306.
* ``DB_CA_BUNDLE``: PEM file of the CAs the database's certificate must chain to. Defaults
  to the Amazon RDS bundle shipped in the archive; TLS is always on and verified.
* ``REGION_NAME``: this region; defaults to ``AWS_REGION``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import pymysql
from aws_lambda_powertools import Logger

from lambda_src.bootstrap_worker.bootstrap import bootstrap
from lambda_src.bootstrap_worker.probe_user import ensure_probe_user
from lambda_src.common.bootstrap_sql import BootstrapRequest, validate, validate_probe
from lambda_src.common.db import Endpoint, connect
from lambda_src.common.errors import (
    AuthenticationFailed,
    DatabaseUnavailable,
    LambdaCodeError,
    TlsVerificationFailed,
)
from lambda_src.common.worker import OwnCluster, own_cluster_from_env, require_writer

SERVICE = "bootstrap-worker"
logger = Logger(service=SERVICE)

# A cluster that has just become available may refuse connections for a few seconds
# while its DNS name propagates: retry briefly, well inside the worker's timeout.
CONNECT_ATTEMPTS = 4
CONNECT_BACKOFF_SECONDS = 1.0


@cache
def get_target() -> OwnCluster:
    return own_cluster_from_env(os.environ)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    database = event.get("database") if isinstance(event, dict) else None
    try:
        request = BootstrapRequest.from_payload(event)
        result = run(get_target(), request)
    except LambdaCodeError as exc:
        # The message names the step, users and endpoint and quotes the database; never a password.
        logger.error(
            "bootstrap failed",
            extra={"database": database, "error_type": type(exc).__name__, "error": str(exc)},
        )
        raise
    logger.info("bootstrap finished", extra=result)
    return result


def run(
    target: OwnCluster, request: BootstrapRequest, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """Connect to this region's cluster as the master user, check it is the writer and converge."""
    validate(request.database, request.users, master_username=request.master.username)
    validate_probe(request.probe, request.master, request.users)
    endpoint = Endpoint(
        host=target.host,
        port=target.port,
        user=request.master.username,
        password=request.master.password,
        connect_timeout=5,
        read_timeout=30,
        write_timeout=30,
        ca_bundle=target.ca_bundle,
    )
    conn = connect_with_retry(endpoint, sleep=sleep)
    try:
        require_writer(
            conn,
            where=f"{target.host}:{target.port} in {target.region}",
            chosen_by="the bootstrap function",
            retry="nothing was changed; run `infra up` again to bootstrap on the new writer",
        )
        result = bootstrap(conn, request.database, request.users)
        if request.probe is not None:
            result["probe_user"] = ensure_probe_user(conn, request.probe.username, request.probe.password)
    finally:
        conn.close()
    return {**result, "region": target.region, "version": request.version}


def connect_with_retry(
    endpoint: Endpoint, *, sleep: Callable[[float], None] = time.sleep
) -> pymysql.Connection:
    """Bounded retries with backoff; a refused or expired login and a server that fails TLS
    verification are not retried (they will not get better)."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return connect(endpoint)
        except (AuthenticationFailed, TlsVerificationFailed):
            raise
        except DatabaseUnavailable as exc:
            if attempt == CONNECT_ATTEMPTS:
                raise
            logger.warning("database not reachable yet", extra={"attempt": attempt, "error": str(exc)})
            sleep(CONNECT_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
