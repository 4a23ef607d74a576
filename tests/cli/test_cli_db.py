"""`infra db status|migrate|promote` end to end: three MariaDB databases stand in for dev,
staging and prod; each environment's migrator runs in-process behind a Lambda client
stand-in; S3 and SSM are moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from model.environment import Environment
from orchestrator import cli
from orchestrator.cli import common as cli_common
from orchestrator.operate.db import SchemaTarget
from orchestrator.operate.schema import load_repository

pytestmark = pytest.mark.mariadb
runner = CliRunner()


@pytest.fixture
def targets(envs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    def make(env: Environment, role_arn: str | None = None) -> SchemaTarget:
        fixture = envs[env.name]
        return SchemaTarget(
            env=env,
            lambda_client=fixture.lambda_client,
            s3_client=fixture.s3,
            function=fixture.function_name,
            bucket=fixture.bucket,
            prefix=fixture.prefix,
        )

    monkeypatch.setattr(cli_common, "make_schema_target", make)
    return envs


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli.app, list(args), input=input)


def test_migrate_dev_publishes_the_repository_and_promote_moves_it_along_the_chain(
    targets: dict[str, Any],
) -> None:
    latest = load_repository().migrations[-1].version
    # WHEN dev is migrated (the repository-sourced environment)
    result = invoke("db", "migrate", "--env", "dev", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["migrate"]["version"] == latest
    # AND promoted to staging (dry run first: nothing changes)
    dry = invoke("db", "promote", "--from", "dev", "--to", "staging", "--dry-run", "--json")
    assert dry.exit_code == 0 and len(json.loads(dry.stdout)["plan"]["to_apply"]) == latest
    assert targets["staging"].status().version == 0
    assert invoke("db", "promote", "--from", "dev", "--to", "staging", "--yes").exit_code == 0
    # THEN staging has exactly dev's history
    assert targets["staging"].applied() == targets["dev"].applied()
    # AND prod, protected, is not touched without confirmation
    refused = invoke("db", "promote", "--from", "staging", "--to", "prod")
    assert refused.exit_code == 5 and targets["prod"].status().version == 0
    assert invoke("db", "promote", "--from", "staging", "--to", "prod", "--yes").exit_code == 0
    assert targets["prod"].applied() == targets["dev"].applied()
    # AND status shows every environment at the latest version
    status = invoke("db", "status", "--json")
    assert [(d["env"], d["version"]) for d in json.loads(status.stdout)] == [
        ("dev", latest), ("staging", latest), ("prod", latest)
    ]  # fmt: skip


def test_promoting_against_the_chain_is_refused_before_any_environment_is_read(
    targets: dict[str, Any],
) -> None:
    assert invoke("db", "migrate", "--env", "dev").exit_code == 0
    assert invoke("db", "promote", "--from", "dev", "--to", "staging", "--yes").exit_code == 0
    # WHEN prod (empty) would be promoted "down" into staging
    result = invoke("db", "promote", "--from", "prod", "--to", "staging", "--yes")
    # THEN it is refused (exit 5) naming the chain, and staging is unchanged
    assert result.exit_code == 5
    assert "against the promotion chain" in result.stderr and "dev -> staging -> prod" in result.stderr
    assert targets["staging"].applied() == targets["dev"].applied()


def test_migrate_dry_run_changes_nothing(targets: dict[str, Any]) -> None:
    result = invoke("db", "migrate", "--env", "dev", "--dry-run")
    assert result.exit_code == 0 and "would publish" in result.stdout
    assert targets["dev"].status().version == 0
