"""Schema migrations from the operator's side: repository files, publishing, status, promotion.

Pull model: each environment's migrator Lambda (inside that environment's VPC and
account) applies only the set published under its own S3 prefix. The operator's
credentials for each account do the rest from outside: read the source environment's
applied history (by invoking its migrator), publish exactly that history to the target's
bucket, and invoke the target's migrator. No network path and no credentials cross
between environments.

Plain Python: the ``infra db status|migrate|promote`` commands call these with boto3
clients made for each environment; every refusal is a :class:`SchemaError` whose
message names the migration.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.migration.errors import MigrationError
from lambda_src.common.migration.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    Migration,
    MigrationSet,
    check_sequence,
    label,
    sha256_hex,
)
from lambda_src.migrator.source import normalize_prefix, read_manifest

REPOSITORY_DIR = Path(__file__).resolve().parents[2] / "migrations"
REPOSITORY = "repository"
"""The ``source`` recorded in a manifest published straight from the repository's files."""

__all__ = [
    "REPOSITORY",
    "REPOSITORY_DIR",
    "AppliedMigration",
    "EnvironmentStatus",
    "MigratorError",
    "PromotionPlan",
    "PromotionRefused",
    "PublishError",
    "SchemaError",
    "execute_plan",
    "invoke_migrator",
    "load_repository",
    "plan_promotion",
    "plan_release",
    "publish",
    "read_published",
    "read_status",
    "run_migrate",
    "run_repair",
    "sha256_hex",
]


class SchemaError(Exception):
    """Base of every refusal or failure raised here."""


class InvalidMigrationSet(SchemaError):
    """The repository's migration files break a naming, sequence or splitting rule."""


class PromotionRefused(SchemaError):
    """Publishing to the target would break its history: nothing was published."""


class PublishError(SchemaError):
    """Writing to or reading from the environment's bucket failed."""


class MigratorError(SchemaError):
    """The environment's migrator Lambda refused or failed; carries its error type and message."""

    def __init__(self, function_name: str, error_type: str, message: str) -> None:
        self.function_name, self.error_type, self.message = function_name, error_type, message
        super().__init__(f"{function_name}: {error_type}: {message}")


def load_repository(directory: Path = REPOSITORY_DIR) -> MigrationSet:
    """Every ``.sql`` file of the directory, validated (names, no gap, no duplicate, splittable)."""
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".sql")
        return MigrationSet.build(
            (Migration.from_bytes(path.name, path.read_bytes()) for path in files), where=str(directory)
        )
    except MigrationError as exc:
        raise InvalidMigrationSet(str(exc)) from exc
    except OSError as exc:
        raise InvalidMigrationSet(f"cannot read migrations from {directory}: {exc}") from exc


# --- Status (through the environment's migrator) -------------------------------------------


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    filename: str
    sha256: str


@dataclass(frozen=True)
class EnvironmentStatus:
    """An environment's schema as its migrator reports it."""

    environment: str
    version: int
    applied: tuple[AppliedMigration, ...]
    pending: tuple[int, ...]
    """Versions published for the environment and not yet applied."""
    blocked_by: dict[str, Any] | None
    """The failed or interrupted migration that blocks further runs, if any."""
    in_progress: bool
    problems: tuple[str, ...]
    published: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The migrator's full answer, for ``--json``."""

    @classmethod
    def from_payload(cls, environment: str, payload: dict[str, Any]) -> EnvironmentStatus:
        try:
            return cls(
                environment=environment,
                version=int(payload["version"]),
                applied=tuple(
                    AppliedMigration(int(a["version"]), str(a["filename"]), str(a["sha256"]))
                    for a in payload["applied"]
                ),
                pending=tuple(int(p["version"]) for p in payload.get("pending", [])),
                blocked_by=payload.get("blocked_by"),
                in_progress=bool(payload.get("in_progress")),
                problems=tuple(payload.get("problems", [])),
                published=payload.get("published"),
                raw=payload,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"{environment}: unexpected status answer from the migrator ({exc!r})") from exc


