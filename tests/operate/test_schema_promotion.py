"""Schema promotion dev -> staging -> prod (pull model) with the operator-side functions.

Three databases on the session's MariaDB stand in for the three environments' clusters,
three S3 buckets for their (separate-account) buckets. Each environment's migrator runs
in-process behind a stand-in for boto3's Lambda client, exactly as the CLI would invoke
it; nothing of one environment is handed to another.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

from lambda_src.common.migration.manifest import sha256_hex
from orchestrator.operate.schema import (
    REPOSITORY_DIR,
    InvalidMigrationSet,
    MigratorError,
    PromotionRefused,
    load_repository,
    plan_promotion,
    plan_release,
    publish,
    read_published,
    run_migrate,
    run_repair,
)
from tests.support.schema_envs import Environment

REPO_FILES = sorted(p.name for p in REPOSITORY_DIR.glob("V*.sql"))


# --- The repository's files (no database) ------------------------------------------------------


def test_the_repository_migrations_load_in_order_with_their_file_checksums():
    repository = load_repository()
    assert [m.version for m in repository.migrations] == list(range(1, len(REPO_FILES) + 1))
    assert [m.filename for m in repository.migrations] == REPO_FILES
    for migration in repository.migrations:
        assert migration.sha256 == sha256_hex((REPOSITORY_DIR / migration.filename).read_bytes())


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """A copy of the repository's migrations that a test may edit."""
    target = tmp_path / "migrations"
    shutil.copytree(REPOSITORY_DIR, target)
    return target


def test_a_gap_in_the_repository_is_refused_naming_the_missing_version(repo_dir):
    (repo_dir / REPO_FILES[1]).unlink()
    with pytest.raises(
        InvalidMigrationSet, match=f"gap in versions: V0002 is missing before {REPO_FILES[2]}"
    ):
        load_repository(repo_dir)


def test_a_duplicate_version_in_the_repository_is_refused(repo_dir):
    (repo_dir / "V0002__another_change.sql").write_text("SELECT 1;\n")
    with pytest.raises(InvalidMigrationSet, match=r"duplicate version V0002: V0002__another_change.sql and"):
        load_repository(repo_dir)


def test_a_misnamed_sql_file_is_refused_and_other_files_are_ignored(repo_dir):
    assert (repo_dir / "README.md").exists()
    assert len(load_repository(repo_dir).migrations) == len(REPO_FILES)
    (repo_dir / "R__reference_data.sql").write_text("SELECT 1;\n")
    with pytest.raises(InvalidMigrationSet, match="repeatable migrations are not supported"):
        load_repository(repo_dir)


# --- Three environments ----------------------------------------------------------------------


def release(repository: Any, env: Environment, *, target_version: int | None = None) -> None:
    """Publish the repository's files to an environment and migrate it (to a version, if given)."""
    publish(env.s3, env.bucket, env.prefix, repository.migrations, environment=env.name, source="repository")
    run_migrate(env.lambda_client, env.function_name, target_version=target_version)


@pytest.mark.mariadb
def test_one_history_is_promoted_dev_to_staging_to_prod_in_order(envs):
    repository = load_repository()
    dev, staging, prod = envs["dev"], envs["staging"], envs["prod"]

    first = plan_release(repository, dev.status())
    dev.execute(first)
    to_staging = plan_promotion(repository, dev.status(), staging.status())
    staging_result = staging.execute(to_staging)
    to_prod = plan_promotion(repository, staging.status(), prod.status())
    prod_result = prod.execute(to_prod)

    expected = [(m.version, m.filename, m.sha256) for m in repository.migrations]
    assert [m.filename for m in first.to_apply] == REPO_FILES
    assert dev.applied() == staging.applied() == prod.applied() == expected
    assert [m["filename"] for m in staging_result["migrate"]["applied"]] == REPO_FILES
    assert [m["filename"] for m in prod_result["migrate"]["applied"]] == REPO_FILES
    for env in (dev, staging, prod):
        rows = env.db.query("SELECT version FROM schema_migrations ORDER BY started_at, version")
        assert [r[0] for r in rows] == [m.version for m in repository.migrations]
        assert env.published_version() == str(repository.latest_version)
    assert prod.db.tables() == {"schema_info", "customers", "order_statuses", "orders"}
    assert prod.db.query("SELECT code FROM order_statuses ORDER BY code") == [
        ("cancelled",),
        ("paid",),
        ("pending",),
        ("shipped",),
    ]
    manifest = read_published(prod.s3, prod.bucket, prod.prefix)
    assert manifest is not None and (manifest.environment, manifest.source) == ("prod", "staging")


