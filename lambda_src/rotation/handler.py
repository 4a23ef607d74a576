"""Secrets Manager rotation function for the database secrets (master and application users).

Handler: ``lambda_src.rotation.handler.handler``. Event (from Secrets Manager):
``{"SecretId": arn, "ClientRequestToken": version_id, "Step": "createSecret" |
"setSecret" | "testSecret" | "finishSecret"}``; other keys (``RotationToken``) are ignored.
Runs in the home region, outside any VPC: it calls Secrets Manager, RDS
(DescribeGlobalClusters) and the Lambda API of the writer's region, whose rotation SQL
worker does the database half (``lambda_src.common.writer``). The event is never logged.

Environment (read once per container):

* ``HOME_REGION``: the region the secrets live in. Defaults to ``AWS_REGION``.
* ``GLOBAL_CLUSTER_ID``: the global cluster whose writer is looked up; unset or empty for a
  regional environment (the writer is the home region's cluster).
* ``SQL_WORKERS``: JSON object, region -> ARN of that region's rotation SQL worker, for every
  region of the environment. Required.
* ``WORKER_TIMEOUT_SECONDS``: the workers' function timeout; the Invoke waits a little longer.
  Defaults to 30.
* ``SECRETS_MANAGER_ENDPOINT``: endpoint URL override. Defaults to the regional endpoint.
* ``PASSWORD_LENGTH``: 8 to 41. Defaults to 32.
* ``EXCLUDE_CHARACTERS``: characters generated passwords never contain; must include
  ``/"@``. Defaults to ``/@"'\\``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambda_src.common.errors import ConfigurationError, LambdaCodeError
from lambda_src.common.writer import LOOKUP_CONFIG, Delegation, SqlWorkers, delegation_from_env, invoke_config
from lambda_src.rotation.steps import (
    DEFAULT_EXCLUDE_CHARACTERS,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    RDS_FORBIDDEN_PASSWORD_CHARACTERS,
    SERVICE,
    RotationEvent,
    RotationSettings,
    run_step,
)
from lambda_src.rotation.writer import KIND, RETRY, sql_runner

logger = Logger(service=SERVICE)

# Secrets Manager retries a failed step itself; keep each API call short and let
# botocore's standard mode retry throttling and transient errors a few times.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def settings_from_env(env: Mapping[str, str]) -> RotationSettings:
    """Parse the environment; ConfigurationError names the variable, the rule and the value."""
    length_raw = env.get("PASSWORD_LENGTH", "32").strip()
    try:
        length = int(length_raw)
    except ValueError:
        raise ConfigurationError(f"PASSWORD_LENGTH must be an integer; got {length_raw!r}") from None
    if not MIN_PASSWORD_LENGTH <= length <= MAX_PASSWORD_LENGTH:
        raise ConfigurationError(
            f"PASSWORD_LENGTH must be between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} "
            f"(RDS master password limits); got {length}"
        )

    exclude = env.get("EXCLUDE_CHARACTERS", DEFAULT_EXCLUDE_CHARACTERS)
    missing = [c for c in RDS_FORBIDDEN_PASSWORD_CHARACTERS if c not in exclude]
    if missing:
        raise ConfigurationError(
            f"EXCLUDE_CHARACTERS must include {' '.join(RDS_FORBIDDEN_PASSWORD_CHARACTERS)} "
            f"(RDS refuses them in a master password); {' '.join(missing)} missing from {exclude!r}"
        )

    endpoint = env.get("SECRETS_MANAGER_ENDPOINT", "").strip() or None
    if endpoint is not None and not endpoint.startswith("https://"):
        raise ConfigurationError(f"SECRETS_MANAGER_ENDPOINT must be an https:// URL; got {endpoint!r}")

    return RotationSettings(
        secrets_manager_endpoint=endpoint, password_length=length, exclude_characters=exclude
    )


@cache
def get_settings() -> RotationSettings:
    return settings_from_env(os.environ)


@cache
def get_delegation() -> Delegation:
    return delegation_from_env(os.environ)


@cache
def get_secrets_client() -> Any:
    return boto3.client(
        "secretsmanager", endpoint_url=get_settings().secrets_manager_endpoint, config=CLIENT_CONFIG
    )


@cache
def get_rds_client() -> Any:
    return boto3.client("rds", region_name=get_delegation().home_region, config=LOOKUP_CONFIG)


@cache
def get_lambda_client(region: str) -> Any:
    # A retry after a read timeout is safe: every SQL step is idempotent (setSecret first
    # tries the pending password).
    return boto3.client("lambda", region_name=region, config=invoke_config(get_delegation(), attempts=2))


def get_workers() -> SqlWorkers:
    return SqlWorkers.of(
        get_delegation(),
        rds=get_rds_client,
        lambda_client=get_lambda_client,
        kind=KIND,
        retry=RETRY,
        logger=logger,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    try:
        rotation = RotationEvent.from_dict(event)
        logger.append_keys(
            secret_id=rotation.secret_id, step=rotation.step.value, client_request_token=rotation.token
        )
        result = run_step(get_secrets_client(), rotation, get_settings(), sql_runner(get_workers()))
    except LambdaCodeError as exc:
        # The message names secret, version, account, region and endpoint; never a password.
        logger.error("rotation step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    logger.info("rotation step done", extra={"result": result.value})
    return {"step": rotation.step.value, "result": result.value}
