"""Bootstrap Lambda, invoked once per deploy by the program (``aws.lambda_.Invocation``).

Event (the Invocation's input): ``{"database": "app", "users": {"app": "<secret arn>",
"readonly": "<secret arn>", "migrator": "<secret arn>"}, "probe_user": "<secret arn>",
"version": "<anything>"}``. ``probe_user`` (optional) creates the failover probe's user and
its heartbeat table (``lambda_src.bootstrap_worker.probe_user``).
``version`` only makes the Invocation run again when it changes; it is echoed back.

Runs in the home region, outside any VPC, and never connects to a database: it reads the
master and the users' secrets here, finds the writer (DescribeGlobalClusters; a regional
environment's writer is the home cluster) and invokes, synchronously, the bootstrap worker
of the writer's region (``lambda_src.bootstrap_worker``), which does the SQL on its own
region's cluster (``lambda_src.common.writer``, the same path as secret rotation). A failure
raises, so the deployment fails with the database's error message, named with the worker's
region. The event and the worker's request are never logged.

Environment (read once per container):

* ``MASTER_SECRET_ARN``: the master credentials' secret. Required.
* ``HOME_REGION``: the region the secrets live in. Defaults to ``AWS_REGION``.
* ``GLOBAL_CLUSTER_ID``: the global cluster whose writer is looked up; unset or empty for a
  regional environment (the writer is the home region's cluster).
* ``SQL_WORKERS``: JSON object, region -> ARN of that region's bootstrap worker, for every
  region of the environment. Required.
* ``WORKER_TIMEOUT_SECONDS``: the workers' function timeout; the Invoke waits a little longer.
  Defaults to 120.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from lambda_src.common.aws import ClientCache
from lambda_src.common.bootstrap_sql import (
    ROLE_PRIVILEGES,
    Account,
    BootstrapRequest,
    InvalidBootstrapRequest,
    UserSpec,
    result_from_payload,
    validate,
    validate_probe,
)
from lambda_src.common.errors import ConfigurationError, LambdaCodeError
from lambda_src.common.secrets import fetch_credentials
from lambda_src.common.writer import LOOKUP_CONFIG, Delegation, SqlWorkers, delegation_from_env, invoke_config

logger = Logger(service="bootstrap")

KIND = "bootstrap worker"
RETRY = "run `infra up` again"
WORKER_TIMEOUT_SECONDS = 120
"""Default of WORKER_TIMEOUT_SECONDS (the deployed workers' timeout, components.lambdas)."""
aws = ClientCache()


@dataclass(frozen=True)
class Settings:
    master_secret_arn: str
    delegation: Delegation

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        if not env.get("MASTER_SECRET_ARN", "").strip():
            raise ConfigurationError(
                "MASTER_SECRET_ARN must name the master credentials' secret; it is not set"
            )
        return cls(
            master_secret_arn=env["MASTER_SECRET_ARN"].strip(),
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
    # A retry after a read timeout is safe: bootstrap is idempotent (every run converges).
    return boto3.client("lambda", region_name=region, config=invoke_config(settings().delegation, attempts=2))


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
        cfg = settings()
        result = run(request, cfg, secrets=aws("secretsmanager"), workers=get_workers(cfg))
    except LambdaCodeError as exc:
        logger.error(
            "bootstrap failed",
            extra={"database": request.database, "error_type": type(exc).__name__, "error": str(exc)},
        )
        raise
    logger.info("bootstrap finished", extra=result)
    return result


def worker_request(request: Request, cfg: Settings, *, secrets: Any) -> BootstrapRequest:
    """Read the secrets and check the names: the worker's request (it holds passwords)."""
    master_creds = fetch_credentials(secrets, cfg.master_secret_arn)
    master = Account(username=master_creds.username, password=master_creds.password)
    users = [
        UserSpec(role=role, username=creds.username, password=creds.password)
        for role, creds in (
            (role, fetch_credentials(secrets, arn)) for role, arn in request.user_secrets.items()
        )
    ]
    validate(request.database, users, master_username=master.username)
    probe = None
    if request.probe_secret:
        probe_creds = fetch_credentials(secrets, request.probe_secret)
        probe = Account(username=probe_creds.username, password=probe_creds.password)
    validate_probe(probe, master, users)
    return BootstrapRequest(
        database=request.database, master=master, users=tuple(users), probe=probe, version=request.version
    )


def run(request: Request, cfg: Settings, *, secrets: Any, workers: SqlWorkers) -> dict[str, Any]:
    """Read the secrets, find the writer and bootstrap on its region's worker; plain function for tests."""
    payload = worker_request(request, cfg, secrets=secrets).to_payload()
    result = workers.run(
        payload, subject=f"bootstrap of {request.database}", action="bootstrap", parse=result_from_payload
    )
    return {**result, "version": request.version}
