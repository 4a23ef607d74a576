"""Program of a regional stack (primary or secondary): network, keys, credentials, cluster."""

from __future__ import annotations

from typing import Any

import pulumi

from components.aurora import AuroraCluster, AuroraClusterArgs, ClusterRole, global_cluster
from components.context import StackContext
from components.credentials import Credentials, CredentialsArgs
from components.database_setup import DatabaseSetup, UserCredentials, user_credentials
from components.kms import RegionalKey, RegionalKeyArgs
from components.lambdas import RegionalLambdas
from components.monitoring import RegionalAlarms, RegionalAlarmsArgs
from components.network import Network, NetworkArgs, pick_availability_zones
from components.providers import former_urn, make_provider
from model import naming
from model.naming import version_parameter_name
from model.topology import Role


def replica_secret_arn(primary_secret_arn: str, region: str) -> str:
    """A replica secret keeps the primary's name and suffix; only the region differs."""
    parts = primary_secret_arn.split(":")
    parts[3] = region
    return ":".join(parts)


def regional_program(ctx: StackContext) -> dict[str, Any]:
    env, spec = ctx.env, ctx.spec
    region = spec.region
    provider = make_provider(env, region)
    prefix = f"{env.name}-{naming.short_region(region)}"
    zones = pick_availability_zones(provider)

    network = Network(
        f"{prefix}-network",
        NetworkArgs(
            cidr_block=env.network.cidrs[region],
            region=region,
            availability_zones=zones,
            nat_gateway=env.network.nat_gateway,
            db_subnet_group_name=naming.group_name(env.name, region, "db-subnets"),
        ),
        provider,
    )
    key = RegionalKey(
        f"{prefix}-kms",
        RegionalKeyArgs(
            account_id=env.account_id,
            region=region,
            alias=f"aurora/{env.name}/{region}",
            description=f"Aurora {env.name} {region}: cluster storage, Performance Insights, logs, topics",
            deletion_window_days=30 if env.protected else 7,
        ),
        provider,
    )

    if env.is_global:
        role = ClusterRole.PRIMARY if spec.role is Role.PRIMARY else ClusterRole.SECONDARY
    else:
        role = ClusterRole.REGIONAL
    # Ownership (DESIGN.md "Ownership and the writer"): the home stack (primary or regional) owns
    # the global cluster, the secrets, their multi-region key and every generated password. They
    # live in the secrets' region (env.secrets_home: the home region unless `infra rehome` moved
    # the home) and are named after it, through that region's provider, so whichever stack is
    # home declares them unchanged. The secrets region's own stack runs what acts on them.
    owns = role is not ClusterRole.SECONDARY
    secrets_here = region == env.secrets_home
    # (Only the home declares owned resources: only the home needs the secrets region's provider.)
    secrets_provider = make_provider(env, env.secrets_home) if owns and not secrets_here else provider
    owned_prefix = f"{env.name}-{naming.short_region(env.secrets_home)}"
    credentials: Credentials | None = None
    secrets_key: RegionalKey | None = None
    if owns:
        secrets_key = RegionalKey(
            f"{env.name}-secrets-kms",
            RegionalKeyArgs(
                account_id=env.account_id,
                region=env.secrets_home,
                alias=f"aurora/{env.name}/secrets",
                description=f"Aurora {env.name}: credentials secrets, replicated to every region",
                multi_region=True,
                replica_regions=env.secret_replica_regions,
                services=("secretsmanager", "lambda"),
                deletion_window_days=30 if env.protected else 7,
            ),
            secrets_provider,
        )
        credentials = Credentials(
            f"{env.name}-master",
            CredentialsArgs(
                secret_name=naming.secret_name(env.name, "master"),
                username=env.database.master_username,
                kms_key_arn=secrets_key.key_arn,
                replica_kms_key_arns=secrets_key.replica_arns,
                recovery_window_days=7 if env.protected else 0,
            ),
            secrets_provider,
        )

    global_id: Any = None
    the_global_cluster = None
    if role is ClusterRole.PRIMARY:
        global_id = naming.global_cluster_id(env.name)
        the_global_cluster = global_cluster(
            f"{owned_prefix}-aurora-global",
            identifier=global_id,
            engine_version=env.database.engine_version,
            protected=env.protected,
            provider=secrets_provider,
            former_urn=former_urn(
                ["aurora:database:AuroraCluster"],
                "aws:rds/globalCluster:GlobalCluster",
                f"{owned_prefix}-aurora-global",
            ),
        )
    elif role is ClusterRole.SECONDARY:
        global_id = ctx.require("globalClusterIdentifier")

    cluster_id = naming.cluster_id(env.name, region)
    cluster = AuroraCluster(
        f"{prefix}-aurora",
        AuroraClusterArgs(
            role=role,
            cluster_identifier=cluster_id,
            instance_identifiers=[
                naming.instance_id(env.name, region, i) for i in range(env.database.instance_count)
            ],
            availability_zones=zones,
            engine_version=env.database.engine_version,
            instance_class=env.database.instance_class,
            kms_key_arn=key.key_arn,
            subnet_group_name=network.db_subnet_group_name,
            security_group_ids=[network.db_security_group_id],
            parameter_group_prefix=f"{env.name}-aurora-{naming.short_region(region)}",
            protected=env.protected,
            final_snapshot_identifier=naming.final_snapshot_id(env.name, region) if env.protected else None,
            global_cluster_identifier=global_id,
            source_region=env.primary_region if role is ClusterRole.SECONDARY else None,
            master_username=env.database.master_username if credentials else None,
            master_password=credentials.password if credentials else None,
            database_name=env.database.database_name if credentials else None,
            backup_retention_days=env.database.backup_retention_days,
            backup_window=env.database.backup_window,
            maintenance_window=env.database.maintenance_window,
            backtrack_hours=env.backtrack_hours if role is ClusterRole.REGIONAL else 0,
            log_exports=env.database.log_exports,
            performance_insights=env.database.performance_insights,
            monitoring_interval=env.database.enhanced_monitoring_interval,
            engine_lifecycle_support=env.database.engine_lifecycle_support,
            allow_major_version_upgrade=env.database.allow_major_upgrade,
        ),
        provider,
        global_cluster=the_global_cluster,
    )
    users: UserCredentials | None = None
    if credentials is not None and secrets_key is not None:
        # Clients (and the rotation function) follow the writer: the global writer endpoint
        # when there is one (it moves with switchover and failover), else the cluster's.
        secret_host = cluster.global_writer_endpoint or cluster.writer_endpoint
        initial_version = credentials.store_connection(
            host=secret_host,
            port=cluster.port,
            dbname=env.database.database_name,
            cluster_identifier=cluster.cluster_identifier,
        )
        users = user_credentials(
            env,
            secrets_key_arn=secrets_key.key_arn,
            secrets_replica_key_arns=secrets_key.replica_arns,
            secret_host=secret_host,
            port=cluster.port,
            provider=secrets_provider,
        )

    alarms = RegionalAlarms(
        f"{prefix}-alarms",
        RegionalAlarmsArgs(
            env_name=env.name,
            region=region,
            cluster_identifier=cluster_id,
            name_prefix=f"{env.name}-aurora-{naming.short_region(region)}",
            kms_key_arn=key.key_arn,
            # In region_order: neither the writer nor the home (`infra rehome`) changes it.
            source_regions=[r for r in env.region_order if r != region] if env.is_global else [],
            engine_version=env.database.engine_version,
            period_seconds=env.monitoring.alarm_period_seconds,
            evaluation_periods=env.monitoring.alarm_evaluation_periods,
            lag_threshold_ms=env.monitoring.replication_lag_threshold_ms,
            cpu_threshold_percent=env.monitoring.cpu_threshold_percent,
            freeable_memory_threshold_mb=env.monitoring.freeable_memory_threshold_mb,
            connections_threshold=env.monitoring.connections_threshold,
            notification_emails=env.monitoring.notification_emails,
        ),
        provider,
    )

    # What this stack's functions read: the master secret and the secrets key in this region
    # (the primaries in the secrets region, replicas elsewhere).
    if credentials is not None and secrets_key is not None and secrets_here:
        secret_arn: Any = credentials.secret_arn
        secret_key_arn: Any = secrets_key.key_arn
    elif credentials is not None and secrets_key is not None:
        secret_arn = credentials.secret_arn.apply(lambda arn: replica_secret_arn(arn, region))
        secret_key_arn = secrets_key.replica_arns[region]
    elif secrets_here:  # a secondary holding the secrets after `infra rehome`: fed by the home
        secret_arn = str(ctx.require("masterSecretArn"))
        secret_key_arn = ctx.require("secretsKmsKeyArn")
    else:
        secret_arn = replica_secret_arn(str(ctx.require("masterSecretArn")), region)
        secret_key_arn = ctx.require("secretsKmsReplicaArns")[region]
    if secrets_here and secrets_key is not None:
        replica_key_arns: Any = secrets_key.replica_arns
    elif secrets_here:
        replica_key_arns = ctx.require("secretsKmsReplicaArns")
    else:
        replica_key_arns = {}
    global_cluster_arn: Any = None
    if the_global_cluster is not None:
        global_cluster_arn = the_global_cluster.arn
    elif role is ClusterRole.SECONDARY and secrets_here:
        global_cluster_arn = ctx.require("globalClusterArn")
    lambdas = RegionalLambdas(
        f"{prefix}-lambdas",
        ctx=ctx,
        role=role,
        provider=provider,
        network=network,
        kms_key_arn=key.key_arn,
        cluster=cluster,
        cluster_identifier=cluster_id,
        secret_arn=secret_arn,
        secrets_kms_key_arn=secret_key_arn,
        secrets_replica_key_arns=replica_key_arns,
        alarm_topic_arn=alarms.topic_arn,
        rotates=secrets_here,
        global_cluster_arn=global_cluster_arn,
        secret_ready=[initial_version] if credentials is not None and secrets_here else [],
    )

    setup: DatabaseSetup | None = None
    if secrets_here:
        if users is not None:
            user_arns: dict[str, Any] = {r: c.secret_arn for r, c in users.users.items()}
            probe_arn: Any = users.probe.secret_arn if users.probe is not None else None
            ready: list[pulumi.Resource] = [initial_version, *users.versions, *cluster.instances]
        else:  # the home is elsewhere and was deployed first (model.topology.SECRETS_REGION_FEED)
            user_arns = dict(ctx.require("userSecretArns"))
            probe_arn = ctx.require("probeSecretArn") if env.failover.automated else None
            ready = [*cluster.instances]
        setup = DatabaseSetup(
            f"{owned_prefix}-database",
            env=env,
            region=region,
            provider=provider,
            kms_key_arn=key.key_arn,
            secrets_key_arn=secret_key_arn,
            master_secret_arn=secret_arn,
            user_secret_arns=user_arns,
            probe_secret_arn=probe_arn,
            global_cluster_arn=global_cluster_arn,
            bootstrap_worker=lambdas.bootstrap_worker,
            layer_arn=lambdas.layer_arn,
            alarm_topic_arn=alarms.topic_arn,
            ready=ready,
        )
        # Rotations are scheduled only after bootstrap ran (components.lambdas.schedule_rotation).
        lambdas.schedule_rotation(after=[setup.bootstrap_run])
        rotated = dict(setup.user_secret_arns)
        if setup.probe_secret_arn is not None:
            rotated["probe"] = setup.probe_secret_arn
        for user_role, user_secret in rotated.items():
            lambdas.rotate(
                user_role,
                user_secret,
                secret_key_arn,
                [*(users.versions if users is not None else []), *cluster.instances, setup.bootstrap_run],
            )

    outputs: dict[str, Any] = {
        "region": region,
        "role": spec.role.value,
        "vpc_id": network.vpc_id,
        "private_subnet_ids": network.private_subnet_ids,
        "private_route_table_ids": network.private_route_table_ids,
        "db_subnet_group_name": network.db_subnet_group_name,
        "db_security_group_id": network.db_security_group_id,
        "lambda_security_group_id": network.lambda_security_group_id,
        "app_security_group_id": network.app_security_group_id,
        "endpoint_security_group_id": network.endpoint_security_group_id,
        "kms_key_arn": key.key_arn,
        "cluster_identifier": cluster.cluster_identifier,
        "cluster_arn": cluster.cluster_arn,
        "cluster_endpoint": cluster.writer_endpoint,
        "reader_endpoint": cluster.reader_endpoint,
        "port": cluster.port,
        "alarm_topic_arn": alarms.topic_arn,
        "writer_health_alarm_name": alarms.writer_health_alarm_name,
        "alarm_names": alarms.alarm_names,
        "layer_arn": lambdas.layer_arn,
        **lambdas.outputs(),
    }
    if credentials is not None and secrets_key is not None:
        outputs["master_secret_arn"] = credentials.secret_arn
        outputs["master_secret_name"] = credentials.secret_name
        outputs["secrets_kms_key_arn"] = secrets_key.key_arn
        outputs["master_secret_replica_arns"] = credentials.secret_arn.apply(
            lambda arn: {r: replica_secret_arn(arn, r) for r in env.secret_replica_regions}
        )
        outputs["secrets_kms_replica_arns"] = secrets_key.replica_arns
    else:
        outputs["master_secret_arn"] = secret_arn
        outputs["secrets_kms_key_arn"] = secret_key_arn
    if users is not None:
        outputs["user_secret_arns"] = {r: c.secret_arn for r, c in users.users.items()}
        if users.probe is not None:
            outputs["probe_secret_arn"] = users.probe.secret_arn
            outputs["probe_secret_replica_arns"] = users.probe.secret_arn.apply(
                lambda arn: {r: replica_secret_arn(arn, r) for r in env.secret_replica_regions}
            )
    if setup is not None:
        outputs["migrator_function_name"] = setup.migrator_function_name
        outputs["migrations_bucket"] = setup.migrations_bucket
        outputs["schema_version_parameter"] = version_parameter_name(env)
    if role is ClusterRole.PRIMARY:
        outputs["global_cluster_identifier"] = cluster.global_cluster_identifier
        outputs["global_cluster_arn"] = cluster.global_cluster_arn
        outputs["global_writer_endpoint"] = cluster.global_writer_endpoint
    elif role is ClusterRole.SECONDARY:
        outputs["global_cluster_identifier"] = pulumi.Output.from_input(global_id)
    return outputs