@pytest.mark.mariadb
def test_promotion_publishes_exactly_what_the_source_has_applied(envs):
    repository = load_repository()
    dev, staging = envs["dev"], envs["staging"]
    release(repository, dev, target_version=2)

    plan = plan_promotion(repository, dev.status(), staging.status())
    staging.execute(plan)

    assert [m.version for m in plan.publish] == [1, 2]
    assert staging.status().version == 2
    manifest = read_published(staging.s3, staging.bucket, staging.prefix)
    assert manifest is not None and [e.version for e in manifest.entries] == [1, 2]

    # WHEN dev moves on, the next promotion applies only the new migrations, in order
    run_migrate(dev.lambda_client, dev.function_name)
    later = plan_promotion(repository, dev.status(), staging.status())
    result = staging.execute(later)
    assert [m.version for m in later.to_apply] == [3, 4]
    assert [m["version"] for m in result["migrate"]["applied"]] == [3, 4]


@pytest.mark.mariadb
def test_promotion_is_refused_when_the_target_has_a_migration_the_source_lacks(envs):
    repository = load_repository()
    staging, prod = envs["staging"], envs["prod"]
    release(repository, staging, target_version=2)
    release(repository, prod, target_version=3)
    published_before = read_published(prod.s3, prod.bucket, prod.prefix)

    with pytest.raises(PromotionRefused) as refused:
        plan_promotion(repository, staging.status(), prod.status())

    assert str(refused.value) == (
        f"staging -> prod: prod has {REPO_FILES[2]} applied, which staging lacks (staging is at V0002); "
        "promotion only moves forward along dev -> staging -> prod"
    )
    assert read_published(prod.s3, prod.bucket, prod.prefix) == published_before
    assert prod.status().version == 3


@pytest.mark.mariadb
def test_promotion_is_refused_when_a_repository_file_differs_from_what_the_source_applied(envs, repo_dir):
    dev, staging = envs["dev"], envs["staging"]
    release(load_repository(repo_dir), dev)
    applied_sha = sha256_hex((repo_dir / REPO_FILES[1]).read_bytes())
    (repo_dir / REPO_FILES[1]).write_text("CREATE TABLE customers (id INT PRIMARY KEY);\n")
    edited = load_repository(repo_dir)

    with pytest.raises(PromotionRefused) as refused:
        plan_promotion(edited, dev.status(), staging.status())

    message = str(refused.value)
    assert message.startswith(f"dev -> staging: {REPO_FILES[1]} applied in dev has sha256 {applied_sha}; ")
    assert f"has sha256 {edited.by_version()[2].sha256}. Applied migrations must never change" in message
    assert staging.status().version == 0
    assert read_published(staging.s3, staging.bucket, staging.prefix) is None


@pytest.mark.mariadb
def test_a_release_is_refused_when_the_target_applied_an_older_version_of_a_file(envs, repo_dir):
    dev = envs["dev"]
    release(load_repository(repo_dir), dev, target_version=2)
    (repo_dir / REPO_FILES[1]).write_text("CREATE TABLE customers (id INT PRIMARY KEY);\n")

    with pytest.raises(
        PromotionRefused, match=f"repository -> dev: V0002 differs: dev applied {REPO_FILES[1]}"
    ):
        plan_release(load_repository(repo_dir), dev.status())


@pytest.mark.mariadb
def test_promotion_is_refused_while_the_target_is_blocked_by_a_failed_migration(envs, repo_dir):
    dev, staging = envs["dev"], envs["staging"]
    release(load_repository(repo_dir), dev)
    (repo_dir / REPO_FILES[1]).write_text(
        "CREATE TABLE customers (id INT PRIMARY KEY);\nALTER TABLE nope ADD x INT;\n"
    )
    with pytest.raises(MigratorError, match="MigrationFailed: V0002"):
        release(load_repository(repo_dir), staging)  # V0002 fails halfway in staging

    with pytest.raises(
        PromotionRefused, match=f"staging is blocked by failed {REPO_FILES[1]}.*repair it first"
    ):
        plan_promotion(load_repository(REPOSITORY_DIR), dev.status(), staging.status())


