"""The SQL of single-user rotation, as plain functions of a target and a request.

Modelled on AWS's ``SecretsManagerRDSMySQLRotationSingleUser`` template: log in as the user
and change that user's own password, so the old password stops working as soon as
``setSecret`` succeeds. Running a step again after it succeeded changes nothing.

Every login is followed by a writer check (``@@read_only``, ``@@innodb_read_only``): the
rotation function chose this region from DescribeGlobalClusters a moment ago, and a
switchover in between must not make the worker test a reader or change nothing on one.
Passwords never reach a log line or an exception message.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymysql
from aws_lambda_powertools import Logger

from lambda_src.common.db import RDS_CA_BUNDLE, Endpoint, connect
from lambda_src.common.errors import DatabaseUnavailable
from lambda_src.common.rotation_sql import Login, SqlRequest, SqlResult, SqlStep
from lambda_src.common.worker import require_writer as common_require_writer
from lambda_src.rotation_sql.errors import (
    AccountMismatch,
    NoWorkingCredentials,
    PasswordChangeFailed,
    PendingSecretRejected,
)

SERVICE = "rotation-sql"
logger = Logger(service=SERVICE, child=True)

_ACCESS_DENIED = 1045  # ER_ACCESS_DENIED_ERROR: wrong password (or unknown user)

PASSWORD_SET = "password_set"  # noqa: S105 - a result name
ALREADY_SET = "already_set"
TESTED = "tested"


@dataclass(frozen=True, kw_only=True)
class Target:
    """This region's cluster: where the worker connects, read once from its environment."""

    host: str
    """The cluster (writer) endpoint of the worker's own region. Required."""
    region: str
    """The worker's region, reported back and named in errors. Required."""
    port: int = 3306
    """Defaults to 3306."""
    ca_bundle: str = RDS_CA_BUNDLE
    """PEM file of the CAs the database's certificate must chain to; TLS is always on and
    verified. Defaults to the shipped Amazon RDS bundle."""
    connect_timeout: float = 3.0
    """Seconds for TCP connect, TLS and login. Defaults to 3."""
    read_timeout: float = 5.0
    """Seconds to wait for any answer, ALTER USER included. Defaults to 5."""


def _endpoint(target: Target, request: SqlRequest, password: str) -> Endpoint:
    return Endpoint(
        host=target.host,
        port=target.port,
        user=request.username,
        password=password,
        database=request.dbname,
        connect_timeout=target.connect_timeout,
        read_timeout=target.read_timeout,
        write_timeout=target.read_timeout,
        ca_bundle=target.ca_bundle,
    )


def where(target: Target, request: SqlRequest) -> str:
    return f"user {request.username!r} at {target.host}:{target.port} ({target.region})"


def try_login(target: Target, request: SqlRequest, password: str) -> pymysql.Connection | None:
    """A connection to the writer, or None when the server refuses this password.

    Anything else (unreachable, TLS refused, unknown database) raises DatabaseUnavailable:
    trying other passwords cannot help and would hide the cause. A read-only server raises
    NotWriter.
    """
    try:
        conn = connect(_endpoint(target, request, password))
    except DatabaseUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, pymysql.err.OperationalError) and cause.args and cause.args[0] == _ACCESS_DENIED:
            return None
        raise
    try:
        require_writer(conn, target)
    except BaseException:
        conn.close()
        raise
    return conn


def require_writer(conn: pymysql.Connection, target: Target) -> None:
    common_require_writer(
        conn,
        where=f"{target.host}:{target.port} in {target.region}",
        chosen_by="the rotation function",
        retry="Secrets Manager retries the step against the new writer",
    )


def _redact(text: str, secret: str) -> str:
    """Server messages can quote the statement (syntax errors do): hide the password."""
    for form in {secret, pymysql.converters.escape_string(secret)}:
        if form:
            text = text.replace(form, "****")
    return text


