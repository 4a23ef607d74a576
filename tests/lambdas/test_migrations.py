"""Migrator: ordered, checksummed, locked, failure-recording migrations on a real MariaDB.

The statement splitter and the migration-set rules are pure and tested first; then the
runner against a database created by the real bootstrap code (unique names per test,
on the session's shared server); then the Lambda's handler with S3, SSM and Secrets
Manager faked by moto.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pymysql
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambda_src.common.aws import ClientCache
from lambda_src.common.bootstrap_sql import Account
from lambda_src.common.errors import ConfigurationError
from lambda_src.common.migration.errors import (
    BookkeepingFailed,
    ChecksumMismatch,
    HistoryMismatch,
    InvalidRequest,
    LockNotAcquired,
    MigrationBlocked,
    MigrationFailed,
    MigrationSetError,
    NotBootstrapped,
    RepairRefused,
    SourceError,
)
from lambda_src.common.migration.manifest import Manifest, Migration, MigrationSet, sha256_hex
from lambda_src.common.migration.sqlsplit import split_statements
from lambda_src.common.migrator_sql import (
    MAX_REQUEST_BYTES,
    MigrationFile,
    MigrationRequest,
    MigrationSetTooLarge,
    MigratorProtocolError,
)
from lambda_src.common.writer import Delegation, WriterMoved, WriterUnavailable
from lambda_src.migrator import handler as migrator_handler
from lambda_src.migrator_worker import handler as worker_handler
from lambda_src.migrator_worker import migrations as runner
from orchestrator.operate.schema import publish
from tests.support.app_db import AppDb, drop_app_db, make_app_db
from tests.support.global_cluster import create_global_cluster, failing_over
from tests.support.lambda_fake import InProcessLambda
from tests.support.mariadb import MariaDBServer
from tests.support.migrator_workers import (
    CLUSTERS,
    GLOBAL_ID,
    HOME,
    WORKERS,
    WRITER,
    delegation,
    register_migrator_worker,
    settings_environment,
    sql_workers,
)
from tests.support.paths import EVENTS


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def migration_set(files: dict[str, str]) -> MigrationSet:
    return MigrationSet.build(
        (Migration.from_bytes(n, sql.encode()) for n, sql in files.items()), where="test"
    )


BASE = {
    "V0001__create_widgets.sql": "CREATE TABLE widgets (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);\n",
    "V0002__seed_widgets.sql": (
        "-- two rows; the first holds a semicolon in a string\n"
        "INSERT INTO widgets VALUES (1, 'one; with semicolon');\n"
        "INSERT INTO widgets VALUES (2, 'two');\n"
    ),
    "V0003__create_gadgets.sql": "CREATE TABLE gadgets (id INT PRIMARY KEY);\n",
}


# --- Statement splitting (pure) -----------------------------------------------------------


def test_splitter_ends_statements_only_at_semicolons_outside_quotes_and_comments():
    sql = (
        "-- header; not a statement\n"
        "CREATE TABLE a (x VARCHAR(3) DEFAULT ';');  # trailing; comment\n"
        "INSERT INTO a VALUES ('it\\'s;'), (\"say \"\"hi;\"\"\"), ('x''y;');\n"
        "/* block; comment */ SELECT `odd;name` FROM a;\n"
        "SELECT 1--1\n"
    )
    statements = split_statements(sql, name="V0001__x.sql")
    assert [s.sql for s in statements] == [
        "CREATE TABLE a (x VARCHAR(3) DEFAULT ';')",
        "INSERT INTO a VALUES ('it\\'s;'), (\"say \"\"hi;\"\"\"), ('x''y;')",
        "SELECT `odd;name` FROM a",
        "SELECT 1--1",
    ]
    assert [(s.index, s.line) for s in statements] == [(1, 2), (2, 3), (3, 4), (4, 5)]


def test_splitter_keeps_executable_comments_as_code():
    statements = split_statements("/*!40101 SET NAMES utf8mb4 */;\nSELECT 1;")
    assert [s.sql for s in statements] == ["/*!40101 SET NAMES utf8mb4 */", "SELECT 1"]


def test_no_split_directive_sends_a_trigger_body_as_one_statement():
    sql = (
        "-- migrator: no-split\n"
        "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW\n"
        "BEGIN\n  SET NEW.x = 'a;';\n  SET NEW.y = 1;\nEND;\n"
        "-- trailing comment\n"
    )
    (statement,) = split_statements(sql)
    assert statement.sql.startswith("CREATE TRIGGER t") and statement.sql.endswith("END")
    assert "SET NEW.y = 1;" in statement.sql
    assert statement.line == 2


def test_no_split_directive_counts_only_in_the_header():
    sql = "SELECT 1;\n-- migrator: no-split\nSELECT 2;\n"
    assert [s.sql for s in split_statements(sql)] == ["SELECT 1", "SELECT 2"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//", "line 1: DELIMITER is a mysql client"),
        ("SELECT 1;\nSELECT 'unterminated;\n", "line 2: quote ' is never closed"),
        ("SELECT 1; /* open", "line 1: comment '/\\*' is never closed"),
    ],
)
def test_splitter_refuses_what_the_server_cannot_run_naming_the_line(sql, message):
    with pytest.raises(MigrationSetError, match=f"V0009__bad.sql: {message}"):
        split_statements(sql, name="V0009__bad.sql")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "CREATE TABLE a (x INT);\n"
            "CREATE PROCEDURE bump()\nBEGIN\n  UPDATE a SET x = x + 1;\n  SELECT x FROM a;\nEND;\n",
            r"line 2: the PROCEDURE body holds ';', so it was split into fragments \('END' at line 6 stands "
            r"alone\); put it in a file of its own whose header .* holds the line '-- migrator: no-split'",
        ),
        (
            "CREATE DEFINER = CURRENT_USER TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\n"
            "  IF NEW.x < 0 THEN SET NEW.x = 0; END IF;\nEND;\n",
            r"line 1: the TRIGGER body holds ';', so it was split into fragments \('END IF' at line 2",
        ),
        (
            "CREATE FUNCTION f() RETURNS INT BEGIN RETURN CASE WHEN 1 THEN 1 END; END;",
            r"line 1: the FUNCTION body holds ';'.*'-- migrator: no-split'",
        ),
        ("SELECT 1;\nEND;\n", r"line 2: 'END' at line 2 stands alone: .*'-- migrator: no-split'"),
    ],
    ids=["procedure", "trigger-with-if", "function-with-case-end", "lone-end"],
)
def test_a_routine_body_split_into_fragments_is_refused_naming_the_no_split_header(sql, message):
    with pytest.raises(MigrationSetError, match=f"V0009__routine.sql: {message}"):
        split_statements(sql, name="V0009__routine.sql")


def test_a_routine_without_semicolons_in_its_body_may_share_a_file():
    sql = (
        "CREATE TABLE a (x INT);\n"
        "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1;\n"
        "CREATE PROCEDURE nothing() BEGIN END;\n"
        "BEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n"
    )
    assert len(split_statements(sql)) == 6


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "CREATE TABLE a (x INT);\nUSE other;\n",
            r"line 2: 'USE other' switches the session to another schema",
        ),
        ("use `other`;", r"line 1: 'use `other`' switches the session to another schema"),
        ("/*!40101 USE other */;", r"line 1: .* switches the session to another schema"),
        ("SELECT 1;\n\\u other\n;", r"line 2: '\\\\u other' is a mysql client command"),
        ("connect other;", r"line 1: 'connect other' is a mysql client command"),
        ("SOURCE other.sql;", r"line 1: 'SOURCE other.sql' is a mysql client command"),
        (
            "DELETE FROM `schema_migrations` WHERE version = 3;",
            r"line 1: .* names schema_migrations, the migrator's record of every migration",
        ),
    ],
    ids=["use", "use-lowercase", "use-in-executable-comment", "client-u", "connect", "source", "bookkeeping"],
)
def test_statements_that_would_leave_or_touch_the_migrators_ground_are_refused_naming_the_line(sql, message):
    with pytest.raises(MigrationSetError, match=f"V0009__bad.sql: {message}"):
        split_statements(sql, name="V0009__bad.sql")


def test_names_that_merely_contain_use_or_the_table_name_are_not_refused():
    sql = "CREATE TABLE users (used INT, schema_migrations_seen INT);\nUPDATE users SET used = 1;\n"
    assert len(split_statements(sql)) == 2


def test_no_split_header_works_with_windows_line_endings():
    sql = "-- migrator: no-split\r\nCREATE PROCEDURE p()\r\nBEGIN\r\n  SELECT 1;\r\nEND;\r\n"
    (statement,) = split_statements(sql)
    assert statement.line == 2 and statement.sql.endswith("END")


def test_splitting_a_large_file_keeps_every_statement_and_its_line():
    # Regression guard for the quadratic line counting; speed itself is in benchmarks/migration_split.py.
    count = 30_000
    parts = [
        f"INSERT INTO a VALUES ({i}, 'x;{i}');\n"  # noqa: S608 - test SQL
        if i % 2
        else f"-- c{i}\nCREATE TABLE t{i} (\n  id INT\n);\n"
        for i in range(count)
    ]
    statements = split_statements("".join(parts))
    assert len(statements) == count
    expected_lines, line = [], 1
    for i, part in enumerate(parts):
        expected_lines.append(line if i % 2 else line + 1)
        line += part.count("\n")
    assert [s.line for s in statements] == expected_lines
    assert statements[-1].sql == f"INSERT INTO a VALUES ({count - 1}, 'x;{count - 1}')"  # noqa: S608


# --- Migration-set rules (pure) -------------------------------------------------------------


def test_gap_in_versions_is_refused_naming_the_missing_version():
    files = {k: v for k, v in BASE.items() if not k.startswith("V0002")}
    with pytest.raises(
        MigrationSetError, match=r"gap in versions: V0002 is missing before V0003__create_gadgets.sql"
    ):
        migration_set(files)


def test_duplicate_version_is_refused_naming_both_files():
    files = {**BASE, "V0002__other_seed.sql": "SELECT 1;"}
    with pytest.raises(MigrationSetError, match=r"duplicate version V0002: .*V0002__.*and V0002__"):
        migration_set(files)


@pytest.mark.parametrize(
    "name", ["V1__too_short.sql", "v0001__lower.sql", "V0001_one_underscore.sql", "R__ref.sql"]
)
def test_badly_named_file_is_refused_quoting_the_rule(name):
    with pytest.raises(MigrationSetError, match=f"{name!r} does not follow the rule V<version"):
        Migration.from_bytes(name, b"SELECT 1;")


def test_checksum_is_sha256_of_the_file_bytes():
    data = BASE["V0001__create_widgets.sql"].encode()
    assert Migration.from_bytes("V0001__create_widgets.sql", data).sha256 == sha256_hex(data)
    assert sha256_hex(data) == __import__("hashlib").sha256(data).hexdigest()


def test_manifest_with_a_gap_is_refused():
    text = json.dumps(
        {
            "format": 1,
            "migrations": [
                {"version": 1, "description": "a", "filename": "V0001__a.sql", "sha256": "0" * 64},
                {"version": 3, "description": "c", "filename": "V0003__c.sql", "sha256": "0" * 64},
            ],
        }
    )
    with pytest.raises(MigrationSetError, match=r"s3://b/manifest.json: gap in versions: V0002 is missing"):
        Manifest.from_json(text, where="s3://b/manifest.json")


# --- Against MariaDB ----------------------------------------------------------------------


@pytest.fixture
def app_db(mariadb: MariaDBServer) -> Iterator[AppDb]:
    db = make_app_db(mariadb)
    yield db
    drop_app_db(db)


@pytest.mark.mariadb
def test_migrate_applies_pending_migrations_in_order_and_records_their_checksums(app_db):
    migrations = migration_set(BASE)
    with app_db.connect() as conn:
        result = runner.migrate(conn, migrations, applied_by="test", open_session=app_db.connect)

    assert [m["filename"] for m in result["applied"]] == list(BASE)
    assert result["version"] == 3
    rows = app_db.query("SELECT version, filename, sha256, status, statements_done FROM schema_migrations")
    assert rows == [
        (
            1,
            "V0001__create_widgets.sql",
            sha256_hex(BASE["V0001__create_widgets.sql"].encode()),
            "applied",
            1,
        ),
        (2, "V0002__seed_widgets.sql", sha256_hex(BASE["V0002__seed_widgets.sql"].encode()), "applied", 2),
        (
            3,
            "V0003__create_gadgets.sql",
            sha256_hex(BASE["V0003__create_gadgets.sql"].encode()),
            "applied",
            1,
        ),
    ]
    started = [r[0] for r in app_db.query("SELECT started_at FROM schema_migrations ORDER BY version")]
    assert started == sorted(started)
    assert app_db.query("SELECT id, name FROM widgets ORDER BY id") == [
        (1, "one; with semicolon"),
        (2, "two"),
    ]


@pytest.mark.mariadb
def test_second_migrate_applies_nothing(app_db):
    migrations = migration_set(BASE)
    with app_db.connect() as conn:
        runner.migrate(conn, migrations, open_session=app_db.connect)
        again = runner.migrate(conn, migrations, open_session=app_db.connect)
    assert again["applied"] == []
    assert again["version"] == 3
    assert app_db.query("SELECT COUNT(*) FROM widgets") == [(2,)]


@pytest.mark.mariadb
def test_a_trigger_in_a_no_split_file_reaches_the_server_as_one_statement(app_db):
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__uppercase_names.sql": (
            "-- migrator: no-split\n"
            "CREATE TRIGGER widgets_upper BEFORE INSERT ON widgets FOR EACH ROW\n"
            "BEGIN\n  SET NEW.name = UPPER(NEW.name);\n  SET NEW.name = CONCAT(NEW.name, ';');\nEND;\n"
        ),
    }
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(files), open_session=app_db.connect)
    app_db.query("INSERT INTO widgets VALUES (1, 'abc')")
    assert app_db.query("SELECT name FROM widgets") == [("ABC;",)]


@pytest.mark.mariadb
def test_target_version_stops_there_and_a_lower_target_is_refused(app_db):
    migrations = migration_set(BASE)
    with app_db.connect() as conn:
        result = runner.migrate(conn, migrations, target_version=2, open_session=app_db.connect)
        assert [m["version"] for m in result["applied"]] == [1, 2]
        with pytest.raises(HistoryMismatch, match="target V0001 is below the applied version V0002"):
            runner.migrate(conn, migrations, target_version=1, open_session=app_db.connect)
        with pytest.raises(MigrationSetError, match="target V0007 is not in the migration set"):
            runner.migrate(conn, migrations, target_version=7, open_session=app_db.connect)
    assert app_db.tables() == {"widgets"}


@pytest.mark.mariadb
def test_dry_run_lists_pending_migrations_and_changes_nothing(app_db):
    with app_db.connect() as conn:
        result = runner.migrate(conn, migration_set(BASE), dry_run=True, open_session=app_db.connect)
    assert [m["filename"] for m in result["pending"]] == list(BASE)
    assert result["applied"] == []
    assert app_db.history() == []
    assert app_db.tables() == set()


@pytest.mark.mariadb
def test_an_applied_file_that_changed_is_refused_naming_it_and_both_checksums(app_db):
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=2, open_session=app_db.connect)
    edited = {**BASE, "V0002__seed_widgets.sql": "INSERT INTO widgets VALUES (3, 'three');\n"}
    old = sha256_hex(BASE["V0002__seed_widgets.sql"].encode())
    new = sha256_hex(edited["V0002__seed_widgets.sql"].encode())

    with app_db.connect() as conn, pytest.raises(ChecksumMismatch) as refused:
        runner.migrate(conn, migration_set(edited), open_session=app_db.connect)

    assert str(refused.value).startswith("V0002__seed_widgets.sql changed after it was applied")
    assert f"applied sha256 {old}, now sha256 {new}" in str(refused.value)
    assert app_db.history() == [(1, "applied"), (2, "applied")]
    assert app_db.tables() == {"widgets"}  # V0003 did not run either
    assert app_db.query("SELECT COUNT(*) FROM widgets") == [(2,)]


@pytest.mark.mariadb
def test_database_history_ahead_of_the_published_set_is_refused(app_db):
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)
    shorter = {k: v for k, v in BASE.items() if not k.startswith("V0003")}
    with (
        app_db.connect() as conn,
        pytest.raises(HistoryMismatch, match=r"V0003__create_gadgets.sql is applied"),
    ):
        runner.migrate(conn, migration_set(shorter), open_session=app_db.connect)


FAILING = {
    **{k: v for k, v in BASE.items() if k.startswith("V0001")},
    "V0002__half_fails.sql": (
        "CREATE TABLE parts (id INT PRIMARY KEY);\n"
        "ALTER TABLE no_such_table ADD COLUMN x INT;\n"
        "CREATE TABLE never_created (id INT);\n"
    ),
    "V0003__after.sql": "CREATE TABLE after_failure (id INT);\n",
}


@pytest.mark.mariadb
def test_a_migration_failing_midway_is_recorded_with_its_statement_and_error_and_blocks(app_db):
    with app_db.connect() as conn, pytest.raises(MigrationFailed) as failed:
        runner.migrate(conn, migration_set(FAILING), open_session=app_db.connect)

    message = str(failed.value)
    assert message.startswith("V0002__half_fails.sql failed at statement 2 of 3 (line 2)")
    assert "'ALTER TABLE no_such_table ADD COLUMN x INT'" in message
    assert "MySQL error 1146" in message
    assert "Statement 1 of 3 is in effect. Recorded as failed" in message
    row = app_db.query(
        "SELECT status, statements_done, failed_statement, failed_line, error "
        "FROM schema_migrations WHERE version = 2"
    )[0]
    assert row[:4] == ("failed", 1, "ALTER TABLE no_such_table ADD COLUMN x INT", 2)
    assert row[4].startswith("MySQL error 1146:")
    # MySQL DDL is not transactional: the first statement's table stays, later ones never ran.
    assert app_db.tables() == {"widgets", "parts"}
    assert app_db.history() == [(1, "applied"), (2, "failed")]

    with app_db.connect() as conn, pytest.raises(MigrationBlocked) as blocked:
        runner.migrate(conn, migration_set(FAILING), open_session=app_db.connect)
    assert str(blocked.value).startswith(
        "V0002__half_fails.sql failed at line 2: 'ALTER TABLE no_such_table ADD COLUMN x INT': MySQL error 1146"
    )
    assert "Statement 1 of 3 is in effect" in str(blocked.value)
    assert "run repair for version 2" in str(blocked.value)
    assert app_db.tables() == {"widgets", "parts"}


@pytest.mark.mariadb
def test_repair_after_the_operator_fixes_the_database_lets_the_fixed_migration_run(app_db):
    with app_db.connect() as conn, pytest.raises(MigrationFailed):
        runner.migrate(conn, migration_set(FAILING), open_session=app_db.connect)
    # GIVEN the operator undid the partial change and fixed the file (not applied, so it may change)
    app_db.query("DROP TABLE parts")
    fixed = {**FAILING, "V0002__half_fails.sql": "CREATE TABLE parts (id INT PRIMARY KEY);\n"}

    with app_db.connect() as conn:
        preview = runner.repair(conn, 2, dry_run=True)
        assert app_db.history() == [(1, "applied"), (2, "failed")]
        repaired = runner.repair(conn, 2)
        result = runner.migrate(conn, migration_set(fixed), open_session=app_db.connect)

    assert preview["cleared"]["status"] == repaired["cleared"]["status"] == "failed"
    assert [m["filename"] for m in result["applied"]] == ["V0002__half_fails.sql", "V0003__after.sql"]
    assert app_db.history() == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert app_db.tables() == {"widgets", "parts", "after_failure"}


@pytest.mark.mariadb
def test_repair_refuses_an_applied_or_unknown_migration(app_db):
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=1, open_session=app_db.connect)
        with pytest.raises(RepairRefused, match=r"V0001__create_widgets.sql is applied; repair only clears"):
            runner.repair(conn, 1)
        with pytest.raises(RepairRefused, match="V0002 has no record"):
            runner.repair(conn, 2)
    assert app_db.history() == [(1, "applied")]


def running_statements(mariadb: MariaDBServer, sql: str) -> list[tuple[Any, ...]]:
    return mariadb.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = %s", (sql,))


@pytest.mark.mariadb
def test_a_statement_cut_off_by_a_lost_session_is_recorded_as_failed_and_its_session_killed(app_db, mariadb):
    # GIVEN V0002's second statement waits for a lock the test holds, longer than the read timeout
    gate = f"gate{uuid.uuid4().hex[:8]}"
    waiting = f"DO GET_LOCK('{gate}', 30)"
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__slow.sql": f"CREATE TABLE before_slow (id INT);\n{waiting};\nCREATE TABLE after_slow (id INT);\n",
    }
    with mariadb.connect(autocommit=True) as holder:
        holder.cursor().execute("DO GET_LOCK(%s, 0)", (gate,))
        with app_db.connect() as conn, pytest.raises(MigrationFailed, match="line 2") as failed:
            runner.migrate(conn, migration_set(files), open_session=lambda: app_db.connect(read_timeout=0.5))
        # THEN the server is not left running the statement once the run has given up on it
        still_running = running_statements(mariadb, waiting)

    assert still_running == []
    assert "Recorded as failed" in str(failed.value)
    status, done, statement, error = app_db.query(
        "SELECT status, statements_done, failed_statement, error FROM schema_migrations WHERE version = 2"
    )[0]
    assert (status, done, statement) == ("failed", 1, waiting)
    assert "2013" in error  # lost connection during query
    assert "killed its session" in error
    assert "after_slow" not in app_db.tables()


@pytest.mark.mariadb
def test_no_run_starts_while_a_statement_of_an_earlier_run_still_executes(app_db, mariadb):
    # GIVEN an earlier run's migration session the server still runs (its Lambda was stopped)
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=1, open_session=app_db.connect)
    with app_db.connect() as orphan:
        orphan.cursor().execute("DO GET_LOCK(%s, 0)", (runner.session_lock_name(app_db.database),))
        orphan_id = orphan.thread_id()
        with app_db.connect() as conn:
            with pytest.raises(LockNotAcquired) as refused:
                runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)
            with pytest.raises(LockNotAcquired):
                runner.repair(conn, 1)
            in_progress = runner.status(conn, migration_set(BASE))["in_progress"]

    assert str(refused.value).startswith(
        f"a statement of an earlier migration run is still executing on connection {orphan_id}"
    )
    assert f"KILL {orphan_id}" in str(refused.value)
    assert in_progress is True
    assert app_db.history() == [(1, "applied")]
    # ... and the run's own lock was given back: the next run proceeds once the statement ended.
    with app_db.connect() as conn:
        assert runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)["version"] == 3


ALL_OR_NOTHING = {
    **{k: v for k, v in BASE.items() if k.startswith("V0001")},
    "V0002__move_widgets.sql": (
        "START TRANSACTION;\n"
        "INSERT INTO widgets VALUES (10, 'ten');\n"
        "INSERT INTO widgets VALUES (11, 'eleven');\n"
        "INSERT INTO widgets VALUES (10, 'duplicate');\n"
        "COMMIT;\n"
    ),
}


@pytest.mark.mariadb
def test_an_all_or_nothing_migration_whose_statement_fails_is_recorded_failed_with_nothing_in_effect(
    app_db,
):
    with app_db.connect() as conn, pytest.raises(MigrationFailed) as failed:
        runner.migrate(conn, migration_set(ALL_OR_NOTHING), open_session=app_db.connect)

    message = str(failed.value)
    assert message.startswith("V0002__move_widgets.sql failed at statement 4 of 5 (line 4)")
    assert "MySQL error 1062" in message
    assert "the transaction opened by statement 1 (line 1) was rolled back, undoing statements 1-3" in message
    assert "None of its 5 statements is in effect. Recorded as failed" in message
    status, done, statement, line, error = app_db.query(
        "SELECT status, statements_done, failed_statement, failed_line, error "
        "FROM schema_migrations WHERE version = 2"
    )[0]
    assert (status, done, statement, line) == (
        "failed",
        0,
        "INSERT INTO widgets VALUES (10, 'duplicate')",
        4,
    )
    assert error.startswith("MySQL error 1062:")
    assert app_db.query("SELECT COUNT(*) FROM widgets") == [(0,)]  # the two inserts were rolled back

    with app_db.connect() as conn, pytest.raises(MigrationBlocked) as blocked:
        runner.migrate(conn, migration_set(ALL_OR_NOTHING), open_session=app_db.connect)
    assert "None of its 5 statements is in effect" in str(blocked.value)
    assert "are in effect" not in str(blocked.value)


@pytest.mark.mariadb
def test_a_committed_transaction_counts_as_in_effect_when_a_later_statement_fails(app_db):
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__two_steps.sql": (
            "START TRANSACTION;\nINSERT INTO widgets VALUES (1, 'one');\nCOMMIT;\n"
            "ALTER TABLE no_such_table ADD COLUMN x INT;\n"
        ),
    }
    with app_db.connect() as conn, pytest.raises(MigrationFailed, match="Statements 1-3 of 4 are in effect"):
        runner.migrate(conn, migration_set(files), open_session=app_db.connect)
    assert app_db.query("SELECT status, statements_done FROM schema_migrations WHERE version = 2") == [
        ("failed", 3)
    ]
    assert app_db.query("SELECT id FROM widgets") == [(1,)]


@pytest.mark.mariadb
def test_commit_and_chain_counts_what_it_committed_as_in_effect(app_db):
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__chained.sql": (
            "START TRANSACTION;\nINSERT INTO widgets VALUES (1, 'one');\nCOMMIT AND CHAIN;\n"
            "INSERT INTO widgets VALUES (2, 'two');\nINSERT INTO widgets VALUES (1, 'duplicate');\nCOMMIT;\n"
        ),
    }
    with app_db.connect() as conn, pytest.raises(MigrationFailed, match="Statements 1-3 of 6 are in effect"):
        runner.migrate(conn, migration_set(files), open_session=app_db.connect)
    assert app_db.query("SELECT statements_done FROM schema_migrations WHERE version = 2") == [(3,)]
    assert app_db.query("SELECT id FROM widgets") == [(1,)]  # the chained transaction was rolled back


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("opening", "opened_line", "in_effect"),
    [
        ("START TRANSACTION;\n", 2, "Statement 1 of 4 is in effect"),
        # SET autocommit = 0 opens nothing by itself: the first INSERT opens the transaction.
        ("SET autocommit = 0;\n", 3, "Statements 1-2 of 4 are in effect"),
    ],
    ids=["start-transaction", "autocommit-off"],
)
def test_a_migration_that_leaves_a_transaction_open_fails_and_is_not_reported_applied(
    migrator_lambda, opening, opened_line, in_effect
):
    # GIVEN V0002 opens a transaction and never commits it
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__never_commits.sql": "".join(
            [
                "CREATE TABLE parts (id INT PRIMARY KEY);\n",
                opening,
                "INSERT INTO widgets VALUES (1, 'one');\nINSERT INTO parts VALUES (1);\n",
            ]
        ),
    }
    migrator_lambda.publish(files)

    with pytest.raises(MigrationFailed) as failed:
        migrator_lambda.run(load_event("migrator_migrate"))

    message = str(failed.value)
    assert f"(line {opened_line})" in message and "was still open after the last statement" in message
    assert "Rule: a migration must commit every transaction it opens" in message
    assert in_effect in message
    db = migrator_lambda.db
    assert db.history() == [(1, "applied"), (2, "failed")]
    assert db.query("SELECT statements_done, failed_line FROM schema_migrations WHERE version = 2") == [
        (opened_line - 1, opened_line)
    ]
    assert db.query("SELECT COUNT(*) FROM widgets") == [(0,)]
    assert db.query("SELECT COUNT(*) FROM parts") == [(0,)]
    assert migrator_lambda.published_version() == "1"  # V0002 was never published as applied


@pytest.mark.mariadb
def test_a_rollback_inside_a_migration_cannot_undo_its_record(app_db):
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__rolls_back.sql": (
            "START TRANSACTION;\nINSERT INTO widgets VALUES (1, 'one');\nROLLBACK;\n"
            "INSERT INTO widgets VALUES (2, 'two');\n"
        ),
    }
    with app_db.connect() as conn:
        result = runner.migrate(conn, migration_set(files), open_session=app_db.connect)
    assert result["version"] == 2
    assert app_db.query("SELECT status, statements_done FROM schema_migrations WHERE version = 2") == [
        ("applied", 4)
    ]
    assert app_db.query("SELECT id FROM widgets") == [(2,)]


@pytest.mark.mariadb
def test_a_migration_that_switches_schema_is_refused_before_anything_runs(migrator_lambda):
    db = migrator_lambda.db
    files = {
        **{k: v for k, v in BASE.items() if k.startswith("V0001")},
        "V0002__elsewhere.sql": "CREATE TABLE parts (id INT);\nUSE mysql;\nCREATE TABLE x (id INT);\n",
    }
    # The operator's publish refuses it without a database ...
    with pytest.raises(MigrationSetError, match=r"V0002__elsewhere.sql: line 2: 'USE mysql' switches"):
        migration_set(files)
    # ... and so does the migrator, for a set published by other means.
    migrator_lambda.publish(BASE)
    bucket, prefix = migrator_lambda.settings.bucket, migrator_lambda.settings.prefix
    manifest = json.loads(
        migrator_lambda.s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read()
    )
    body = files["V0002__elsewhere.sql"].encode()
    put = migrator_lambda.s3.put_object(Bucket=bucket, Key=f"{prefix}V0002__elsewhere.sql", Body=body)
    manifest["migrations"] = [
        manifest["migrations"][0],
        {
            "version": 2,
            "description": "elsewhere",
            "filename": "V0002__elsewhere.sql",
            "sha256": sha256_hex(body),
            "s3_version_id": put["VersionId"],
        },
    ]
    migrator_lambda.s3.put_object(Bucket=bucket, Key=f"{prefix}manifest.json", Body=json.dumps(manifest))

    with pytest.raises(MigrationSetError, match=r"V0002__elsewhere.sql: line 2: 'USE mysql' switches"):
        migrator_lambda.run(load_event("migrator_migrate"))

    assert db.history() == []  # nothing ran, no record is stuck
    assert db.tables() == set()


@pytest.mark.mariadb
def test_a_bookkeeping_write_that_fails_is_a_named_error_and_leaves_a_blocking_record(app_db):
    # GIVEN the server refuses to mark V0002 applied (a trigger the test adds as root)
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=1, open_session=app_db.connect)
    with app_db.server.connect(database=app_db.database, autocommit=True) as root, root.cursor() as cur:
        cur.execute(
            "CREATE TRIGGER refuse_applied BEFORE UPDATE ON schema_migrations FOR EACH ROW "
            "BEGIN IF NEW.status = 'applied' AND NEW.version = 2 THEN "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test'; END IF; END"
        )

    with app_db.connect() as conn, pytest.raises(BookkeepingFailed) as failed:
        runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)

    assert str(failed.value) == (
        "V0002__seed_widgets.sql: could not record it as applied after all 2 of its statements ran "
        "(MySQL error 1644: refused by test); its 'running' record blocks further runs until repaired"
    )
    assert app_db.history() == [(1, "applied"), (2, "running")]
    assert app_db.query("SELECT statements_done FROM schema_migrations WHERE version = 2") == [(2,)]
    assert "gadgets" not in app_db.tables()  # V0003 did not run


@pytest.mark.mariadb
@pytest.mark.parametrize("action", ["status", "migrate", "dry_run", "repair"])
def test_a_dead_connection_is_reported_as_a_named_error_not_a_driver_error(app_db, action):
    conn = app_db.connect()
    conn.close()
    calls = {
        "status": lambda: runner.status(conn, migration_set(BASE)),
        "migrate": lambda: runner.migrate(conn, migration_set(BASE), open_session=app_db.connect),
        "dry_run": lambda: runner.migrate(
            conn, migration_set(BASE), dry_run=True, open_session=app_db.connect
        ),
        "repair": lambda: runner.repair(conn, 1),
    }
    with pytest.raises(
        BookkeepingFailed, match=r"could not read (the connection's current database|schema_migrations)"
    ):
        calls[action]()


@pytest.mark.mariadb
def test_a_session_that_cannot_be_opened_is_a_named_error_and_records_nothing(app_db):
    def refused() -> pymysql.Connection:
        return app_db.server.connect(user="nobody", password="wrong")

    with (
        app_db.connect() as conn,
        pytest.raises(BookkeepingFailed, match=r"V0001__create_widgets.sql: could not open the session"),
    ):
        runner.migrate(conn, migration_set(BASE), open_session=refused)
    assert app_db.history() == []


@pytest.mark.mariadb
def test_an_interrupted_run_blocks_until_repaired(app_db):
    # GIVEN a run that died mid-migration (the Lambda was stopped): its record says 'running'
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=1, open_session=app_db.connect)
    app_db.query(
        "INSERT INTO schema_migrations (version, description, filename, sha256, status, statements_total, "
        "statements_done, applied_by, started_at) VALUES (2, 'seed_widgets', 'V0002__seed_widgets.sql', %s, "
        "'running', 2, 1, 'migrator/req-1', UTC_TIMESTAMP(6))",
        (sha256_hex(BASE["V0002__seed_widgets.sql"].encode()),),
    )
    with app_db.connect() as conn:
        with pytest.raises(
            MigrationBlocked,
            match=r"V0002__seed_widgets.sql was interrupted \(run started .* by migrator/req-1 never "
            r"finished\): statement 1 of 2 is in effect; the run stopped before recording what came after",
        ):
            runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)
        status = runner.status(conn, migration_set(BASE))
    assert status["blocked_by"]["status"] == "running"
    assert status["problems"][0].startswith("MigrationBlocked: V0002__seed_widgets.sql was interrupted")


@pytest.mark.mariadb
def test_status_reports_applied_pending_and_drift_without_changing_anything(app_db):
    with app_db.connect() as conn:
        runner.migrate(conn, migration_set(BASE), target_version=1, open_session=app_db.connect)
        edited = {**BASE, "V0001__create_widgets.sql": "CREATE TABLE widgets (id BIGINT PRIMARY KEY);\n"}
        clean = runner.status(conn, migration_set(BASE))
        drifted = runner.status(conn, migration_set(edited))
    assert clean["version"] == 1
    assert [a["filename"] for a in clean["applied"]] == ["V0001__create_widgets.sql"]
    assert [p["version"] for p in clean["pending"]] == [2, 3]
    assert clean["problems"] == [] and clean["in_progress"] is False
    assert drifted["problems"][0].startswith("ChecksumMismatch: V0001__create_widgets.sql changed")
    assert app_db.history() == [(1, "applied")]


@pytest.mark.mariadb
def test_a_database_without_bookkeeping_is_reported_as_not_bootstrapped(app_db):
    app_db.query("DROP TABLE schema_migrations")
    with app_db.connect() as conn, pytest.raises(NotBootstrapped, match=r"schema_migrations does not exist"):
        runner.migrate(conn, migration_set(BASE), open_session=app_db.connect)


# --- Two migrators at once ------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], what: str, limit: float = 15.0) -> None:
    """Poll until true; the limit only keeps a broken test from hanging."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def gated_migrations(gate: str) -> MigrationSet:
    """V0002 stops at a lock the test holds, so the first run is provably mid-migration.

    Before that it releases every lock its own session holds, which must not free the
    migration lock for a second run.
    """
    return migration_set(
        {
            **{k: v for k, v in BASE.items() if k.startswith("V0001")},
            "V0002__wait_at_gate.sql": (
                "CREATE TABLE runs (id INT AUTO_INCREMENT PRIMARY KEY);\n"
                # The migration lock belongs to the bookkeeping session: this releases nothing of it.
                "DO RELEASE_ALL_LOCKS();\n"
                f"DO GET_LOCK('{gate}', 30);\n"
                f"DO RELEASE_LOCK('{gate}');\n"
                "INSERT INTO runs () VALUES ();\n"
            ),
        }
    )


