"""Apply versioned migrations to one database, with checksums, a lock and a failure record.

MySQL commits every DDL statement on its own, so a migration cannot be rolled back as a
whole. Instead each migration is recorded as ``running`` before its first statement,
``applied`` after its last, and ``failed`` (with the statement and the error) when one
fails; ``statements_done`` counts the statements of the file that are in effect. A
``failed`` or ``running`` record blocks every later run until an operator has put the
database right and called ``repair``, which clears the record so the next run applies
that migration again from its first statement.

Two sessions (FAILURE_CATALOG FC-P-7): the bookkeeping connection passed in holds the
lock and writes every record with autocommit; each migration's statements run on a
session of their own (``open_session``), so nothing a migration does (ROLLBACK, a
transaction left open, an implicit commit) can roll back or hide its record. A
transaction still open after a migration's last statement is rolled back and recorded
as a failure; a failing statement's open transaction is rolled back too, and the record
says which statements that undid. Every database error is raised as a named
MigrationError.

All functions take an open pymysql connection whose current database is the
application database; the bookkeeping table is created there by the bootstrap function.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NoReturn

import pymysql
from pymysql.constants import SERVER_STATUS

from lambda_src.common.errors import DatabaseUnavailable
from lambda_src.common.migration.errors import (
    BookkeepingFailed,
    ChecksumMismatch,
    HistoryMismatch,
    LockNotAcquired,
    MigrationBlocked,
    MigrationFailed,
    MigrationSetError,
    NotBootstrapped,
    RepairRefused,
)
from lambda_src.common.migration.manifest import Migration, MigrationSet, label
from lambda_src.common.migration.sqlsplit import BOOKKEEPING_TABLE, Statement

TABLE = BOOKKEEPING_TABLE
LOCK_PREFIX = "schema_migrations:"
SESSION_LOCK_PREFIX = "schema_migrations_session:"
APPLIED, FAILED, RUNNING = "applied", "failed", "running"
# A failed statement is kept as an excerpt: a no-split file's routine can be megabytes.
STATEMENT_EXCERPT_CHARS = 2000
ERROR_CHARS = 4000
_ENDS_TRANSACTION = re.compile(r"(?:COMMIT|ROLLBACK)\b(?!(?:\s+WORK)?\s+TO\b)", re.IGNORECASE)
OPEN_TRANSACTION_RULE = (
    "a migration must commit every transaction it opens: end it with COMMIT (a transaction left "
    "open would be rolled back when the migrator's session closes, after the migration was reported applied)"
)


@dataclass(frozen=True)
class Record:
    """One row of the bookkeeping table."""

    version: int
    description: str
    filename: str
    sha256: str
    status: str
    statements_total: int
    statements_done: int
    failed_statement: str | None
    failed_line: int | None
    error: str | None
    applied_by: str
    started_at: str
    finished_at: str | None

    @property
    def label(self) -> str:
        return label(self.version)

    def describe_block(self) -> str:
        in_effect = _in_effect(self.statements_done, self.statements_total)
        if self.status == FAILED:
            line = f" at line {self.failed_line}" if self.failed_line else ""
            what = f"failed{line}: {self.failed_statement!r}: {self.error}. {_sentence(in_effect)}"
        else:
            what = (
                f"was interrupted (run started {self.started_at} by {self.applied_by} never finished): "
                f"{in_effect}; the run stopped before recording what came after, so later statements "
                "may be in effect too"
            )
        return (
            f"{self.filename} {what}. Put the database right by hand, then run repair for version "
            f"{self.version}; the next migrate applies it again from its first statement"
        )


def _in_effect(done: int, total: int) -> str:
    """Which statements of a file are in effect: always the first ``done`` of them."""
    if done == 0:
        return f"none of its {total} statements is in effect"
    if done == 1:
        return f"statement 1 of {total} is in effect"
    return f"statements 1-{done} of {total} are in effect"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@contextlib.contextmanager
def _classified(doing: str) -> Iterator[None]:
    """Raise a driver error met while the migrator does its own work as BookkeepingFailed."""
    try:
        yield
    except (pymysql.MySQLError, OSError) as exc:
        raise BookkeepingFailed(f"could not {doing}: {_error_text(exc)}") from exc


def lock_name(database: str, prefix: str = LOCK_PREFIX) -> str:
    """GET_LOCK names are server-wide and at most 64 characters: one lock per database."""
    name = prefix + database
    return name if len(name) <= 64 else prefix + hashlib.sha256(database.encode()).hexdigest()[:40]


def session_lock_name(database: str) -> str:
    """Held by the session a migration runs on, for as long as the server keeps that session.

    The run's lock belongs to the bookkeeping session, so it can be released (that session
    died) while the server still executes a statement of the migration's session; a later
    run that finds this lock taken knows such a statement is still executing.
    """
    return lock_name(database, SESSION_LOCK_PREFIX)


def current_database(conn: pymysql.Connection) -> str:
    with _classified("read the connection's current database"), conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        row = cur.fetchone()
    if not row or not row[0]:
        raise NotBootstrapped("the connection has no current database; connect to the application database")
    return str(row[0])


def read_history(conn: pymysql.Connection) -> list[Record]:
    """Bookkeeping rows in version order; NotBootstrapped when the table is missing."""
    columns = ", ".join(Record.__dataclass_fields__)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM {TABLE} ORDER BY version")  # noqa: S608 - fixed names
            rows = cur.fetchall()
    except pymysql.err.ProgrammingError as exc:
        if exc.args and exc.args[0] == 1146:  # ER_NO_SUCH_TABLE
            raise NotBootstrapped(
                f"table {current_database(conn)}.{TABLE} does not exist: the bootstrap function creates it "
                "at deploy (infra up)"
            ) from exc
        raise BookkeepingFailed(f"could not read {TABLE}: {_error_text(exc)}") from exc
    except (pymysql.MySQLError, OSError) as exc:
        raise BookkeepingFailed(f"could not read {TABLE}: {_error_text(exc)}") from exc
    names = list(Record.__dataclass_fields__)
    values: list[dict[str, Any]] = [
        {k: _text(v) if isinstance(v, datetime) else v for k, v in zip(names, row, strict=True)}
        for row in rows
    ]
    return [Record(**v) for v in values]


def applied_version(history: list[Record]) -> int:
    return max((r.version for r in history if r.status == APPLIED), default=0)


def plan(
    history: list[Record], migrations: MigrationSet, *, target_version: int | None = None
) -> list[Migration]:
    """Pending migrations, in order, after every safety check; raise naming the migration otherwise."""
    blocking = [r for r in history if r.status != APPLIED]
    if blocking:
        raise MigrationBlocked(blocking[0].describe_block())
    verify(history, migrations)
    current = applied_version(history)
    pending = _not_applied(history, migrations)
    if target_version is not None:
        if target_version < current:
            raise HistoryMismatch(
                f"target {label(target_version)} is below the applied version {label(current)}: "
                "migrations are never undone; write a new migration instead"
            )
        if target_version > migrations.latest_version:
            raise MigrationSetError(
                f"target {label(target_version)} is not in the migration set "
                f"(latest {label(migrations.latest_version)})"
            )
        pending = [m for m in pending if m.version <= target_version]
    return pending


def verify(history: list[Record], migrations: MigrationSet) -> None:
    """Every applied record matches the set (same file, same checksum) and the history has no gap."""
    published = migrations.by_version()
    for record in (r for r in history if r.status == APPLIED):
        migration = published.get(record.version)
        if migration is None:
            raise HistoryMismatch(
                f"{record.filename} is applied in the database but missing from the migration set "
                f"(latest {label(migrations.latest_version)}); publish a set that contains it"
            )
        if migration.sha256 != record.sha256:
            raise ChecksumMismatch(
                f"{migration.filename} changed after it was applied: applied sha256 {record.sha256}, "
                f"now sha256 {migration.sha256}. Applied migrations must never change; put the change "
                "in a new migration"
            )
        if migration.filename != record.filename:
            raise HistoryMismatch(
                f"{label(record.version)} was applied as {record.filename} "
                f"but is now named {migration.filename}"
            )
    pending = _not_applied(history, migrations)
    current = applied_version(history)
    if pending and pending[0].version < current:
        raise HistoryMismatch(
            f"{pending[0].filename} is not applied but {label(current)} is: the database's history has a gap"
        )


def _not_applied(history: list[Record], migrations: MigrationSet) -> list[Migration]:
    applied = {r.version for r in history if r.status == APPLIED}
    return [m for m in migrations.migrations if m.version not in applied]


def status(conn: pymysql.Connection, migrations: MigrationSet | None) -> dict[str, Any]:
    """Applied history, pending migrations and any problem, without changing anything."""
    history = read_history(conn)
    database = current_database(conn)
    problems: list[str] = []
    blocked = next((r for r in history if r.status != APPLIED), None)
    if blocked is not None:
        problems.append(f"MigrationBlocked: {blocked.describe_block()}")
    pending: list[Migration] = []
    if migrations is not None:
        pending = _not_applied(history, migrations)
        try:
            verify(history, migrations)
        except (ChecksumMismatch, HistoryMismatch) as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
    with _classified("ask whether a migration holds the lock"), conn.cursor() as cur:
        cur.execute(
            "SELECT COALESCE(IS_USED_LOCK(%s), IS_USED_LOCK(%s))",
            (lock_name(database), session_lock_name(database)),
        )
        holder = cur.fetchone()
    return {
        "action": "status",
        "database": database,
        "version": applied_version(history),
        "applied": [asdict(r) for r in history if r.status == APPLIED],
        "blocked_by": asdict(blocked) if blocked else None,
        "pending": [_brief(m) for m in pending],
        "latest_version": migrations.latest_version if migrations is not None else None,
        "in_progress": bool(holder and holder[0]),
        "problems": problems,
    }


def migrate(
    conn: pymysql.Connection,
    migrations: MigrationSet,
    *,
    open_session: Callable[[], pymysql.Connection],
    target_version: int | None = None,
    dry_run: bool = False,
    lock_timeout: float = 10.0,
    applied_by: str = "migrator",
    on_finish: Callable[[int], None] | None = None,
    log: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Apply pending migrations in order under the database lock.

    ``conn`` is the bookkeeping connection: it holds the lock and writes the records,
    with autocommit. ``open_session()`` opens the connection one migration's statements
    run on (a new one for each migration, so no session state leaks between files).
    ``on_finish(version)`` runs while the lock is still held, after success and after a
    failure, so the published version never goes backwards under concurrent runs.
    """
    database = current_database(conn)
    if dry_run:
        history = read_history(conn)
        pending = plan(history, migrations, target_version=target_version)
        return _result(database, history, [], pending, dry_run=True)
    with _classified("turn on autocommit for the bookkeeping connection"):
        conn.autocommit(True)
    with DatabaseLock(conn, lock_name(database), lock_timeout, session_lock=session_lock_name(database)):
        history = read_history(conn)
        pending = plan(history, migrations, target_version=target_version)
        applied: list[dict[str, Any]] = []
        version = applied_version(history)
        try:
            for migration in pending:
                started = time.monotonic()
                _apply_one(conn, open_session, migration, applied_by, session_lock_name(database))
                version = migration.version
                applied.append({**_brief(migration), "ms": round((time.monotonic() - started) * 1000)})
                if log:
                    log("migration applied", version=migration.version, migration=migration.filename)
        except BaseException:
            # The failure is the headline: reporting the version must not replace it.
            with contextlib.suppress(Exception):
                if on_finish is not None:
                    on_finish(version)
            raise
        if on_finish is not None:
            on_finish(version)
        return _result(database, read_history(conn), applied, [], dry_run=False)


