"""Physical names of resources, derived from the environment and region in one place.

Renaming replaces real infrastructure: treat these as a public contract. Every name is
checked against AWS's rules (model.aws_rules) when it is made (FC-001-1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from model import aws_rules

if TYPE_CHECKING:
    from model.environment import Environment

HEALTH_NAMESPACE = "AuroraGlobal/Health"
"""CloudWatch namespace of the health-check metrics (WriterHealthy, Reachable, CheckLatencyMs)."""

# Short region codes keep identifiers within AWS's 63-character limit.
_REGION_PARTS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
                 "northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}  # fmt: skip


def short_region(region: str) -> str:
    """us-east-1 -> use1, eu-central-2 -> euc2, ap-southeast-3 -> apse3."""
    geo, direction, number = region.split("-")
    return f"{geo}{_REGION_PARTS.get(direction, direction[:2])}{number}"


def global_cluster_id(env: str) -> str:
    return aws_rules.check_db_identifier("global_cluster_identifier", f"{env}-aurora-global")


def cluster_id(env: str, region: str) -> str:
    # Cluster identifiers must be unique across all regions of the global database.
    return aws_rules.check_db_identifier("cluster_identifier", f"{env}-aurora-{short_region(region)}")


def instance_id(env: str, region: str, index: int) -> str:
    return aws_rules.check_db_identifier("instance_identifier", f"{cluster_id(env, region)}-{index + 1}")


def final_snapshot_id(env: str, region: str) -> str:
    # Deterministic: the same name on every destroy, so operators know where to look.
    return aws_rules.check_db_identifier("final_snapshot_identifier", f"{cluster_id(env, region)}-final")


def group_name(env: str, region: str, kind: str) -> str:
    return aws_rules.check_group_name(f"{kind}_name", f"{env}-aurora-{short_region(region)}-{kind}")


def function_name(env: str, region: str, purpose: str) -> str:
    return aws_rules.check_function_name("function_name", f"{env}-aurora-{short_region(region)}-{purpose}")


ROTATION_SQL_WORKER = "rotation-sql"
"""Purpose of the in-VPC rotation SQL worker every regional stack runs (function_name's ``purpose``)."""


def function_arn(account_id: str, region: str, name: str) -> str:
    """The ARN of a function from its account, region and name: known before it exists."""
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


BOOTSTRAP_WORKER = "bootstrap-worker"
"""Purpose of the in-VPC bootstrap worker every regional stack runs (function_name's ``purpose``)."""


MIGRATOR_WORKER = "migrator-worker"
"""Purpose of the in-VPC migrator worker every regional stack runs (function_name's ``purpose``)."""


def worker_arns(env: Environment, purpose: str) -> dict[str, str]:
    """Region -> ARN of the function ``purpose`` in that region, for every region of the environment.

    Derived from names only, so the inputs of a function that follows the writer (rotation,
    bootstrap, migrator) never depend on where the writer is (DESIGN.md 4b).
    """
    return {
        region: function_arn(env.account_id, region, function_name(env.name, region, purpose))
        for region in env.regions
    }


def rotation_sql_worker_arns(env: Environment) -> dict[str, str]:
    """Region -> ARN of the rotation SQL worker, for every region of the environment."""
    return worker_arns(env, ROTATION_SQL_WORKER)


def bootstrap_worker_arns(env: Environment) -> dict[str, str]:
    """Region -> ARN of the bootstrap worker, for every region of the environment."""
    return worker_arns(env, BOOTSTRAP_WORKER)


def migrator_worker_arns(env: Environment) -> dict[str, str]:
    """Region -> ARN of the migrator worker, for every region of the environment."""
    return worker_arns(env, MIGRATOR_WORKER)


FAILOVER_DECIDER = "failover"
"""Purpose of the failover decider function every region of an automated environment runs."""

FAILOVER_PROBE = "probe"
"""Purpose of the in-VPC write probe every region of an automated environment runs."""


def failover_table_name(env: str, region: str) -> str:
    """The failover table of one region: probe attempts, the flight lock and the arm state
    (lambda_src.failover.store). DynamoDB table names: 3-255 of [A-Za-z0-9_.-]."""
    return f"{env}-aurora-{short_region(region)}-failover"


def failover_tables(env: Environment) -> dict[str, str]:
    """Region -> failover table name, for every region of the environment, in its region_order
    (which `infra rehome` keeps: the deciders' configuration stays byte-identical).

    Derived from names only: the deciders, the probes and ``infra failover`` find every
    region's table without reading another stack (DESIGN.md 4b)."""
    return {region: failover_table_name(env.name, region) for region in env.region_order}


def secret_name(env: str, purpose: str) -> str:
    return f"aurora/{env}/{purpose}"


def writer_name(zone: str) -> str:
    return f"writer.{zone}"


def reader_name(zone: str, region: str) -> str:
    return f"reader.{region}.{zone}"


def migrations_bucket_name(env: Environment) -> str:
    return f"{env.name}-aurora-migrations-{env.account_id}"


def migrations_prefix(env: Environment) -> str:
    return f"migrations/{env.name}/"


def version_parameter_name(env: Environment) -> str:
    return f"/aurora/{env.name}/schema/version"
