"""pymysql connections with short, explicit timeouts.

A dead or black-holed endpoint must be reported within ``connect_timeout``; a server
that accepts the connection and then stalls, within ``read_timeout``. Nothing here
waits for the Lambda's own timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

from lambda_src.common.errors import DatabaseUnavailable


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where and how to connect. Credentials come from the secret, host from the stack."""

    host: str
    port: int = 3306
    user: str
    password: str
    database: str | None = None
    connect_timeout: float = 2.0
    """Seconds to wait for the TCP connect and handshake. Defaults to 2."""
    read_timeout: float = 2.0
    """Seconds to wait for any answer once connected. Defaults to 2."""
    write_timeout: float = 2.0
    """Seconds to wait for a write to the socket. Defaults to 2."""
    tls: bool = False
    """Require TLS (the cluster parameter group enforces it in AWS). Defaults to False."""


def connect(endpoint: Endpoint, **extra: Any) -> pymysql.Connection:
    """Open a connection or raise DatabaseUnavailable naming the endpoint and the cause."""
    kwargs: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "user": endpoint.user,
        "password": endpoint.password,
        "database": endpoint.database,
        "connect_timeout": endpoint.connect_timeout,
        "read_timeout": endpoint.read_timeout,
        "write_timeout": endpoint.write_timeout,
        "autocommit": True,
        "charset": "utf8mb4",
    }
    if endpoint.tls:
        # Aurora presents a certificate signed by the RDS CA bundle, which the Lambda
        # runtime's system store does not carry; TLS still encrypts and the parameter
        # group's require_secure_transport guarantees it is used.
        kwargs["ssl"] = {"check_hostname": False}
    kwargs.update(extra)
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.MySQLError as exc:
        raise DatabaseUnavailable(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc
    except OSError as exc:  # socket-level errors not wrapped by pymysql
        raise DatabaseUnavailable(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc
