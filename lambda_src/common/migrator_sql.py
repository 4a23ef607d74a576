"""What the migrator function (home region) and the migrator worker (writer's region) exchange.

The migrator function runs outside any VPC: it reads the published migration set from its
own region's bucket and the migrator user's secret, finds the writer
(``lambda_src.common.writer``) and invokes, synchronously, the in-VPC migrator worker of
the writer's region with a :class:`MigrationRequest`: the action, every file of the set
(name, checksum and text) and the migrator user's credentials. The worker has no S3, SSM,
Secrets Manager or KMS right; what is written to SSM stays in the function. Lambda does not
log invocation payloads, neither function logs its event, and every ``repr`` here hides the
password and the files' text.

A synchronous invocation's request is at most 6 MB (Lambda quotas: "Invocation payload
(request and response) 6 MB each for synchronous"): ``encode`` refuses a larger request
with a message naming its size, before anything is invoked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_src.common.bootstrap_sql import Account
from lambda_src.common.migration.errors import MigrationError
from lambda_src.common.migration.manifest import Migration, MigrationSet
from lambda_src.common.writer import WorkerProtocolError

ACTIONS = ("status", "migrate", "repair")
MAX_REQUEST_BYTES = 6 * 1024 * 1024
"""Lambda's limit on a synchronous invocation's request payload (6 MB = 6,291,456 bytes)."""


class MigratorProtocolError(WorkerProtocolError):
    """A request to the migrator worker or its answer is malformed."""


class MigrationSetTooLarge(MigrationError):
    """The migration set does not fit in one synchronous invocation of the writer region's worker."""


@dataclass(frozen=True)
class MigrationFile:
    """One file of the published set, exactly as checksummed."""

    filename: str
    sha256: str
    sql: str = field(repr=False)

    @classmethod
    def of(cls, migration: Migration) -> MigrationFile:
        return cls(filename=migration.filename, sha256=migration.sha256, sql=migration.sql)


