"""Bootstrap Lambda, invoked once per deploy by the program (``aws.lambda_.Invocation``).

Event (the Invocation's input): ``{"database": "app", "users": {"app": "<secret arn>",
"readonly": "<secret arn>", "migrator": "<secret arn>"}, "probe_user": "<secret arn>",
"version": "<anything>"}``. ``probe_user`` (optional) creates the failover probe's user and
its heartbeat table (``lambda_src.bootstrap.probe_user``).
``version`` only makes the Invocation run again when it changes; it is echoed back.
A failure raises, so the deployment fails with the database's error message.

Environment: ``MASTER_SECRET_ARN``, ``DB_HOST`` (required), ``DB_PORT`` (3306) and
``DB_CA_BUNDLE`` (PEM file of the CAs the database's certificate must chain to; defaults
to the Amazon RDS bundle shipped in the archive; TLS is always on and verified).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pymysql
from aws_lambda_powertools import Logger

from lambda_src.bootstrap.bootstrap import (
    ROLE_PRIVILEGES,
    InvalidBootstrapRequest,
    UserSpec,
    bootstrap,
    validate,
)
from lambda_src.bootstrap.probe_user import ensure_probe_user
from lambda_src.common.aws import ClientCache
from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, ca_bundle_from_env, connect
from lambda_src.common.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DatabaseUnavailable,
    LambdaCodeError,
    TlsVerificationFailed,
)
from lambda_src.common.secrets import fetch_credentials

logger = Logger(service="bootstrap")

# A cluster that has just become available may refuse connections for a few seconds
# while its DNS name propagates: retry briefly, well inside the Lambda's timeout.
CONNECT_ATTEMPTS = 4
CONNECT_BACKOFF_SECONDS = 1.0
aws = ClientCache()


@dataclass(frozen=True)
class Settings:
    master_secret_arn: str
    db_host: str
    db_port: int
    db_ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the database's certificate must chain to. Defaults to the shipped
    Amazon RDS bundle."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in ("MASTER_SECRET_ARN", "DB_HOST") if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        try:
            port = int(env.get("DB_PORT", "3306"))
        except ValueError:
            raise ConfigurationError(f"DB_PORT must be a number; got {env.get('DB_PORT')!r}") from None
        return cls(
            master_secret_arn=env["MASTER_SECRET_ARN"],
            db_host=env["DB_HOST"],
            db_port=port,
            db_ca_bundle=ca_bundle_from_env(env),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@dataclass(frozen=True)
class Request:
    database: str
    user_secrets: dict[str, str]
    version: str | None
    probe_secret: str | None = None

    @classmethod
    def parse(cls, event: Any) -> Request:
        if not isinstance(event, dict):
            raise InvalidBootstrapRequest(f"event must be a JSON object, got {type(event).__name__}")
        database = event.get("database")
        users = event.get("users")
        if not isinstance(database, str):
            raise InvalidBootstrapRequest(f"'database' must be a string; got {database!r}")
        if not isinstance(users, dict) or not all(isinstance(v, str) and v for v in users.values()):
            raise InvalidBootstrapRequest("'users' must map each role to its secret's ARN")
        if sorted(users) != sorted(ROLE_PRIVILEGES):
            raise InvalidBootstrapRequest(
                f"'users' must name exactly the roles {', '.join(sorted(ROLE_PRIVILEGES))}; "
                f"got {', '.join(sorted(users)) or 'none'}"
            )
        version = event.get("version")
        probe = event.get("probe_user")
        if probe is not None and (not isinstance(probe, str) or not probe):
            raise InvalidBootstrapRequest(f"'probe_user' must be the probe user's secret ARN; got {probe!r}")
        return cls(
            database=database,
            user_secrets=dict(users),
            version=None if version is None else str(version),
            probe_secret=probe,
        )


@logger.inject_lambda_context
def handler(event: Any, context: Any) -> dict[str, Any]:
    request = Request.parse(event)
    try:
        result = run(request, settings(), secrets=aws("secretsmanager"))
    except LambdaCodeError as exc:
        logger.error(
            "bootstrap failed",
            extra={"database": request.database, "error_type": type(exc).__name__, "error": str(exc)},
        )
        raise
    logger.info("bootstrap finished", extra=result)
    return result


def run(
    request: Request, cfg: Settings, *, secrets: Any, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """Read the secrets, connect as the master user and converge; plain function for tests."""
    master = fetch_credentials(secrets, cfg.master_secret_arn)
    users = [
        UserSpec(role=role, username=creds.username, password=creds.password)
        for role, creds in (
            (role, fetch_credentials(secrets, arn)) for role, arn in request.user_secrets.items()
        )
    ]
    validate(request.database, users, master_username=master.username)
    probe = fetch_credentials(secrets, request.probe_secret) if request.probe_secret else None
    if probe is not None and probe.username in {master.username, *(u.username for u in users)}:
        raise InvalidBootstrapRequest(f"probe user must have a name of its own; got {probe.username!r}")
    endpoint = Endpoint(
        host=cfg.db_host,
        port=cfg.db_port,
        user=master.username,
        password=master.password,
        connect_timeout=5,
        read_timeout=30,
        write_timeout=30,
        ca_bundle=cfg.db_ca_bundle,
    )
    conn = connect_with_retry(endpoint, sleep=sleep)
    try:
        result = bootstrap(conn, request.database, users)
        if probe is not None:
            result["probe_user"] = ensure_probe_user(conn, probe.username, probe.password)
    finally:
        conn.close()
    return {**result, "version": request.version}


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