def repair(
    conn: pymysql.Connection, version: int, *, dry_run: bool = False, lock_timeout: float = 10.0
) -> dict[str, Any]:
    """Clear a failed or interrupted record so the next migrate applies it again."""
    database = current_database(conn)
    with _classified("turn on autocommit for the bookkeeping connection"):
        conn.autocommit(True)
    with DatabaseLock(conn, lock_name(database), lock_timeout, session_lock=session_lock_name(database)):
        record = next((r for r in read_history(conn) if r.version == version), None)
        if record is None:
            raise RepairRefused(f"{label(version)} has no record in {database}.{TABLE}: nothing to repair")
        if record.status == APPLIED:
            raise RepairRefused(
                f"{record.filename} is applied; repair only clears a failed or interrupted migration"
            )
        if not dry_run:
            with _classified(f"clear the record of {record.filename}"), conn.cursor() as cur:
                cur.execute(f"DELETE FROM {TABLE} WHERE version = %s AND status <> %s", (version, APPLIED))  # noqa: S608
    return {
        "action": "repair",
        "database": database,
        "dry_run": dry_run,
        "cleared": asdict(record),
        "next": f"migrate applies {record.filename} again from its first statement",
    }


class DatabaseLock:
    """GET_LOCK held by this session: the server releases it if the session dies (no stale lock)."""

    def __init__(
        self, conn: pymysql.Connection, name: str, timeout: float, *, session_lock: str | None = None
    ) -> None:
        self.conn, self.name, self.timeout, self.session_lock = conn, name, timeout, session_lock

    def __enter__(self) -> DatabaseLock:
        with _classified(f"take the lock {self.name!r}"), self.conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (self.name, self.timeout))
            row = cur.fetchone()
            if row and row[0] == 1:
                if self.session_lock is None:
                    return self
                cur.execute("SELECT IS_USED_LOCK(%s)", (self.session_lock,))
                orphan = cur.fetchone()
                if not orphan or orphan[0] is None:
                    return self
                cur.execute("DO RELEASE_LOCK(%s)", (self.name,))
                raise LockNotAcquired(
                    f"a statement of an earlier migration run is still executing on connection {orphan[0]} "
                    "(that run's Lambda stopped or lost its connection); wait for it to finish, or stop it "
                    f"with KILL {orphan[0]}, then run again"
                )
            cur.execute("SELECT IS_USED_LOCK(%s)", (self.name,))
            holder = cur.fetchone()
        raise LockNotAcquired(
            f"another migration holds the lock {self.name!r} (connection id {holder[0] if holder else '?'}); "
            f"waited {self.timeout:g} s. Run again when it has finished"
        )

    def __exit__(self, *exc: object) -> None:
        if not self.conn.open:
            return  # the server released the lock with the session
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (self.name,))
        except pymysql.MySQLError:
            pass  # the lock is released with the session when the connection closes