def change_own_password(conn: pymysql.Connection, username: str, new_password: str) -> str:
    """ALTER USER the logged-in account to ``new_password``; returns the account changed.

    The account is named explicitly from CURRENT_USER(): MariaDB 10.11 answers OK to
    ``ALTER USER CURRENT_USER() IDENTIFIED BY ...`` and leaves the password unchanged.
    MariaDB requires CREATE USER even for one's own account; the RDS master user has it.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        account = str(cur.fetchone()[0])
        user, _, host = account.rpartition("@")
        if user != username:
            raise AccountMismatch(
                f"the server authenticated {account!r}, not the secret's user {username!r}; "
                "refusing to change another account's password"
            )
        try:
            # Parameters are quoted by pymysql as string literals: 'user'@'host' is valid
            # account-name syntax on MySQL 8 and MariaDB, whatever the characters.
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, new_password))
        except pymysql.err.MySQLError as exc:
            code = exc.args[0] if exc.args else "?"
            message = _redact(str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__, new_password)
            raise PasswordChangeFailed(
                f"ALTER USER for {account!r} failed: MySQL error {code}: {message}"
            ) from None
    return account


def set_password(target: Target, request: SqlRequest) -> SqlResult:
    """Make the writer accept the pending password (log in with pending, then each of ``logins``)."""
    conn = try_login(target, request, request.pending)
    if conn is not None:
        conn.close()
        logger.info(
            "database already accepts the AWSPENDING password", extra={"version_id": request.version_id}
        )
        return SqlResult(step=SqlStep.SET, result=ALREADY_SET, region=target.region)

    used: Login | None = None
    for login in request.logins:
        conn = try_login(target, request, login.password)
        if conn is not None:
            used = login
            break
    if conn is None or used is None:
        tried = ", ".join(["AWSPENDING", *(login.stage for login in request.logins)])
        raise NoWorkingCredentials(
            f"{request.secret_id}: the database refuses {where(target, request)} with the {tried} "
            "passwords; the password was changed outside rotation: put the working password in "
            "AWSCURRENT and rotate again"
        )
    try:
        account = change_own_password(conn, request.username, request.pending)
    finally:
        conn.close()

    check = try_login(target, request, request.pending)
    if check is None:
        raise PasswordChangeFailed(
            f"{request.secret_id}: ALTER USER succeeded but the database still refuses "
            f"{where(target, request)} with the AWSPENDING password of version {request.version_id}"
        )
    check.close()
    logger.info(
        "database password changed",
        extra={"version_id": request.version_id, "logged_in_with": used.stage, "account": account},
    )
    return SqlResult(
        step=SqlStep.SET,
        result=PASSWORD_SET,
        region=target.region,
        account=account,
        logged_in_with=used.stage,
    )


def test_password(target: Target, request: SqlRequest) -> SqlResult:
    """Log in to the writer with the pending password and run a query."""
    conn = try_login(target, request, request.pending)
    if conn is None:
        raise PendingSecretRejected(
            f"{request.secret_id}: the database refuses {where(target, request)} with the AWSPENDING "
            f"password of version {request.version_id}; AWSCURRENT is unchanged (setSecret did not take effect)"
        )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT NOW()")
            if cur.fetchone() is None:
                raise PendingSecretRejected(
                    f"{request.secret_id}: SELECT NOW() returned no row as {where(target, request)}"
                )
    except pymysql.err.MySQLError as exc:
        raise DatabaseUnavailable(
            f"{request.secret_id}: SELECT NOW() failed as {where(target, request)}: {exc}"
        ) from None
    finally:
        conn.close()
    logger.info("AWSPENDING password works", extra={"version_id": request.version_id})
    return SqlResult(step=SqlStep.TEST, result=TESTED, region=target.region)


# pytest would otherwise collect the step function above as a test.
test_password.__test__ = False  # type: ignore[attr-defined]


def run(target: Target, request: SqlRequest) -> SqlResult:
    if request.step is SqlStep.SET:
        return set_password(target, request)
    return test_password(target, request)