def run_in_thread(
    db: AppDb, migrations: MigrationSet, lock_timeout: float, results: dict[str, Any], key: str
):
    def target() -> None:
        try:
            with db.connect() as conn:
                results[key] = runner.migrate(
                    conn, migrations, lock_timeout=lock_timeout, applied_by=key, open_session=db.connect
                )
        except Exception as exc:
            results[key] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.mark.mariadb
def test_a_second_migrator_reports_the_lock_and_applies_nothing_while_the_first_runs(app_db, mariadb):
    gate = f"gate{uuid.uuid4().hex[:8]}"
    migrations = gated_migrations(gate)
    results: dict[str, Any] = {}
    with mariadb.connect(autocommit=True) as holder:
        holder.cursor().execute("DO GET_LOCK(%s, 0)", (gate,))
        first = run_in_thread(app_db, migrations, 5, results, "first")
        wait_for(lambda: (2, "running") in app_db.history(), "the first run to be inside V0002")

        with app_db.connect() as conn, pytest.raises(LockNotAcquired) as refused:
            runner.migrate(conn, migrations, lock_timeout=0.2, open_session=app_db.connect)
        holder.cursor().execute("DO RELEASE_LOCK(%s)", (gate,))
        first.join(20)

    assert str(refused.value).startswith(
        f"another migration holds the lock 'schema_migrations:{app_db.database}'"
    )
    assert [m["version"] for m in results["first"]["applied"]] == [1, 2]
    assert app_db.history() == [(1, "applied"), (2, "applied")]
    assert app_db.query("SELECT COUNT(*) FROM runs") == [(1,)]


