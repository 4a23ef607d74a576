"""Reading the database credentials secret (the RDS secret JSON layout)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.errors import SecretError

REQUIRED_FIELDS = ("username", "password")


@dataclass(frozen=True)
class DbCredentials:
    username: str
    password: str
    host: str | None = None
    port: int | None = None
    dbname: str | None = None


def parse_secret(secret_string: str, *, secret_id: str = "secret") -> DbCredentials:  # noqa: S107 - a label
    """Parse the RDS secret layout ({"username", "password", "host", "port", "dbname"})."""
    try:
        data: dict[str, Any] = json.loads(secret_string)
    except json.JSONDecodeError as exc:
        raise SecretError(f"{secret_id}: SecretString is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise SecretError(f"{secret_id}: SecretString must be a JSON object")
    missing = [f for f in REQUIRED_FIELDS if not data.get(f)]
    if missing:
        raise SecretError(f"{secret_id}: missing field(s) {', '.join(missing)}")
    port = data.get("port")
    return DbCredentials(
        username=str(data["username"]),
        password=str(data["password"]),
        host=data.get("host"),
        port=int(port) if port not in (None, "") else None,
        dbname=data.get("dbname"),
    )


def fetch_credentials(client: Any, secret_id: str, *, version_stage: str = "AWSCURRENT") -> DbCredentials:
    """Fetch and parse a secret's version; errors become SecretError with the secret's id."""
    try:
        response = client.get_secret_value(SecretId=secret_id, VersionStage=version_stage)
    except (ClientError, BotoCoreError) as exc:
        raise SecretError(f"{secret_id}: cannot read secret ({exc})") from exc
    return parse_secret(response["SecretString"], secret_id=secret_id)