def _apply_one(
    book: pymysql.Connection,
    open_session: Callable[[], pymysql.Connection],
    migration: Migration,
    applied_by: str,
    session_lock: str,
) -> None:
    work: pymysql.Connection | None = None
    try:
        work = open_session()
        work.autocommit(True)  # each statement commits on its own unless the file opens a transaction
        with work.cursor() as cur:
            cur.execute("DO GET_LOCK(%s, 0)", (session_lock,))  # free: checked under the run's lock
    except (pymysql.MySQLError, OSError, DatabaseUnavailable) as exc:
        if work is not None:
            with contextlib.suppress(Exception):
                work.close()
        raise BookkeepingFailed(
            f"{migration.filename}: could not open the session its statements run on "
            f"({exc if isinstance(exc, DatabaseUnavailable) else _error_text(exc)}); nothing of it ran"
        ) from exc
    try:
        _write(
            book,
            migration,
            "record it as running before its first statement",
            "nothing of it ran",
            f"INSERT INTO {TABLE} (version, description, filename, sha256, status, statements_total, "  # noqa: S608
            "statements_done, applied_by, started_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 0, %s, UTC_TIMESTAMP(6))",
            (
                migration.version,
                migration.description,
                migration.filename,
                migration.sha256,
                RUNNING,
                len(migration.statements),
                applied_by[:255],
            ),
        )
        _run_statements(book, work, migration)
    finally:
        with contextlib.suppress(Exception):
            if work.open:  # released now: the server ends a closed session asynchronously
                with work.cursor() as cur:
                    cur.execute("DO RELEASE_LOCK(%s)", (session_lock,))
            work.close()  # the server rolls back whatever the session still holds