@pytest.mark.mariadb
def test_a_second_migrator_that_waits_for_the_lock_finds_nothing_left_to_apply(app_db, mariadb):
    gate = f"gate{uuid.uuid4().hex[:8]}"
    migrations = gated_migrations(gate)
    results: dict[str, Any] = {}
    lock = runner.lock_name(app_db.database)
    with mariadb.connect(autocommit=True) as holder:
        holder.cursor().execute("DO GET_LOCK(%s, 0)", (gate,))
        first = run_in_thread(app_db, migrations, 5, results, "first")
        wait_for(lambda: (2, "running") in app_db.history(), "the first run to be inside V0002")
        second = run_in_thread(app_db, migrations, 15, results, "second")
        wait_for(
            lambda: bool(
                mariadb.execute(
                    "SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE %s",
                    (f"%GET_LOCK('{lock}'%",),
                )
            ),
            "the second run to wait for the migration lock",
        )
        holder.cursor().execute("DO RELEASE_LOCK(%s)", (gate,))
        first.join(20)
        second.join(20)

    assert [m["version"] for m in results["first"]["applied"]] == [1, 2]
    assert results["second"]["applied"] == [] and results["second"]["version"] == 2
    assert app_db.query("SELECT COUNT(*) FROM runs") == [(1,)]
    assert app_db.query("SELECT applied_by FROM schema_migrations ORDER BY version") == [
        ("first",),
        ("first",),
    ]


