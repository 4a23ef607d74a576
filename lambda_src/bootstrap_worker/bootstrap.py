"""Create the application database, its least-privilege users and the migration bookkeeping.

Idempotent: every run converges on the same state. Users are created or get the
password from their secret; privileges are compared with what the role needs and
rewritten only when they differ, so a second run changes nothing and a running
application never loses its grants during a deploy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pymysql

from lambda_src.common.bootstrap_sql import ROLE_PRIVILEGES, UserSpec, validate
from lambda_src.common.errors import LambdaCodeError

USER_HOST = "%"  # any address: the security group, not the account, limits who reaches 3306


class BootstrapError(LambdaCodeError):
    """A bootstrap step failed; the message names the step and quotes the database's error."""


BOOKKEEPING_TABLE = "schema_migrations"
# The migrator (lambda_src.migrator_worker.migrations) reads and writes these columns.
BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS `{database}`.`schema_migrations` (
  version INT UNSIGNED NOT NULL,
  description VARCHAR(200) NOT NULL,
  filename VARCHAR(255) NOT NULL,
  sha256 CHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  statements_total INT UNSIGNED NOT NULL,
  statements_done INT UNSIGNED NOT NULL DEFAULT 0,
  failed_statement MEDIUMTEXT NULL,
  failed_line INT UNSIGNED NULL,
  error TEXT NULL,
  applied_by VARCHAR(255) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  PRIMARY KEY (version),
  CONSTRAINT schema_migrations_status CHECK (status IN ('running', 'applied', 'failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


def bootstrap(conn: pymysql.Connection, database: str, users: Sequence[UserSpec]) -> dict[str, Any]:
    """Converge the database, bookkeeping table and users; return what changed (no secrets)."""
    validate(database, users)
    created_database = _ensure_database(conn, database)
    created_table = _ensure_bookkeeping(conn, database)
    pattern = grant_pattern(conn, database)
    return {
        "database": database,
        "database_created": created_database,
        "bookkeeping_table_created": created_table,
        "users": [_ensure_user(conn, pattern, spec) for spec in users],
    }


def grant_pattern(conn: pymysql.Connection, database: str) -> str:
    """The database name as GRANT must spell it to mean exactly this database.

    At database level GRANT treats ``_`` and ``%`` as wildcards (``app_db`` would also
    cover ``appXdb``) unless escaped; with MySQL 8's partial_revokes on they are literal.
    """
    partial_revokes = False
    with contextlib.suppress(BootstrapError):  # MariaDB has no partial_revokes: wildcards always apply
        partial_revokes = bool(
            _fetch(conn, "SELECT @@GLOBAL.partial_revokes", (), "read partial_revokes")[0][0]
        )
    return database if partial_revokes else database.replace("_", r"\_").replace("%", r"\%")


def _ensure_database(conn: pymysql.Connection, database: str) -> bool:
    rows = _fetch(
        conn,
        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (database,),
        f"look up database {database}",
    )
    _execute(
        conn,
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4",
        (),
        f"create database {database}",
    )
    return not rows


def _ensure_bookkeeping(conn: pymysql.Connection, database: str) -> bool:
    rows = _fetch(
        conn,
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, BOOKKEEPING_TABLE),
        f"look up table {database}.{BOOKKEEPING_TABLE}",
    )
    _execute(
        conn, BOOKKEEPING_DDL.format(database=database), (), f"create table {database}.{BOOKKEEPING_TABLE}"
    )
    return not rows


def _ensure_user(conn: pymysql.Connection, pattern: str, spec: UserSpec) -> dict[str, Any]:
    account = (spec.username, USER_HOST)
    exists = bool(
        _fetch(
            conn,
            "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
            account,
            f"look up {spec.username}",
        )
    )
    if exists:
        # The secret is the source of truth: a rotated or hand-changed password is set back to it.
        _execute(
            conn,
            "ALTER USER %s@%s IDENTIFIED BY %s",
            (*account, spec.password),
            f"set {spec.username} password",
            redact=spec.password,
        )
    else:
        _execute(
            conn,
            "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
            (*account, spec.password),
            f"create {spec.username}",
            redact=spec.password,
        )
    wanted = set(ROLE_PRIVILEGES[spec.role])
    held, other = _privileges(conn, spec.username, pattern)
    grants_changed = bool(other) or held != wanted
    privileges = ", ".join(ROLE_PRIVILEGES[spec.role])
    if other or held - wanted:
        # Revoking first opens a short window without privileges; only ever needed to take
        # away something a person granted by hand.
        _execute(conn, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account, f"revoke {spec.username}")
    if grants_changed:
        _execute(conn, f"GRANT {privileges} ON `{pattern}`.* TO %s@%s", account, f"grant {spec.username}")
    return {
        "role": spec.role,
        "username": spec.username,
        "created": not exists,
        "grants_changed": grants_changed,
        "privileges": list(ROLE_PRIVILEGES[spec.role]),
    }


def _privileges(conn: pymysql.Connection, username: str, pattern: str) -> tuple[set[str], list[str]]:
    """(privileges on the application database, descriptions of any other privilege held)."""
    grantee = f"'{username}'@'{USER_HOST}'"
    step = f"read privileges of {username}"
    other = [
        f"global {p}"
        for (p,) in _fetch(
            conn,
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s",
            (grantee,),
            step,
        )
        if p != "USAGE"
    ]
    held: set[str] = set()
    for schema, privilege, grantable in _fetch(
        conn,
        "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES "
        "WHERE GRANTEE = %s",
        (grantee,),
        step,
    ):
        if schema == pattern and grantable == "NO":
            held.add(privilege)
        else:
            other.append(f"{privilege} on {schema}" + (" with grant option" if grantable == "YES" else ""))
    for table in ("TABLE_PRIVILEGES", "COLUMN_PRIVILEGES"):
        rows = _fetch(
            conn,
            f"SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.{table} "  # noqa: S608
            "WHERE GRANTEE = %s",
            (grantee,),
            step,
        )
        other.extend(f"{p} on {s}.{t}" for s, t, p in rows)
    return held, other


def _execute(
    conn: pymysql.Connection, sql: str, args: tuple[Any, ...], step: str, *, redact: str | None = None
) -> None:
    _fetch(conn, sql, args, step, redact=redact)


def _fetch(
    conn: pymysql.Connection, sql: str, args: tuple[Any, ...], step: str, *, redact: str | None = None
) -> list[tuple[Any, ...]]:
    """Run one statement; a database error becomes BootstrapError naming the step and quoting the error."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())
    except pymysql.MySQLError as exc:
        code, message = (*exc.args, "", "")[:2] if exc.args else ("", str(exc))
        text = f"bootstrap step '{step}' failed: MySQL error {code}: {message}"
        # A syntax error quotes the statement, which may hold the password.
        raise BootstrapError(text.replace(redact, "***") if redact else text) from exc