def _run_statements(book: pymysql.Connection, work: pymysql.Connection, migration: Migration) -> None:
    total = len(migration.statements)
    in_effect = 0
    opened: Statement | None = None  # the statement that opened the transaction still open
    for statement in migration.statements:
        try:
            with work.cursor() as cur:
                cur.execute(statement.sql)  # no args: '%' in the SQL is not a placeholder
                if cur.description is not None:
                    # pymysql reads the server status from OK packets, not from the end of a
                    # result set; COM_PING answers with an OK packet and starts nothing.
                    work.ping()
        except (pymysql.MySQLError, OSError) as exc:
            _fail(book, work, migration, statement, opened, in_effect, _error_text(exc), exc)
        in_transaction = _in_transaction(work)
        # COMMIT AND CHAIN (or completion_type=CHAIN) commits and opens the next transaction at once.
        chained = in_transaction and opened is not None and _ENDS_TRANSACTION.match(statement.sql)
        if in_transaction and not chained:
            opened = opened or statement
        else:
            opened = statement if chained else None
            if in_effect != statement.index:
                in_effect = statement.index
                _write(
                    book,
                    migration,
                    f"record statement {statement.index} of {total} as in effect",
                    "the run stopped there; its 'running' record blocks further runs until repaired",
                    f"UPDATE {TABLE} SET statements_done = %s WHERE version = %s",  # noqa: S608
                    (in_effect, migration.version),
                )
    if opened is not None:
        error = (
            f"the transaction opened by statement {opened.index} (line {opened.line}) was still open after "
            f"the last statement; the migrator rolled it back, undoing statements {opened.index}-{total}. "
            f"Rule: {OPEN_TRANSACTION_RULE}"
        )
        _fail(book, work, migration, opened, opened, in_effect, error, None)
    _write(
        book,
        migration,
        f"record it as applied after all {total} of its statements ran",
        "its 'running' record blocks further runs until repaired",
        f"UPDATE {TABLE} SET status = %s, statements_done = %s, finished_at = UTC_TIMESTAMP(6) "  # noqa: S608
        "WHERE version = %s AND status = %s",
        (APPLIED, total, migration.version, RUNNING),
        expect_row=True,
    )


