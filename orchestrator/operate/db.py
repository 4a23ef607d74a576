"""`infra db`: schema status, migrate and promote across environments (pull model).

Each environment is reached with its own account's credentials: the operator's session
invokes that environment's migrator Lambda and writes to that environment's bucket. No
environment reaches into another (see migrations/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model.environment import Environment
from model.naming import function_name, migrations_bucket_name, migrations_prefix
from orchestrator.operate import schema


@dataclass(frozen=True)
class SchemaTarget:
    """Where an environment's migrator and migration set live, and clients to reach them."""

    env: Environment
    lambda_client: Any
    s3_client: Any
    function: str
    bucket: str
    prefix: str
    kms_key: str | None = None

    @classmethod
    def of(cls, env: Environment, *, lambda_client: Any, s3_client: Any) -> SchemaTarget:
        """The names the stack programs give them (components.database_setup, naming)."""
        return cls(
            env=env,
            lambda_client=lambda_client,
            s3_client=s3_client,
            # The migrator and its bucket run in the secrets' region (components.database_setup).
            function=function_name(env.name, env.secrets_home, "migrator"),
            bucket=migrations_bucket_name(env),
            prefix=migrations_prefix(env),
            kms_key=f"alias/aurora/{env.name}/{env.secrets_home}",
        )

    def status(self) -> schema.EnvironmentStatus:
        return schema.read_status(self.lambda_client, self.function, self.env.name)


TargetFactory = Callable[[Environment], SchemaTarget]


def target_for(env: Environment, *, role_arn: str | None = None, profile: str | None = None) -> SchemaTarget:
    """Clients on the environment's own account (verified), in its secrets' region (where the
    migrator and its bucket are: the home region unless `infra rehome` moved the home)."""
    from orchestrator.operate.aws import connect

    aws = connect(env, role_arn=role_arn, profile=profile, session_name=f"infra-db-{env.name}")
    return SchemaTarget.of(
        env,
        # The migrator answers when it is done (up to its 900 s timeout).
        lambda_client=aws.long_action_client("lambda", env.secrets_home),
        s3_client=aws.client("s3", env.secrets_home),
    )


def plan_migrate(target: SchemaTarget) -> schema.PromotionPlan | None:
    """For the repository-sourced environment: the repository's set. Otherwise None (the
    migrator re-runs what is already published, e.g. after a repair)."""
    if target.env.database.schema_source != "repository":
        return None
    return schema.plan_release(schema.load_repository(), target.status())


def migrate(
    target: SchemaTarget, *, dry_run: bool = False, progress: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    plan = plan_migrate(target)
    if plan is None:
        progress(f"{target.env.name}: applying what is published under s3://{target.bucket}/{target.prefix}")
        return {
            "plan": None,
            "migrate": schema.run_migrate(target.lambda_client, target.function, dry_run=dry_run),
        }
    if dry_run:
        return {"plan": plan.to_dict(), "migrate": None}
    return promote(plan, target, progress=progress)


PROMOTION_CHAIN = ("dev", "staging", "prod")
"""The order schema changes travel in (README, "Schema"): promotions go forward along it only."""


class PromotionDirectionError(schema.PromotionRefused):
    """The promotion goes against the chain (or nowhere): refused before any environment is read."""


def check_direction(source: Environment, target: Environment) -> None:
    """Cloud-free checks of ``infra db promote --from source --to target``."""
    if source.name == target.name:
        raise PromotionDirectionError(
            f"--from and --to are both {source.name}: promote to another environment"
        )
    if target.database.schema_source == "repository":
        raise PromotionDirectionError(
            f"{target.name} takes its migrations from the repository (database.schema_source: repository), "
            f"never by promotion: run `infra db migrate --env {target.name}` instead"
        )
    chain = PROMOTION_CHAIN
    if source.name in chain and target.name in chain and chain.index(source.name) > chain.index(target.name):
        raise PromotionDirectionError(
            f"{source.name} -> {target.name} goes against the promotion chain "
            f"({' -> '.join(chain)}): promote from an environment before {target.name}"
        )


def plan_promote(source: SchemaTarget, target: SchemaTarget) -> schema.PromotionPlan:
    return schema.plan_promotion(schema.load_repository(), source.status(), target.status())


def promote(
    plan: schema.PromotionPlan, target: SchemaTarget, *, progress: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    return schema.execute_plan(
        plan,
        s3=target.s3_client,
        bucket=target.bucket,
        prefix=target.prefix,
        lambda_client=target.lambda_client,
        function_name=target.function,
        kms_key_id=target.kms_key,
        progress=progress,
    )