def invoke_migrator(lambda_client: Any, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke synchronously; a function error becomes MigratorError with the migrator's message."""
    try:
        response = lambda_client.invoke(
            FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
    except (ClientError, BotoCoreError) as exc:
        raise MigratorError(function_name, type(exc).__name__, str(exc)) from exc
    if response.get("FunctionError"):
        body = payload if isinstance(payload, dict) else {}
        raise MigratorError(
            function_name,
            str(body.get("errorType", response["FunctionError"])),
            str(body.get("errorMessage", payload)),
        )
    if not isinstance(payload, dict):
        raise MigratorError(function_name, "UnexpectedAnswer", f"expected a JSON object, got {payload!r}")
    return payload


def read_status(lambda_client: Any, function_name: str, environment: str) -> EnvironmentStatus:
    return EnvironmentStatus.from_payload(
        environment, invoke_migrator(lambda_client, function_name, {"action": "status"})
    )


def run_migrate(
    lambda_client: Any, function_name: str, *, dry_run: bool = False, target_version: int | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {"action": "migrate", "dry_run": dry_run}
    if target_version is not None:
        event["target_version"] = target_version
    return invoke_migrator(lambda_client, function_name, event)


def run_repair(
    lambda_client: Any, function_name: str, version: int, *, dry_run: bool = False
) -> dict[str, Any]:
    return invoke_migrator(
        lambda_client, function_name, {"action": "repair", "version": version, "dry_run": dry_run}
    )


# --- Planning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionPlan:
    source: str
    """The environment whose applied history is promoted, or ``repository``."""
    target: str
    publish: tuple[Migration, ...]
    """The whole set the target's manifest will list, in order."""
    to_apply: tuple[Migration, ...]
    """The part of it the target has not applied yet, in order."""

    @property
    def target_version(self) -> int:
        return self.publish[-1].version if self.publish else 0

    def to_dict(self) -> dict[str, Any]:
        def brief(m: Migration) -> dict[str, Any]:
            return {"version": m.version, "filename": m.filename, "sha256": m.sha256}

        return {
            "source": self.source,
            "target": self.target,
            "target_version": self.target_version,
            "publish": [brief(m) for m in self.publish],
            "to_apply": [brief(m) for m in self.to_apply],
        }


def plan_promotion(
    repository: MigrationSet, source: EnvironmentStatus, target: EnvironmentStatus
) -> PromotionPlan:
    """Exactly the migrations applied in ``source``, checked against the repository and the target."""
    return _plan(repository, source.environment, source.applied, target)


def plan_release(repository: MigrationSet, target: EnvironmentStatus) -> PromotionPlan:
    """Every repository migration, for the first environment of the chain (dev)."""
    applied = [AppliedMigration(m.version, m.filename, m.sha256) for m in repository.migrations]
    return _plan(repository, REPOSITORY, applied, target)


def _plan(
    repository: MigrationSet,
    source: str,
    source_applied: Sequence[AppliedMigration],
    target: EnvironmentStatus,
) -> PromotionPlan:
    name = f"{source} -> {target.environment}"
    try:
        check_sequence(((a.version, a.filename) for a in source_applied), where=f"{source} applied history")
    except MigrationError as exc:
        raise PromotionRefused(f"{name}: {exc}") from exc
    in_repo = repository.by_version()
    for applied in source_applied:
        migration = in_repo.get(applied.version)
        if migration is None:
            raise PromotionRefused(
                f"{name}: {applied.filename} is applied in {source} but missing from the repository"
            )
        if (migration.filename, migration.sha256) != (applied.filename, applied.sha256):
            raise PromotionRefused(
                f"{name}: {applied.filename} applied in {source} has sha256 {applied.sha256}; "
                f"the repository's {migration.filename} has sha256 {migration.sha256}. "
                "Applied migrations must never change"
            )
    if target.blocked_by:
        blocked = target.blocked_by
        raise PromotionRefused(
            f"{name}: {target.environment} is blocked by {blocked.get('status')} {blocked.get('filename')} "
            f"({blocked.get('error') or 'interrupted'}); repair it first"
        )
    by_source = {a.version: a for a in source_applied}
    for applied in target.applied:
        match = by_source.get(applied.version)
        if match is None:
            raise PromotionRefused(
                f"{name}: {target.environment} has {applied.filename} applied, which {source} lacks "
                f"({source} is at {label(len(source_applied))}); promotion only moves forward along "
                "dev -> staging -> prod"
            )
        if match.sha256 != applied.sha256 or match.filename != applied.filename:
            raise PromotionRefused(
                f"{name}: {label(applied.version)} differs: {target.environment} applied {applied.filename} "
                f"sha256 {applied.sha256}; {source} has {match.filename} sha256 {match.sha256}"
            )
    publish_set = tuple(in_repo[a.version] for a in source_applied)
    done = {a.version for a in target.applied}
    return PromotionPlan(
        source=source,
        target=target.environment,
        publish=publish_set,
        to_apply=tuple(m for m in publish_set if m.version not in done),
    )


# --- Publishing -------------------------------------------------------------------------


def publish(
    s3: Any,
    bucket: str,
    prefix: str,
    migrations: Sequence[Migration],
    *,
    environment: str,
    source: str,
    kms_key_id: str | None = None,
    now: datetime | None = None,
) -> Manifest:
    """Write the files, then the manifest that pins each file's S3 object version.

    The manifest goes last so a migrator never sees it before the files it names.
    """
    prefix = normalize_prefix(prefix)
    encryption: dict[str, str] = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    )
    entries = []
    for m in migrations:
        key = prefix + m.filename
        try:
            response = s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=m.data,
                ContentType="application/sql; charset=utf-8",
                # S3 rejects the upload if the bytes it receives do not have this checksum.
                ChecksumSHA256=base64.b64encode(bytes.fromhex(m.sha256)).decode(),
                Metadata={"sha256": m.sha256},
                **encryption,
            )
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(f"cannot write s3://{bucket}/{key}: {exc}") from exc
        entries.append(
            ManifestEntry(m.version, m.description, m.filename, m.sha256, response.get("VersionId"))
        )
    manifest = Manifest(
        environment=environment,
        source=source,
        published_at=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        entries=tuple(entries),
    )
    key = prefix + MANIFEST_NAME
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=manifest.to_json().encode(),
            ContentType="application/json",
            **encryption,
        )
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"cannot write s3://{bucket}/{key}: {exc}") from exc
    return manifest


