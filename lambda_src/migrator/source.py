"""Pull the migration set published for this environment from S3, verifying every checksum.

Layout under the environment's prefix: ``manifest.json`` plus one object per migration
file. The manifest is written last and names each file's S3 object version, so a reader
never mixes a new manifest with old files (or the reverse).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src.common.migration.errors import ChecksumMismatch, SourceError
from lambda_src.common.migration.manifest import MANIFEST_NAME, Manifest, Migration, MigrationSet, sha256_hex


def normalize_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def read_manifest(s3: Any, bucket: str, prefix: str) -> Manifest | None:
    """The published manifest, or None when nothing has been published under the prefix yet."""
    key = normalize_prefix(prefix) + MANIFEST_NAME
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise SourceError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise SourceError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    return Manifest.from_json(body, where=f"s3://{bucket}/{key}")


def load_migration_set(s3: Any, bucket: str, prefix: str, manifest: Manifest) -> MigrationSet:
    """Every file named by the manifest, checked against its sha256 before anything runs."""
    prefix = normalize_prefix(prefix)
    migrations = []
    for entry in manifest.entries:
        key = prefix + entry.filename
        request: dict[str, str] = {"Bucket": bucket, "Key": key}
        if entry.s3_version_id:
            request["VersionId"] = entry.s3_version_id
        try:
            data = s3.get_object(**request)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot read s3://{bucket}/{key} named by the manifest: {exc}") from exc
        actual = sha256_hex(data)
        if actual != entry.sha256:
            raise ChecksumMismatch(
                f"{entry.filename} at s3://{bucket}/{key} has sha256 {actual} but the manifest says "
                f"{entry.sha256}; publish the migration set again"
            )
        migrations.append(Migration.from_bytes(entry.filename, data))
    return MigrationSet.build(migrations, where=f"s3://{bucket}/{prefix}{MANIFEST_NAME}")
