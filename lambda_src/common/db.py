"""pymysql connections over TLS that authenticates the server, with short, explicit timeouts.

Every connection verifies the server's certificate against a CA bundle and its name
against the host connected to (FAILURE_CATALOG FC-P-6): a host that answers on the
endpoint's address without the database's certificate never receives a password. The
bundle defaults to the Amazon RDS CAs shipped in the function archive
(``rds-ca-bundle.pem`` beside this module, provenance in its header); ``DB_CA_BUNDLE``
names another file (the tests' own CA). There is no setting that turns TLS or its
verification off.

A dead or black-holed endpoint must be reported within ``connect_timeout``; a server
that accepts the connection and then stalls, within ``read_timeout``. Nothing here
waits for the Lambda's own timeout.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pymysql

from lambda_src.common.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DatabaseUnavailable,
    PasswordExpired,
    TlsVerificationFailed,
)

RDS_CA_BUNDLE = str(Path(__file__).resolve().with_name("rds-ca-bundle.pem"))
"""The Amazon RDS CA bundle shipped with every function. Aurora's server certificates chain
to these CAs, which public trust stores do not carry (Aurora User Guide, UsingWithRDS.SSL)."""

CA_BUNDLE_VARIABLE = "DB_CA_BUNDLE"

ER_ACCESS_DENIED = 1045
ER_MUST_CHANGE_PASSWORD = 1820
ER_MUST_CHANGE_PASSWORD_LOGIN = 1862
PASSWORD_EXPIRED_ERRORS = frozenset({ER_MUST_CHANGE_PASSWORD, ER_MUST_CHANGE_PASSWORD_LOGIN})
AUTHENTICATION_ERRORS = frozenset({ER_ACCESS_DENIED, *PASSWORD_EXPIRED_ERRORS})
CR_SSL_CONNECTION_ERROR = 2026  # pymysql: TLS was required and the server does not offer it

# An expired password is refused at login (1862) where disconnect_on_expired_password is ON
# (MySQL 8 and Aurora's default); where it is OFF (MariaDB's default) the login succeeds in
# sandbox mode and every statement but SET and ALTER USER fails with 1820. One statement at
# connect time makes both show up as a failed login.
SESSION_CHECK_SQL = "DO 1"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where and how to connect. Credentials come from the secret, host from the stack."""

    host: str
    """Host name (or address) connected to; the server's certificate must name it."""
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
    ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the server's certificate must chain to. Defaults to the shipped
    Amazon RDS bundle."""


@functools.cache
def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """A client context that requires a certificate chaining to ``ca_bundle`` and naming the host.

    Built once per file: loading the 87 RDS CAs on every connect would cost each check.
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"{CA_BUNDLE_VARIABLE} must name a readable PEM file of CA certificates; cannot load "
            f"{ca_bundle!r} ({exc}): unset it to use the shipped Amazon RDS bundle"
        ) from None
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Python 3.13 adds RFC 5280 profile checks (VERIFY_X509_STRICT) to default contexts; the
    # Lambda runtime (3.12) has none. Keep the same verification on every runtime: chain,
    # validity dates and host name, all of which stay on.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def ca_bundle_from_env(env: Mapping[str, str]) -> str:
    """The CA bundle a function's environment names (``DB_CA_BUNDLE``), loaded once to check it.

    ``DB_TLS`` is refused unless ``true``: TLS is always on and verified, and a stale
    ``DB_TLS=false`` must not look as if it had taken effect.
    """
    tls = env.get("DB_TLS")
    if tls is not None and tls.strip().lower() != "true":
        raise ConfigurationError(
            f"DB_TLS={tls!r} is not supported: every database connection uses TLS verified against "
            f"{CA_BUNDLE_VARIABLE} (default: the shipped Amazon RDS CA bundle); remove DB_TLS"
        )
    ca_bundle = env.get(CA_BUNDLE_VARIABLE, "").strip() or RDS_CA_BUNDLE
    tls_context(ca_bundle)
    return ca_bundle


def connect(endpoint: Endpoint) -> pymysql.Connection:
    """Open a verified TLS connection or raise DatabaseUnavailable naming the endpoint and the cause.

    Subclasses say why: TlsVerificationFailed, AuthenticationFailed, PasswordExpired.
    """
    context = tls_context(endpoint.ca_bundle)
    try:
        return pymysql.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            database=endpoint.database,
            connect_timeout=endpoint.connect_timeout,
            read_timeout=endpoint.read_timeout,
            write_timeout=endpoint.write_timeout,
            autocommit=True,
            charset="utf8mb4",
            # An SSLContext makes TLS required: pymysql refuses a server that does not offer it
            # and checks the certificate against the host it was asked to connect to.
            ssl=context,
            init_command=SESSION_CHECK_SQL,
        )
    except pymysql.err.MySQLError as exc:
        raise _classified(exc, endpoint) from exc
    except OSError as exc:  # socket-level errors not wrapped by pymysql
        raise DatabaseUnavailable(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc


def _classified(exc: pymysql.err.MySQLError, endpoint: Endpoint) -> DatabaseUnavailable:
    where = f"{endpoint.host}:{endpoint.port}"
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    original = getattr(exc, "original_exception", None)
    if isinstance(original, ssl.SSLCertVerificationError):
        return TlsVerificationFailed(
            f"cannot connect to {where}: TLS verification failed: {original.verify_message} "
            f"(CAs from {endpoint.ca_bundle}); the server is not the database or its certificate "
            "is not from the trusted CAs, so no credentials were sent"
        )
    if errno == CR_SSL_CONNECTION_ERROR:
        return TlsVerificationFailed(
            f"cannot connect to {where}: the server offers no TLS, so it cannot be authenticated and "
            f"no credentials were sent ({exc})"
        )
    if errno in PASSWORD_EXPIRED_ERRORS:
        return PasswordExpired(
            f"cannot connect to {where}: the password of {endpoint.user!r} has expired ({exc}); "
            "set a new one (ALTER USER as the master user, or ModifyDBCluster for the master user), "
            "store it as the secret's AWSCURRENT, and keep default_password_lifetime at 0"
        )
    if errno == ER_ACCESS_DENIED:
        return AuthenticationFailed(f"cannot connect to {where}: {exc}")
    return DatabaseUnavailable(f"cannot connect to {where}: {exc}")