# --- The Lambda: S3 set, SSM version, handler --------------------------------------------------


@dataclass
class FakeContext:
    function_name: str = "aurora-dev-migrator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111111111111:function:aurora-dev-migrator"
    aws_request_id: str = "req-0001"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@dataclass
class Lambda:
    """The migrator's environment: its bucket and prefix, its secret, its SSM parameter."""

    db: AppDb
    settings: migrator_handler.Settings
    s3: Any
    ssm: Any
    secrets: Any
    lambdas: InProcessLambda
    rds: Any = None
    """RDS of the home region for a global environment (moto unless a stub); None: regional."""

    def publish(self, files: dict[str, str], *, environment: str = "dev") -> Manifest:
        return publish(
            self.s3,
            self.settings.bucket,
            self.settings.prefix,
            migration_set(files).migrations,
            environment=environment,
            source="repository",
        )

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        return migrator_handler.run(
            migrator_handler.Request.parse(event),
            self.settings,
            s3=self.s3,
            ssm=self.ssm,
            secrets=self.secrets,
            workers=sql_workers(self.lambdas, rds=self.rds, global_cluster=self.rds is not None),
            applied_by="test",
        )

    def published_version(self) -> str:
        return self.ssm.get_parameter(Name=self.settings.version_parameter)["Parameter"]["Value"]


