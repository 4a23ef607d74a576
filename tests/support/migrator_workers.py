"""The migrator's workers for the tests: the migrator worker of a "region", run in-process by the
fake Lambda API (tests/support/lambda_fake.py) against a MariaDB server as that region's
cluster, and the SqlWorkers the migrator function reaches them with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from lambda_src.common.writer import Delegation, SqlWorkers
from lambda_src.migrator import handler as migrator_handler
from lambda_src.migrator_worker import handler as worker_handler
from tests.support.lambda_fake import InProcessLambda
from tests.support.mariadb import MariaDBServer

HOME = "us-east-1"
"""The home region: the migration set, the secret, the parameter and the migrator function."""
WRITER = "us-west-2"
"""Where the writer is after a failover."""
ACCOUNT = "123456789012"
GLOBAL_ID = "mig-aurora-global"
CLUSTERS = "mig-aurora"
"""Prefix of the global cluster's members (``mig-aurora-<region>``)."""
WORKERS = {
    region: f"arn:aws:lambda:{region}:{ACCOUNT}:function:mig-aurora-{code}-migrator-worker"
    for region, code in ((HOME, "use1"), (WRITER, "usw2"))
}


@dataclass
class WorkerContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-worker-1"
    remaining_ms: int = 840_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def register_migrator_worker(
    lambdas: InProcessLambda, region: str, server: MariaDBServer | None, *, remaining_ms: int = 840_000
) -> None:
    """The region's migrator worker, connecting to ``server`` (its own cluster) or, for None, to
    an endpoint that does not resolve; TLS verified against the test CA."""
    environment = {
        "DB_HOST": server.host if server else f"cluster.{region}.unreachable.invalid",
        "DB_PORT": str(server.port if server else 3306),
        "REGION_NAME": region,
    }
    if server is not None:
        environment["DB_CA_BUNDLE"] = server.ca_bundle
    lambdas.register(
        WORKERS[region],
        worker_handler.handler,
        environment=environment,
        reset=worker_handler.get_target.cache_clear,
        context=WorkerContext(
            function_name=WORKERS[region].rsplit(":", 1)[-1],
            invoked_function_arn=WORKERS[region],
            remaining_ms=remaining_ms,
        ),
    )


def delegation(*, global_cluster: bool = False) -> Delegation:
    return Delegation(
        home_region=HOME,
        global_cluster_id=GLOBAL_ID if global_cluster else None,
        workers=WORKERS,
        worker_timeout_seconds=840,
    )


def sql_workers(lambdas: InProcessLambda, *, rds: Any = None, global_cluster: bool = False) -> SqlWorkers:
    """How the migrator function reaches the workers: the fake Lambda API, and for a global
    environment RDS of the home region (moto unless ``rds`` is given)."""
    found = delegation(global_cluster=global_cluster)
    return SqlWorkers(
        home_region=found.home_region,
        global_cluster_id=found.global_cluster_id,
        workers=found.workers,
        rds=(lambda: rds) if rds is not None else (lambda: boto3.client("rds", region_name=HOME)),
        lambda_client=lambdas.client,
        kind=migrator_handler.KIND,
        retry=migrator_handler.RETRY,
        logger=Logger(service="migrator-test"),
    )


def settings_environment(settings: migrator_handler.Settings) -> Mapping[str, str]:
    """The deployed environment variables that read back as ``settings``."""
    env = {
        "DB_NAME": settings.db_name,
        "MIGRATOR_SECRET_ARN": settings.secret_arn,
        "MIGRATIONS_BUCKET": settings.bucket,
        "MIGRATIONS_PREFIX": settings.prefix,
        "VERSION_PARAMETER": settings.version_parameter,
        "LOCK_TIMEOUT_SECONDS": str(settings.lock_timeout),
        "DDL_LOCK_WAIT_SECONDS": str(settings.ddl_lock_wait),
        "HOME_REGION": settings.delegation.home_region,
        "SQL_WORKERS": json.dumps(dict(settings.delegation.workers)),
        "WORKER_TIMEOUT_SECONDS": str(settings.delegation.worker_timeout_seconds),
    }
    if settings.environment:
        env["ENVIRONMENT"] = settings.environment
    if settings.delegation.global_cluster_id:
        env["GLOBAL_CLUSTER_ID"] = settings.delegation.global_cluster_id
    return env
