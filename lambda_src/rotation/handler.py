"""Secrets Manager rotation function for the database master password.

Handler: ``lambda_src.rotation.handler.handler``. Event (from Secrets Manager):
``{"SecretId": arn, "ClientRequestToken": version_id, "Step": "createSecret" |
"setSecret" | "testSecret" | "finishSecret"}``; other keys (``RotationToken``) are ignored.

Environment (read once per container):

* ``SECRETS_MANAGER_ENDPOINT``: endpoint URL, only for a VPC endpoint without private DNS.
* ``DB_HOST``: host to connect to instead of the secret's ``host``.
* ``DB_CA_BUNDLE``: PEM file of the CAs the database's certificate must chain to. Defaults
  to the Amazon RDS bundle shipped in the archive; TLS is always on and verified.
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

from lambda_src.common.db import ca_bundle_from_env
from lambda_src.common.errors import ConfigurationError, LambdaCodeError
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

logger = Logger(service=SERVICE)

# Secrets Manager retries a failed step itself; keep each API call short and let
# botocore's standard mode retry throttling and transient errors a few times.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})


def settings_from_env(env: Mapping[str, str]) -> RotationSettings:
    """Parse the environment; ConfigurationError names the variable, the rule and the value."""
    ca_bundle = ca_bundle_from_env(env)

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
        secrets_manager_endpoint=endpoint,
        db_host=env.get("DB_HOST", "").strip() or None,
        db_ca_bundle=ca_bundle,
        password_length=length,
        exclude_characters=exclude,
    )


@cache
def get_settings() -> RotationSettings:
    return settings_from_env(os.environ)


@cache
def get_secrets_client() -> Any:
    return boto3.client(
        "secretsmanager", endpoint_url=get_settings().secrets_manager_endpoint, config=CLIENT_CONFIG
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    try:
        rotation = RotationEvent.from_dict(event)
        logger.append_keys(
            secret_id=rotation.secret_id, step=rotation.step.value, client_request_token=rotation.token
        )
        result = run_step(get_secrets_client(), rotation, get_settings())
    except LambdaCodeError as exc:
        # The message names secret, version, account and endpoint; never a password.
        logger.error("rotation step failed", extra={"error": type(exc).__name__, "reason": str(exc)})
        raise
    logger.info("rotation step done", extra={"result": result.value})
    return {"step": rotation.step.value, "result": result.value}