@pytest.fixture
def migrator_lambda(aws, app_db, mariadb) -> Lambda:
    s3, ssm, secrets = boto3.client("s3"), boto3.client("ssm"), boto3.client("secretsmanager")
    bucket = f"migrations-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    secret = secrets.create_secret(
        Name="aurora-dev-db-migrator",
        SecretString=json.dumps({"username": app_db.migrator.username, "password": app_db.migrator.password}),
    )
    settings = migrator_handler.Settings(
        db_name=app_db.database,
        secret_arn=secret["ARN"],
        bucket=bucket,
        prefix="migrations/dev/",
        version_parameter="/aurora/dev/schema/version",
        environment="dev",
        lock_timeout=2,
        ddl_lock_wait=10,
        delegation=delegation(),
    )
    # A regional environment: its writer is the home cluster, reached through the home worker.
    lambdas = InProcessLambda()
    register_migrator_worker(lambdas, HOME, mariadb)
    return Lambda(app_db, settings, s3, ssm, secrets, lambdas)


@pytest.mark.mariadb
def test_migrate_pulls_the_published_set_applies_it_and_publishes_the_version_to_ssm(migrator_lambda):
    migrator_lambda.publish(BASE)

    result = migrator_lambda.run(load_event("migrator_migrate"))

    assert [m["filename"] for m in result["applied"]] == list(BASE)
    assert result["published"]["source"] == "repository"
    assert migrator_lambda.db.history() == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert migrator_lambda.published_version() == "3"