def _in_transaction(work: pymysql.Connection) -> bool:
    """Whether the migration's session has a transaction open, from the last OK packet.

    SERVER_STATUS_IN_TRANS is part of the client/server protocol of both servers, so this
    works alike on MySQL 8.0 / Aurora MySQL 3 (include/mysql_com.h: "raised when a
    multi-statement transaction has been started, either explicitly, by means of BEGIN or
    COMMIT AND CHAIN, or implicitly, by the first transactional statement, when
    autocommit=off") and MariaDB (OK_Packet: "A transaction is currently active"). The SQL
    alternatives are not portable: @@in_transaction exists in MariaDB only, and
    information_schema.INNODB_TRX needs the PROCESS privilege the migrator does not have.
    """
    return bool(work.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


def _fail(
    book: pymysql.Connection,
    work: pymysql.Connection,
    migration: Migration,
    statement: Statement,
    opened: Statement | None,
    in_effect: int,
    error: str,
    cause: BaseException | None,
) -> NoReturn:
    """Undo what the session still holds, record the failure, raise MigrationFailed.

    ``in_effect``: how many of the file's first statements are committed; the open
    transaction (from ``opened`` on), if any, is rolled back here.
    """
    total = len(migration.statements)
    if not work.open:  # pymysql closes a connection that timed out or broke
        # The server may still be running the statement: stop it before the lock is released.
        # Both sessions log in as the migrator user, and a user may KILL its own sessions
        # without CONNECTION_ADMIN or SUPER (MySQL 8.0 and MariaDB manuals, KILL).
        with contextlib.suppress(pymysql.MySQLError, OSError), book.cursor() as cur:
            cur.execute("KILL CONNECTION %s", (work.thread_id(),))
        error += (
            "; the connection was lost while it ran, and the migrator killed its session: check "
            "whether the statement took effect"
        )
    else:
        with contextlib.suppress(pymysql.MySQLError, OSError):
            work.rollback()  # a failing statement leaves its transaction open
        if opened is not None and cause is not None:
            error += (
                f"; the transaction opened by statement {opened.index} (line {opened.line}) was rolled "
                f"back, undoing statements {opened.index}-{statement.index - 1}"
            )
    not_recorded = _record_failure(book, migration, statement, in_effect, error)
    raise MigrationFailed(
        f"{migration.filename} failed at statement {statement.index} of {total} (line {statement.line}): "
        f"{_excerpt(statement.sql)!r}: {error}. {_sentence(_in_effect(in_effect, total))}. "
        + (
            "Recorded as failed; it blocks further runs until repaired"
            if not_recorded is None
            else f"Could not record the failure ({not_recorded}); its 'running' record blocks further runs"
        )
    ) from cause


def _record_failure(
    book: pymysql.Connection, migration: Migration, statement: Statement, in_effect: int, error: str
) -> str | None:
    """Mark the record failed; None when recorded, else why it could not be (it stays 'running')."""
    try:
        with book.cursor() as cur:
            cur.execute(
                f"UPDATE {TABLE} SET status = %s, statements_done = %s, failed_statement = %s, "  # noqa: S608
                "failed_line = %s, error = %s, finished_at = UTC_TIMESTAMP(6) WHERE version = %s",
                (
                    FAILED,
                    in_effect,
                    _excerpt(statement.sql, STATEMENT_EXCERPT_CHARS),
                    statement.line,
                    error[:ERROR_CHARS],
                    migration.version,
                ),
            )
            if cur.rowcount != 1:
                return f"its record is missing from {TABLE}"
    except (pymysql.MySQLError, OSError) as exc:
        return _error_text(exc)
    return None


def _write(
    book: pymysql.Connection,
    migration: Migration,
    doing: str,
    consequence: str,
    sql: str,
    args: tuple[Any, ...],
    *,
    expect_row: bool = False,
) -> None:
    """One bookkeeping write (autocommit); BookkeepingFailed naming the migration otherwise."""
    try:
        with book.cursor() as cur:
            cur.execute(sql, args)
            missing = expect_row and cur.rowcount != 1
    except (pymysql.MySQLError, OSError) as exc:
        raise BookkeepingFailed(
            f"{migration.filename}: could not {doing} ({_error_text(exc)}); {consequence}"
        ) from exc
    if missing:
        raise BookkeepingFailed(
            f"{migration.filename}: could not {doing} (its 'running' record is missing from {TABLE}); "
            f"{consequence}"
        )


def _excerpt(sql: str, limit: int = 500) -> str:
    """The statement, cut to ``limit`` characters with the number left out."""
    if len(sql) <= limit:
        return sql
    return f"{sql[:limit]}... [{len(sql) - limit} more characters]"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) == 2 and isinstance(exc.args[0], int):
        return f"MySQL error {exc.args[0]}: {exc.args[1]}"
    return f"{type(exc).__name__}: {exc}"


def _brief(migration: Migration) -> dict[str, Any]:
    return {
        "version": migration.version,
        "filename": migration.filename,
        "sha256": migration.sha256,
        "statements": len(migration.statements),
    }


def _result(
    database: str,
    history: list[Record],
    applied: list[dict[str, Any]],
    pending: list[Migration],
    *,
    dry_run: bool,
) -> dict[str, Any]:
    return {
        "action": "migrate",
        "database": database,
        "dry_run": dry_run,
        "version": applied_version(history),
        "applied": applied,
        "pending": [_brief(m) for m in pending],
    }


def _text(value: datetime) -> str:
    return value.isoformat(timespec="microseconds") + "Z"