def read_published(s3: Any, bucket: str, prefix: str) -> Manifest | None:
    """The manifest currently published for an environment, or None."""
    try:
        return read_manifest(s3, bucket, prefix)
    except MigrationError as exc:
        raise PublishError(str(exc)) from exc


def execute_plan(
    plan: PromotionPlan,
    *,
    s3: Any,
    bucket: str,
    prefix: str,
    lambda_client: Any,
    function_name: str,
    kms_key_id: str | None = None,
    progress: Callable[[str], None] = lambda _message: None,
) -> dict[str, Any]:
    """Publish the plan's set to the target and run the target's migrator; return both results."""
    manifest = publish(
        s3, bucket, prefix, plan.publish, environment=plan.target, source=plan.source, kms_key_id=kms_key_id
    )
    progress(f"published {len(plan.publish)} migration(s) to s3://{bucket}/{normalize_prefix(prefix)}")
    result = run_migrate(lambda_client, function_name)
    applied = [m["filename"] for m in result.get("applied", [])]
    progress(
        f"{plan.target}: applied {', '.join(applied) or 'nothing'}; now at {label(int(result['version']))}"
    )
    if int(result["version"]) != plan.target_version:
        raise SchemaError(
            f"{plan.target} is at {label(int(result['version']))} after migrate, "
            f"expected {label(plan.target_version)}"
        )
    return {"plan": plan.to_dict(), "published_at": manifest.published_at, "migrate": result}