@pytest.mark.mariadb
def test_migration_statements_run_on_a_session_with_the_ddl_lock_wait(migrator_lambda):
    # GIVEN a migration that keeps the lock_wait_timeout of the session it runs on
    migrator_lambda.publish(
        {"V0001__keep_setting.sql": "CREATE TABLE seen AS SELECT @@SESSION.lock_wait_timeout AS v;\n"}
    )
    migrator_lambda.run(load_event("migrator_migrate"))
    assert migrator_lambda.db.query("SELECT v FROM seen") == [(migrator_lambda.settings.ddl_lock_wait,)]


@pytest.mark.mariadb
def test_after_a_failure_ssm_holds_the_last_applied_version(migrator_lambda):
    migrator_lambda.publish(FAILING)
    with pytest.raises(MigrationFailed, match=r"V0002__half_fails.sql failed at statement 2"):
        migrator_lambda.run(load_event("migrator_migrate"))
    assert migrator_lambda.published_version() == "1"


@pytest.mark.mariadb
def test_a_published_file_that_does_not_match_the_manifest_stops_everything(migrator_lambda):
    manifest = migrator_lambda.publish(BASE)
    # GIVEN someone overwrote V0003 in place without publishing a new manifest (unversioned read)
    bucket, prefix = migrator_lambda.settings.bucket, migrator_lambda.settings.prefix
    migrator_lambda.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    entries = json.loads(manifest.to_json())
    for entry in entries["migrations"]:
        entry.pop("s3_version_id", None)
    migrator_lambda.s3.put_object(
        Bucket=bucket, Key=f"{prefix}manifest.json", Body=json.dumps(entries).encode()
    )
    migrator_lambda.s3.put_object(
        Bucket=bucket, Key=f"{prefix}V0003__create_gadgets.sql", Body=b"DROP TABLE widgets;"
    )

    with pytest.raises(
        ChecksumMismatch, match=r"V0003__create_gadgets.sql at s3://.* has sha256 .* but the manifest"
    ):
        migrator_lambda.run(load_event("migrator_migrate"))
    assert migrator_lambda.db.history() == []


