"""The replicated heartbeat: one row per region, written on the writer, read on the local replica.

Schema (created by bootstrap on the writer, replicated everywhere by Aurora)::

    aurora_health.heartbeat(region VARCHAR(32) PRIMARY KEY, seq BIGINT UNSIGNED, written_at TIMESTAMP(6))

``written_at`` is the *writer's* clock (UTC_TIMESTAMP(6) evaluated in the write), so the
newest row in a region's replica says up to when that region holds the writer's data
whatever the probe's own clock says.

The probe user may write only this table (INSERT, UPDATE and SELECT on it, nothing else).
MySQL grants cannot restrict rows: any probe can write any region's row, and a probe user
per region would multiply the secrets to rotate. Each region's probe writes only its own
row by construction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

SCHEMA = "aurora_health"
TABLE = "heartbeat"
QUALIFIED = f"`{SCHEMA}`.`{TABLE}`"

CREATE_SCHEMA = f"CREATE DATABASE IF NOT EXISTS `{SCHEMA}`"
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {QUALIFIED} ("
    " region VARCHAR(32) NOT NULL PRIMARY KEY,"
    " seq BIGINT UNSIGNED NOT NULL,"
    " written_at TIMESTAMP(6) NOT NULL"
    ") ENGINE=InnoDB"
)
WRITE = (
    "INSERT INTO `aurora_health`.`heartbeat` (region, seq, written_at) VALUES (%s, 1, UTC_TIMESTAMP(6))"
    " ON DUPLICATE KEY UPDATE seq = seq + 1, written_at = UTC_TIMESTAMP(6)"
)
READ_NEWEST = "SELECT MAX(written_at) FROM `aurora_health`.`heartbeat`"


def schema_statements() -> list[str]:
    """Idempotent DDL, run by bootstrap on the writer."""
    return [CREATE_SCHEMA, CREATE_TABLE]


def grant_statements(user: str, host: str = "%") -> list[tuple[str, tuple[str, ...]]]:
    """(statement, args) that give ``user`` write access to the heartbeat table and nothing else."""
    return [
        (f"GRANT SELECT, INSERT, UPDATE ON {QUALIFIED} TO %s@%s", (user, host)),
    ]


def write_heartbeat(conn: Any, region: str) -> None:
    """Commit this region's heartbeat on the writer (autocommit connection)."""
    with conn.cursor() as cursor:
        cursor.execute(WRITE, (region,))
    conn.commit()


def newest_replicated(conn: Any) -> float | None:
    """Epoch seconds of the newest heartbeat this (local, replica) server holds; None if empty."""
    with conn.cursor() as cursor:
        cursor.execute(READ_NEWEST)
        row = cursor.fetchone()
    value = row[0] if row else None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()