@dataclass(frozen=True, kw_only=True)
class MigrationRequest:
    action: str
    database: str
    migrator: Account
    files: tuple[MigrationFile, ...] | None
    """The published set; None when nothing is published (status and repair only)."""
    dry_run: bool = False
    target_version: int | None = None
    version: int | None = None
    applied_by: str = "migrator"
    lock_timeout: float = 10.0
    ddl_lock_wait: int = 60
    time_budget_seconds: float | None = None
    """What the function can still wait for the worker; the worker's statement timeout keeps
    within it as within its own remaining time."""

    def to_payload(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "database": self.database,
            "migrator": {"username": self.migrator.username, "password": self.migrator.password},
            "files": None
            if self.files is None
            else [{"filename": f.filename, "sha256": f.sha256, "sql": f.sql} for f in self.files],
            "dry_run": self.dry_run,
            "target_version": self.target_version,
            "version": self.version,
            "applied_by": self.applied_by,
            "lock_timeout": self.lock_timeout,
            "ddl_lock_wait": self.ddl_lock_wait,
            "time_budget_seconds": self.time_budget_seconds,
        }

    def encode(self, *, where: str) -> bytes:
        """The request as the Invoke sends it; MigrationSetTooLarge names its size when it exceeds
        the synchronous invocation limit (``where`` names the published set)."""
        data = json.dumps(self.to_payload()).encode()
        if len(data) > MAX_REQUEST_BYTES:
            total = sum(len(f.sql.encode()) for f in self.files or ())
            raise MigrationSetTooLarge(
                f"the migration set published at {where} ({len(self.files or ())} files, {total:,} bytes of "
                f"SQL) makes a request of {len(data):,} bytes to the writer region's migrator worker; a "
                f"synchronous Lambda invocation carries at most {MAX_REQUEST_BYTES:,} bytes (6 MB). Nothing "
                "was run. Fix: keep bulk data out of migration files (load it apart from the schema) so the "
                "whole set stays under 6 MB"
            )
        return data

    def migration_set(self, *, where: str) -> MigrationSet | None:
        """The set rebuilt from the files (names, sequence, statements), each checked against the
        checksum the function read from the manifest."""
        if self.files is None:
            return None
        migrations = []
        for item in self.files:
            migration = Migration.from_bytes(item.filename, item.sql.encode())
            if migration.sha256 != item.sha256:
                raise MigratorProtocolError(
                    f"{item.filename} arrived with sha256 {migration.sha256}, the function sent "
                    f"{item.sha256}: the request was altered on its way"
                )
            migrations.append(migration)
        return MigrationSet.build(migrations, where=where)

    @classmethod
    def from_payload(cls, payload: Any) -> MigrationRequest:
        if not isinstance(payload, Mapping):
            raise MigratorProtocolError(
                f"migrator request must be a JSON object, got {type(payload).__name__}"
            )
        action = payload.get("action")
        if action not in ACTIONS:
            raise MigratorProtocolError(
                f"migrator request's 'action' must be one of {', '.join(ACTIONS)}; got {action!r}"
            )
        database = payload.get("database")
        if not isinstance(database, str) or not database:
            raise MigratorProtocolError(f"migrator request's 'database' must be a name; got {database!r}")
        account = payload.get("migrator")
        if not isinstance(account, Mapping) or not account.get("username") or not account.get("password"):
            raise MigratorProtocolError(
                "migrator request's 'migrator' must be an object with username and password"
            )
        raw_files = payload.get("files")
        files: tuple[MigrationFile, ...] | None = None
        if raw_files is not None:
            if not isinstance(raw_files, list) or not all(
                isinstance(f, Mapping)
                and isinstance(f.get("filename"), str)
                and isinstance(f.get("sha256"), str)
                and isinstance(f.get("sql"), str)
                for f in raw_files
            ):
                raise MigratorProtocolError(
                    "migrator request's 'files' must be null or a list of objects with filename, sha256 and sql"
                )
            files = tuple(
                MigrationFile(str(f["filename"]), str(f["sha256"]), str(f["sql"])) for f in raw_files
            )
        if action == "migrate" and files is None:
            raise MigratorProtocolError("migrator request for 'migrate' must carry the published 'files'")
        if action == "repair" and payload.get("version") is None:
            raise MigratorProtocolError(
                "migrator request for 'repair' must carry the failed migration's 'version'"
            )
        try:
            budget = payload.get("time_budget_seconds")
            return cls(
                action=action,
                database=database,
                migrator=Account(username=str(account["username"]), password=str(account["password"])),
                files=files,
                dry_run=bool(payload.get("dry_run", False)),
                target_version=_optional_int(payload.get("target_version")),
                version=_optional_int(payload.get("version")),
                applied_by=str(payload.get("applied_by") or "migrator"),
                lock_timeout=float(payload.get("lock_timeout", 10.0)),
                ddl_lock_wait=int(payload.get("ddl_lock_wait", 60)),
                time_budget_seconds=None if budget is None else float(budget),
            )
        except (TypeError, ValueError) as exc:
            raise MigratorProtocolError(
                f"migrator request's lock_timeout, ddl_lock_wait, time_budget_seconds, target_version and "
                f"version must be numbers ({exc})"
            ) from None


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


FAILED = "failed"
"""Key of a migrate answer whose run stopped after it had reached a version (see result_from_payload)."""


def result_from_payload(payload: Any) -> dict[str, Any]:
    """The worker's answer: the action's result and the worker's region.

    A migrate run that stopped once it held the lock answers (rather than fails) with
    ``failed: {"error_type", "message"}`` and the ``version`` the database is at, so that the
    function publishes that version before it raises the error (as the migrator always did).
    """
    if not isinstance(payload, Mapping) or not payload.get("action") or not payload.get("region"):
        raise MigratorProtocolError(
            f"migrator worker answer must be an object with 'action' and 'region'; got {payload!r}"
        )
    failed = payload.get(FAILED)
    if failed is not None and (
        not isinstance(failed, Mapping)
        or not failed.get("error_type")
        or not isinstance(failed.get("message"), str)
        or not isinstance(payload.get("version"), int)
    ):
        raise MigratorProtocolError(
            f"migrator worker answer's {FAILED!r} must be an object with error_type and message, beside "
            f"an integer 'version'; got {payload!r}"
        )
    return dict(payload)