@pytest.mark.mariadb
def test_migrator_refusals_reach_the_operator_with_their_type_and_message(envs):
    dev = envs["dev"]
    with pytest.raises(MigratorError) as refused:
        run_repair(dev.lambda_client, dev.function_name, 9)
    assert refused.value.error_type == "RepairRefused"
    # The worker's refusal keeps its type; its message names the region whose writer refused.
    assert str(refused.value) == (
        f"aurora-dev-migrator: RepairRefused: V0009 has no record in {dev.db.database}.schema_migrations: "
        "nothing to repair (on the writer in us-east-1)"
    )


@pytest.mark.mariadb
def test_status_shows_the_applied_version_and_what_is_pending(envs):
    repository = load_repository()
    dev = envs["dev"]
    release(repository, dev, target_version=1)

    status = dev.status()

    assert status.version == 1
    assert [a.filename for a in status.applied] == REPO_FILES[:1]
    assert status.pending == tuple(range(2, repository.latest_version + 1))
    assert status.blocked_by is None and status.problems == () and status.in_progress is False
    assert status.published is not None and status.published["source"] == "repository"


class RecordingS3:
    """Records put_object calls in order, passing them to moto."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, []

    def put_object(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.client.put_object(**kwargs)


@pytest.mark.mariadb
def test_publish_writes_every_file_before_the_manifest_that_pins_their_versions(envs):
    repository = load_repository()
    staging = envs["staging"]
    recorder = RecordingS3(staging.s3)

    manifest = publish(
        recorder,
        staging.bucket,
        "migrations/staging",
        repository.migrations,
        environment="staging",
        source="dev",
        kms_key_id="alias/aurora-staging",
    )

    keys = [c["Key"] for c in recorder.calls]
    assert keys == [f"migrations/staging/{name}" for name in REPO_FILES] + [
        "migrations/staging/manifest.json"
    ]
    for call, migration in zip(recorder.calls, repository.migrations, strict=False):
        assert call["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(migration.sha256)).decode()
        assert (call["ServerSideEncryption"], call["SSEKMSKeyId"]) == ("aws:kms", "alias/aurora-staging")
    for entry in manifest.entries:
        head = staging.s3.head_object(Bucket=staging.bucket, Key=f"migrations/staging/{entry.filename}")
        assert entry.s3_version_id == head["VersionId"]
    assert read_published(staging.s3, staging.bucket, "migrations/staging/") == manifest


def offline_session(monkeypatch: pytest.MonkeyPatch, regions: list[str]) -> None:
    """`infra db`'s connection replaced by a session on test credentials (no call leaves)."""
    from orchestrator.operate import aws as aws_module

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    session = aws_module.AwsSession.from_credentials(regions=regions)
    monkeypatch.setattr(aws_module, "connect", lambda env, **_: session)


def test_infra_db_waits_for_the_migrator_longer_than_its_timeout_and_sends_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A migration may run up to the migrator's timeout; a shorter read timeout would report a
    # failure while it goes on, and a retry would start it twice.
    from components.lambdas import MIGRATOR_TIMEOUT_SECONDS
    from model.environment import load_environment
    from orchestrator.operate import db

    offline_session(monkeypatch, ["us-east-1"])
    target = db.target_for(load_environment("dev"))

    config = target.lambda_client.meta.config
    assert config.read_timeout > MIGRATOR_TIMEOUT_SECONDS
    assert config.retries["total_max_attempts"] == 1


def test_infra_db_targets_the_migrator_and_bucket_in_the_secrets_region_after_rehome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN prod after `infra rehome --to eu-west-1`: the secrets and the migrator stay in us-east-1
    from orchestrator.operate import db
    from tests.support.rehomed import rehomed

    offline_session(monkeypatch, ["us-east-1", "eu-west-1"])
    env = rehomed("prod", "eu-west-1")

    # WHEN infra db builds its target
    target = db.target_for(env)

    # THEN it calls the secrets region's migrator, bucket and key, not the new home's
    assert target.function == "prod-aurora-use1-migrator"
    assert target.kms_key == "alias/aurora/prod/us-east-1"
    assert target.lambda_client.meta.region_name == "us-east-1"
    assert target.s3_client.meta.region_name == "us-east-1"