@pytest.mark.mariadb
def test_the_manifest_pins_object_versions_so_a_later_overwrite_is_not_read(migrator_lambda):
    migrator_lambda.publish(BASE)
    bucket, prefix = migrator_lambda.settings.bucket, migrator_lambda.settings.prefix
    migrator_lambda.s3.put_object(
        Bucket=bucket, Key=f"{prefix}V0003__create_gadgets.sql", Body=b"DROP TABLE widgets;"
    )

    migrator_lambda.run(load_event("migrator_migrate"))

    assert migrator_lambda.db.tables() == {"widgets", "gadgets"}


@pytest.mark.mariadb
def test_a_set_published_for_another_environment_is_refused(migrator_lambda):
    migrator_lambda.publish(BASE, environment="prod")
    with pytest.raises(SourceError, match="published for environment 'prod', this is 'dev'"):
        migrator_lambda.run(load_event("migrator_status"))


@pytest.mark.mariadb
def test_migrate_with_nothing_published_says_where_it_looked(migrator_lambda):
    with pytest.raises(
        SourceError, match=r"no migration set published at s3://migrations-\w+/migrations/dev/"
    ):
        migrator_lambda.run(load_event("migrator_migrate"))
    status = migrator_lambda.run(load_event("migrator_status"))
    assert status["version"] == 0 and "published" not in status


@pytest.mark.mariadb
def test_handler_runs_the_sample_events_end_to_end(migrator_lambda, monkeypatch):
    for name, value in settings_environment(migrator_lambda.settings).items():
        monkeypatch.setenv(name, value)
    migrator_handler.settings.cache_clear()
    monkeypatch.setattr(migrator_handler, "get_lambda_client", migrator_lambda.lambdas.client)
    monkeypatch.setattr(migrator_handler, "aws", ClientCache())
    log_stream = io.StringIO()
    monkeypatch.setattr(migrator_handler.logger.registered_handler, "stream", log_stream)
    migrator_lambda.publish(FAILING)
    try:
        dry = migrator_handler.handler(load_event("migrator_migrate_dry_run"), FakeContext())
        with pytest.raises(MigrationFailed):
            migrator_handler.handler(load_event("migrator_migrate"), FakeContext())
        migrator_lambda.db.query("DROP TABLE parts")
        repaired = migrator_handler.handler(load_event("migrator_repair"), FakeContext())
        status = migrator_handler.handler(load_event("migrator_status"), FakeContext())
    finally:
        migrator_handler.settings.cache_clear()

    assert [p["version"] for p in dry["pending"]] == [1, 2] and dry["dry_run"] is True
    assert repaired["cleared"]["filename"] == "V0002__half_fails.sql"
    assert status["version"] == 1 and [p["version"] for p in status["pending"]] == [2, 3]
    assert migrator_lambda.db.query("SELECT applied_by FROM schema_migrations") == [
        ("aurora-dev-migrator/req-0001",)
    ]
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    stopped = [entry for entry in logs if entry["message"] == "migrator stopped"]
    assert len(stopped) == 1
    assert stopped[0]["error_type"] == "MigrationFailed" and stopped[0]["action"] == "migrate"
    assert stopped[0]["function_request_id"] == "req-0001"


def test_handler_rejects_an_unknown_action_before_touching_anything():
    with pytest.raises(
        InvalidRequest, match="'action' must be one of status, migrate, repair; got 'drop_everything'"
    ):
        migrator_handler.Request.parse(load_event("migrator_unknown_action"))
    with pytest.raises(InvalidRequest, match="repair needs 'version'"):
        migrator_handler.Request.parse({"action": "repair"})
    with pytest.raises(InvalidRequest, match="'target_version' must be a positive integer"):
        migrator_handler.Request.parse({"action": "migrate", "target_version": "3"})


def test_settings_name_every_missing_environment_variable():
    with pytest.raises(ConfigurationError, match="DB_NAME, MIGRATOR_SECRET_ARN, MIGRATIONS_BUCKET"):
        migrator_handler.Settings.from_env({"VERSION_PARAMETER": "/x", "MIGRATIONS_PREFIX": "p/"})


# --- on the writer, wherever it is ---------------------------------------------------------


def after_a_failover(migrator_lambda: Lambda, writer: MariaDBServer) -> Lambda:
    """The environment after a failover: the writer is in WRITER, whose worker reaches ``writer``;
    the home region's cluster is a reader whose endpoint nothing here can reach."""
    create_global_cluster(GLOBAL_ID, writer=WRITER, regions=(HOME, WRITER), cluster_prefix=CLUSTERS)
    migrator_lambda.lambdas = InProcessLambda()
    register_migrator_worker(migrator_lambda.lambdas, WRITER, writer)
    register_migrator_worker(migrator_lambda.lambdas, HOME, None)
    migrator_lambda.rds = boto3.client("rds", region_name=HOME)
    return migrator_lambda


def invoked(lambdas: InProcessLambda) -> list[tuple[str, str, str | None]]:
    return [(i.region, i.function_arn, i.error_type) for i in lambdas.invocations]


@pytest.mark.mariadb
def test_with_the_writer_in_another_region_migrate_status_and_repair_run_on_that_regions_worker(
    migrator_lambda, mariadb
):
    # GIVEN the writer is in WRITER after a failover, and a set whose V0002 fails halfway
    m = after_a_failover(migrator_lambda, mariadb)
    m.publish(FAILING)

    # WHEN migrate runs THEN the writer region's worker applied V0001 and recorded V0002's failure,
    # and the function (home region) published the version reached, naming the region in the error
    with pytest.raises(
        MigrationFailed, match=rf"V0002__half_fails.sql failed at statement 2.*on the writer in {WRITER}"
    ):
        m.run(load_event("migrator_migrate"))
    assert m.db.history() == [(1, "applied"), (2, "failed")]
    assert m.published_version() == "1"

    # AND repair and status go to the same worker
    m.db.query("DROP TABLE parts")
    repaired = m.run(load_event("migrator_repair"))
    status = m.run(load_event("migrator_status"))
    assert repaired["cleared"]["filename"] == "V0002__half_fails.sql" and repaired["region"] == WRITER
    assert status["region"] == WRITER and status["version"] == 1
    assert [p["version"] for p in status["pending"]] == [2, 3]
    assert invoked(m.lambdas) == [
        (WRITER, WORKERS[WRITER], None),
        (WRITER, WORKERS[WRITER], None),
        (WRITER, WORKERS[WRITER], None),
    ]
    # AND the answers carry no password
    password = m.db.migrator.password
    assert password not in json.dumps([repaired, status])


