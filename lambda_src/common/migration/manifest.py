"""Migration files, their names and checksums, and the manifest published beside them.

Shared by the migrator Lambda (which reads a published set), its worker (which applies it)
and the operator's CLI (which loads the repository's files and publishes them), so all three
apply the same rules.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lambda_src.common.migration.errors import MigrationSetError
from lambda_src.common.migration.sqlsplit import Statement, split_statements

FILENAME_RULE = (
    "V<version, at least 4 digits>__<description of letters, digits, _>.sql, e.g. V0003__add_orders.sql"
)
_FILENAME = re.compile(r"^V(?P<version>\d{4,})__(?P<description>[A-Za-z0-9][A-Za-z0-9_]*)\.sql$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def label(version: int) -> str:
    """How messages name a version: V0003."""
    return f"V{version:04d}"


def parse_filename(filename: str) -> tuple[int, str]:
    """(version, description) of a migration file name, or MigrationSetError quoting the rule."""
    match = _FILENAME.match(filename)
    if match is None:
        hint = ""
        if filename.startswith("R__"):
            hint = " (repeatable migrations are not supported: reference data goes in a versioned file)"
        raise MigrationSetError(
            f"migration file name {filename!r} does not follow the rule {FILENAME_RULE}{hint}"
        )
    return int(match["version"]), match["description"]


@dataclass(frozen=True)
class Migration:
    """One versioned migration file: its identity, checksum and statements."""

    version: int
    description: str
    filename: str
    sha256: str
    data: bytes = field(repr=False)
    """The file's bytes, exactly as checksummed."""
    sql: str = field(repr=False)
    statements: tuple[Statement, ...] = field(repr=False)

    @property
    def label(self) -> str:
        return label(self.version)

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> Migration:
        version, description = parse_filename(filename)
        try:
            sql = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationSetError(f"{filename}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        statements = tuple(split_statements(sql, name=filename))
        if not statements:
            raise MigrationSetError(f"{filename}: holds no SQL statement")
        return cls(
            version=version,
            description=description,
            filename=filename,
            sha256=sha256_hex(data),
            data=data,
            sql=sql,
            statements=statements,
        )


def check_sequence(versions: Iterable[tuple[int, str]], *, where: str) -> None:
    """Versions (with their file names) must run 1, 2, 3, ... with no gap and no duplicate."""
    seen: dict[int, str] = {}
    for version, filename in versions:
        if version in seen:
            raise MigrationSetError(
                f"{where}: duplicate version {label(version)}: {seen[version]} and {filename}; "
                "give one of them the next free version"
            )
        seen[version] = filename
    for expected, version in enumerate(sorted(seen), start=1):
        if version != expected:
            raise MigrationSetError(
                f"{where}: gap in versions: {label(expected)} is missing before {seen[version]}; "
                "versions must run 1, 2, 3, ... with none skipped"
            )


@dataclass(frozen=True)
class MigrationSet:
    """Migrations in version order, validated: names, no gap, no duplicate, splittable SQL."""

    migrations: tuple[Migration, ...]

    @classmethod
    def build(cls, migrations: Iterable[Migration], *, where: str) -> MigrationSet:
        items = list(migrations)
        check_sequence(((m.version, m.filename) for m in items), where=where)
        return cls(tuple(sorted(items, key=lambda m: m.version)))

    def by_version(self) -> dict[int, Migration]:
        return {m.version: m for m in self.migrations}

    @property
    def latest_version(self) -> int:
        return self.migrations[-1].version if self.migrations else 0


@dataclass(frozen=True)
class ManifestEntry:
    version: int
    description: str
    filename: str
    sha256: str
    s3_version_id: str | None = None
    """The S3 object version written with this manifest; pins the exact bytes in a versioned bucket."""


@dataclass(frozen=True)
class Manifest:
    """What was published for one environment, and from where."""

    environment: str
    source: str
    """Where the set came from: "repository" or the environment it was promoted from."""
    published_at: str
    entries: tuple[ManifestEntry, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "environment": self.environment,
                "source": self.source,
                "published_at": self.published_at,
                "migrations": [
                    {
                        "version": e.version,
                        "description": e.description,
                        "filename": e.filename,
                        "sha256": e.sha256,
                        **({"s3_version_id": e.s3_version_id} if e.s3_version_id else {}),
                    }
                    for e in self.entries
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, where: str) -> Manifest:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MigrationSetError(f"{where}: manifest is not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise MigrationSetError(f'{where}: manifest must be an object with "format": {MANIFEST_FORMAT}')
        raw = data.get("migrations")
        if not isinstance(raw, list):
            raise MigrationSetError(f"{where}: manifest field 'migrations' must be a list")
        entries = tuple(_entry(item, where) for item in raw)
        check_sequence(((e.version, e.filename) for e in entries), where=where)
        return cls(
            environment=str(data.get("environment", "")),
            source=str(data.get("source", "")),
            published_at=str(data.get("published_at", "")),
            entries=tuple(sorted(entries, key=lambda e: e.version)),
        )


def _entry(item: Any, where: str) -> ManifestEntry:
    if not isinstance(item, dict):
        raise MigrationSetError(f"{where}: each manifest migration must be an object, got {item!r}")
    filename = str(item.get("filename", ""))
    version, description = parse_filename(filename)
    if item.get("version") != version or item.get("description") != description:
        raise MigrationSetError(
            f"{where}: manifest entry for {filename} says version {item.get('version')!r}, "
            f"description {item.get('description')!r}; the file name says {version}, {description!r}"
        )
    sha = str(item.get("sha256", ""))
    if not _SHA256.match(sha):
        raise MigrationSetError(f"{where}: manifest entry for {filename} has no valid sha256 (got {sha!r})")
    version_id = item.get("s3_version_id")
    return ManifestEntry(version, description, filename, sha, str(version_id) if version_id else None)
