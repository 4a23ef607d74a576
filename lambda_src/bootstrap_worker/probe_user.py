"""The failover probe's database user and the replicated heartbeat table it writes.

Idempotent like the rest of bootstrap: the schema and table are created if missing, the
user gets the password from its secret, and its privileges are exactly SELECT, INSERT and
UPDATE on ``aurora_health.heartbeat`` (anything else, granted by hand, is revoked first).
The SQL itself lives in ``lambda_src.common.heartbeat``, shared with the probe.
"""

from __future__ import annotations

from typing import Any

import pymysql

from lambda_src.bootstrap_worker.bootstrap import USER_HOST, _execute, _fetch
from lambda_src.common import heartbeat

PROBE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE"})


def ensure_probe_user(conn: pymysql.Connection, username: str, password: str) -> dict[str, Any]:
    """Converge the heartbeat schema, table and probe user; return what changed (no secrets)."""
    created_table = not _fetch(
        conn,
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (heartbeat.SCHEMA, heartbeat.TABLE),
        "look up the heartbeat table",
    )
    for statement in heartbeat.schema_statements():
        _execute(conn, statement, (), "create the heartbeat schema")
    account = (username, USER_HOST)
    exists = bool(
        _fetch(conn, "SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s", account, f"look up {username}")
    )
    verb = "ALTER USER" if exists else "CREATE USER IF NOT EXISTS"
    _execute(conn, f"{verb} %s@%s IDENTIFIED BY %s", (*account, password), f"set {username}", redact=password)
    held, other = _held(conn, username)
    changed = bool(other) or held != PROBE_PRIVILEGES
    if other or held - PROBE_PRIVILEGES:
        _execute(conn, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account, f"revoke {username}")
    if changed:
        for statement, args in heartbeat.grant_statements(username, USER_HOST):
            _execute(conn, statement, args, f"grant {username}")
    return {
        "username": username,
        "created": not exists,
        "heartbeat_table_created": created_table,
        "grants_changed": changed,
        "privileges": sorted(PROBE_PRIVILEGES),
    }


def _held(conn: pymysql.Connection, username: str) -> tuple[set[str], list[str]]:
    """(privileges on the heartbeat table, descriptions of any other privilege held)."""
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
    other.extend(
        f"{p} on {s}"
        for s, p in _fetch(
            conn,
            "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
            (grantee,),
            step,
        )
    )
    held: set[str] = set()
    for schema, table, privilege in _fetch(
        conn,
        "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s",
        (grantee,),
        step,
    ):
        if (schema, table) == (heartbeat.SCHEMA, heartbeat.TABLE):
            held.add(privilege)
        else:
            other.append(f"{privilege} on {schema}.{table}")
    return held, other