@pytest.mark.mariadb
def test_a_global_cluster_in_transition_fails_clearly_invoking_no_worker_and_applying_nothing(
    migrator_lambda, mariadb
):
    m = after_a_failover(migrator_lambda, mariadb)
    client = boto3.client("rds", region_name=HOME)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_global_clusters",
        {"GlobalClusters": [failing_over(HOME, WRITER, cluster_prefix=CLUSTERS)]},
        {"GlobalClusterIdentifier": GLOBAL_ID},
    )
    stubber.activate()
    m.rds = client
    m.publish(BASE)

    with pytest.raises(WriterUnavailable) as caught:
        m.run(load_event("migrator_migrate"))

    message = str(caught.value)
    assert message.startswith(f"global cluster {GLOBAL_ID} is in transition (FailoverState 'failing-over'")
    assert message.endswith("nothing was changed; run `infra db` again once the new writer is in place")
    assert m.lambdas.invocations == []
    assert m.db.history() == [] and m.db.tables() == set()
    assert not _has_parameter(m)  # nothing published either


def _has_parameter(m: Lambda) -> bool:
    try:
        m.ssm.get_parameter(Name=m.settings.version_parameter)
    except m.ssm.exceptions.ParameterNotFound:
        return False
    return True


@pytest.mark.mariadb
def test_a_worker_that_finds_its_cluster_read_only_refuses_and_nothing_is_applied(
    migrator_lambda, fresh_mariadb
):
    # GIVEN DescribeGlobalClusters names WRITER, but its cluster is read-only by now
    db = make_app_db(fresh_mariadb)
    try:
        m = after_a_failover(dataclasses.replace(migrator_lambda, db=db), fresh_mariadb)
        m.secrets.put_secret_value(
            SecretId=m.settings.secret_arn,
            SecretString=json.dumps({"username": db.migrator.username, "password": db.migrator.password}),
        )
        m.settings = dataclasses.replace(m.settings, db_name=db.database)
        fresh_mariadb.execute("SET GLOBAL read_only = 1")
        m.publish(BASE)

        # WHEN migrate runs THEN the worker refuses before taking the lock, naming its region
        with pytest.raises(WriterMoved) as caught:
            m.run(load_event("migrator_migrate"))
    finally:
        fresh_mariadb.execute("SET GLOBAL read_only = 0")
    assert caught.value.error_type == "NotWriter" and caught.value.region == WRITER
    assert str(caught.value).startswith(
        f"migrate of {db.database}: migrate failed in the writer's region {WRITER} "
        f"(worker {WORKERS[WRITER]}): NotWriter: the cluster at "
    )
    assert "run `infra db` again" in caught.value.worker_message
    assert invoked(m.lambdas) == [(WRITER, WORKERS[WRITER], "NotWriter")]
    # AND nothing was applied or published
    assert db.history() == [] and db.tables() == set()
    assert not _has_parameter(m)
    drop_app_db(db)


@pytest.mark.mariadb
def test_a_set_over_the_synchronous_invocation_limit_is_refused_naming_its_size(migrator_lambda):
    # GIVEN a published set whose one file holds more than 6 MB of SQL
    big = "SELECT '" + "x" * (MAX_REQUEST_BYTES + 1024) + "';\n"
    migrator_lambda.publish({"V0001__bulk_data.sql": big})

    # WHEN migrate runs THEN it is refused before anything is invoked, naming the sizes and the limit
    with pytest.raises(MigrationSetTooLarge) as caught:
        migrator_lambda.run(load_event("migrator_migrate"))
    message = str(caught.value)
    assert "the migration set published at s3://" in message and "(1 files, " in message
    assert f"a synchronous Lambda invocation carries at most {MAX_REQUEST_BYTES:,} bytes (6 MB)" in message
    assert re.search(r"makes a request of [\d,]+ bytes", message)
    assert migrator_lambda.lambdas.invocations == []
    assert migrator_lambda.db.history() == []


def test_the_workers_statement_timeout_keeps_within_its_own_and_the_functions_time():
    request = MigrationRequest(
        action="status",
        database="app",
        migrator=Account(username="u", password="p"),
        files=None,
        time_budget_seconds=500,
    )
    # the function's budget is the tighter one
    assert worker_handler.statement_budget(840, request) == 500 - worker_handler.RECORD_MARGIN_SECONDS
    # the worker's own remaining time is the tighter one
    assert worker_handler.statement_budget(100, request) == 100 - worker_handler.RECORD_MARGIN_SECONDS
    # never below 5 s
    assert worker_handler.statement_budget(10, request) == 5.0
    # the function keeps its own margin to publish the version
    assert migrator_handler.time_budget(900) == 900 - migrator_handler.PUBLISH_MARGIN_SECONDS


def test_the_worker_refuses_a_malformed_request_naming_the_field():
    good = MigrationRequest(
        action="repair", database="app", migrator=Account(username="u", password="p"), files=None, version=2
    ).to_payload()
    assert MigrationRequest.from_payload(good).version == 2
    for change, fragment in (
        ({"action": "drop"}, "'action' must be one of status, migrate, repair"),
        ({"migrator": {"username": "u"}}, "'migrator' must be an object with username and password"),
        ({"action": "migrate"}, "'migrate' must carry the published 'files'"),
        ({"version": None}, "'repair' must carry the failed migration's 'version'"),
        ({"files": [{"filename": "V0001__x.sql"}]}, "'files' must be null or a list of objects"),
    ):
        with pytest.raises(MigratorProtocolError, match=re.escape(fragment)):
            MigrationRequest.from_payload({**good, **change})


def test_the_request_hides_the_password_and_the_sql():
    request = MigrationRequest(
        action="migrate",
        database="app",
        migrator=Account(username="u", password="s3cret-pw"),
        files=(MigrationFile("V0001__x.sql", "0" * 64, "CREATE TABLE secret_sauce (id INT);"),),
    )
    assert "s3cret-pw" not in repr(request) and "secret_sauce" not in repr(request)


def test_the_function_reads_its_environment_strictly():
    env = {
        "DB_NAME": "app",
        "MIGRATOR_SECRET_ARN": "arn:s",
        "MIGRATIONS_BUCKET": "b",
        "MIGRATIONS_PREFIX": "migrations/dev/",
        "VERSION_PARAMETER": "/v",
        "HOME_REGION": HOME,
        "SQL_WORKERS": json.dumps(WORKERS),
        "GLOBAL_CLUSTER_ID": GLOBAL_ID,
    }
    settings = migrator_handler.Settings.from_env(env)
    assert settings.delegation == Delegation(
        home_region=HOME, global_cluster_id=GLOBAL_ID, workers=WORKERS, worker_timeout_seconds=840
    )
    with pytest.raises(ConfigurationError, match="SQL_WORKERS must be a non-empty JSON object"):
        migrator_handler.Settings.from_env({**env, "SQL_WORKERS": "{}"})
