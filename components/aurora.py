"""Aurora MySQL: the global cluster, a primary or secondary (or regional) cluster, its
instances and parameter groups.

AWS rules this component relies on (validated earlier by model.aws_rules, cited in
shared/AWS_FACTS.md): secondary clusters carry no master credentials or database name and
encrypt with a key of their own region; backtrack only on clusters outside a global
database; a cluster sets either ``skip_final_snapshot`` or a final snapshot identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from components.providers import child_opts
from components.tags import resource_tags
from model.aws_rules import engine_parameter_family

ENGINE = "aurora-mysql"


class ClusterRole(StrEnum):
    REGIONAL = "regional"
    """A standalone cluster (no global database): may use backtrack."""
    PRIMARY = "primary"
    """Creates the global cluster and is its first (writer) member."""
    SECONDARY = "secondary"
    """Joins an existing global cluster, read-only, no master credentials."""


@dataclass(frozen=True, kw_only=True)
class AuroraClusterArgs:
    role: ClusterRole
    """regional, primary or secondary. Required."""
    cluster_identifier: str
    """Cluster identifier, unique across all regions of the global database. Required."""
    instance_identifiers: Sequence[str]
    """One identifier per instance (writer first). Required."""
    availability_zones: Sequence[str]
    """AZs the instances are spread across (round-robin). Required."""
    engine_version: str
    """Aurora MySQL version, explicit. Required."""
    instance_class: str
    """Instance class of every instance. Required."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key of this cluster's region (storage and Performance Insights). Required."""
    subnet_group_name: pulumi.Input[str]
    """DB subnet group of the network component. Required."""
    security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups of the cluster. Required."""
    parameter_group_prefix: str
    """Prefix of the cluster and instance parameter group names. Required."""
    protected: bool
    """Deletion protection and a final snapshot (True) or a clean, complete destroy (False). Required."""
    final_snapshot_identifier: str | None = None
    """Deterministic final snapshot name; required when protected."""
    global_cluster_identifier: pulumi.Input[str] | None = None
    """Primary: the global cluster to create. Secondary: the one to join (from config). Regional: None."""
    source_region: str | None = None
    """Secondary only: the primary's region (encrypted cross-region members need it)."""
    master_username: str | None = None
    """Primary/regional only. Defaults to None (required for those roles)."""
    master_password: pulumi.Input[str] | None = None
    """Primary/regional only: a generated secret, passed write-only so rotation is never undone."""
    database_name: str | None = None
    """Primary/regional only: the application database created with the cluster."""
    backup_retention_days: int = 7
    """Automated backup retention in days. Defaults to 7."""
    backup_window: str = "03:00-04:00"
    """Daily backup window (UTC). Defaults to 03:00-04:00."""
    maintenance_window: str = "sun:04:30-sun:05:30"
    """Weekly maintenance window (UTC). Defaults to sun:04:30-sun:05:30."""
    backtrack_hours: int = 0
    """Regional clusters only; 0 turns backtrack off. Defaults to 0."""
    log_exports: Sequence[str] = ("audit", "error", "slowquery")
    """CloudWatch log exports. Defaults to audit, error, slowquery."""
    performance_insights: bool = True
    """Performance Insights on every instance, encrypted with kms_key_arn. Defaults to True."""
    monitoring_interval: int = 0
    """Enhanced monitoring interval in seconds; > 0 creates the monitoring role. Defaults to 0."""
    port: int = 3306
    """MySQL port. Defaults to 3306."""
    engine_lifecycle_support: str | None = None
    """RDS EngineLifecycleSupport of the cluster (Extended Support enrolment). Defaults to None
    (AWS's default: enrolled)."""
    allow_major_version_upgrade: bool = False
    """Let an engine_version change cross a major version. Defaults to False."""


# Parameters every cluster gets: TLS required (security review), audit and slow-query logs
# feeding the log exports. Aurora MySQL 3 names; cluster-level parameters.
CLUSTER_PARAMETERS: dict[str, str] = {
    "require_secure_transport": "ON",
    "tls_version": "TLSv1.2,TLSv1.3",
    "server_audit_logging": "1",
    "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL",
    "slow_query_log": "1",
    "long_query_time": "2",
}
INSTANCE_PARAMETERS: dict[str, str] = {"performance_schema": "1"}
# Static parameters need a reboot: apply them at the next one ("pending-reboot").
_PENDING_REBOOT = {"performance_schema", "tls_version"}


class AuroraCluster(pulumi.ComponentResource):
    cluster_arn: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: pulumi.Output[int]
    global_cluster_identifier: pulumi.Output[str] | None
    global_cluster_arn: pulumi.Output[str] | None
    global_writer_endpoint: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: AuroraClusterArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
        *,
        global_cluster: aws.rds.GlobalCluster | None = None,
    ) -> None:
        super().__init__("aurora:database:AuroraCluster", name, None, opts)
        _check_args(name, args)
        family = engine_parameter_family(args.engine_version)
        # Groups are named per family (prod-aurora-use1-cluster-mysql84): a major upgrade changes
        # the family, which AWS cannot change on a group, so Pulumi creates the new family's groups
        # first, points the cluster at them once it runs the new version (the cluster depends on
        # the global cluster, whose update upgrades every member), and deletes the old ones last.
        # AWS resets members to the default groups during a major upgrade of a global database
        # and accepts custom ones only after it (Aurora User Guide, AuroraMySQL.Upgrading.Procedure,
        # "In-place major upgrades for global databases").
        group_suffix = parameter_group_suffix(family)

        # The global cluster is the home stack's own resource (global_cluster()), not this
        # component's: it moves with the home (`infra rehome`) while this cluster stays.
        self.global_cluster = global_cluster
        if (args.role is ClusterRole.PRIMARY) != (global_cluster is not None):
            raise ValueError(f"{name}: the global cluster is given to the primary cluster, and only to it")

        def parameters(arg_type: Any, values: dict[str, str]) -> list[Any]:
            return [
                arg_type(
                    name=k, value=v, apply_method="pending-reboot" if k in _PENDING_REBOOT else "immediate"
                )
                for k, v in values.items()
            ]

        cluster_pg = aws.rds.ClusterParameterGroup(
            f"{name}-cluster-params",
            name=f"{args.parameter_group_prefix}-cluster-{group_suffix}",
            family=family,
            description=f"{args.cluster_identifier}: TLS required, audit and slow-query logs",
            parameters=parameters(aws.rds.ClusterParameterGroupParameterArgs, CLUSTER_PARAMETERS),
            tags=resource_tags(f"{args.parameter_group_prefix}-cluster-{group_suffix}"),
            opts=child_opts(self, provider),
        )
        instance_pg = aws.rds.ParameterGroup(
            f"{name}-instance-params",
            name=f"{args.parameter_group_prefix}-instance-{group_suffix}",
            family=family,
            description=f"{args.cluster_identifier}: instance parameters",
            parameters=parameters(aws.rds.ParameterGroupParameterArgs, INSTANCE_PARAMETERS),
            tags=resource_tags(f"{args.parameter_group_prefix}-instance-{group_suffix}"),
            opts=child_opts(self, provider),
        )

        member_of_global = args.role is not ClusterRole.REGIONAL
        # AWS rewrites membership attributes during switchover, failover and upgrades through
        # the global cluster; fighting them would undo a failover (terraform-aws-modules/rds-aurora
        # ignores the same two for the same reason). Engine upgrades of members go through the
        # global cluster (terraform-provider-aws rds_global_cluster docs). The master password is
        # write-only and its rotation belongs to Secrets Manager, so it is never diffed either.
        # The master user and database name are creation inputs of the home's cluster only (a
        # secondary replicates them): when `infra rehome` makes another member the home, its
        # cluster is declared with them and the former home's without, and neither may change
        # (AWS replaces a cluster whose master username or database name changes).
        ignore = (
            [
                "globalClusterIdentifier",
                "replicationSourceIdentifier",
                "sourceRegion",
                "engineVersion",
                "masterUsername",
                "databaseName",
                "masterPasswordWo",
                "masterPasswordWoVersion",
            ]
            if member_of_global
            else []
        )
        depends: list[pulumi.Resource] = [self.global_cluster] if self.global_cluster is not None else []
        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=args.cluster_identifier,
            engine=ENGINE,
            engine_version=args.engine_version,
            engine_mode="provisioned",
            engine_lifecycle_support=args.engine_lifecycle_support,
            allow_major_version_upgrade=args.allow_major_version_upgrade,
            global_cluster_identifier=(
                self.global_cluster.id if self.global_cluster is not None else args.global_cluster_identifier
            ),
            source_region=args.source_region,
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_subnet_group_name=args.subnet_group_name,
            vpc_security_group_ids=list(args.security_group_ids),
            db_cluster_parameter_group_name=cluster_pg.name,
            port=args.port,
            master_username=args.master_username,
            master_password_wo=args.master_password,
            master_password_wo_version=1 if args.master_password is not None else None,
            database_name=args.database_name,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.backup_window,
            preferred_maintenance_window=args.maintenance_window,
            backtrack_window=args.backtrack_hours * 3600 if args.backtrack_hours else None,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(args.log_exports),
            iam_database_authentication_enabled=True,
            deletion_protection=args.protected,
            skip_final_snapshot=not args.protected,
            final_snapshot_identifier=args.final_snapshot_identifier if args.protected else None,
            apply_immediately=not args.protected,
            tags=resource_tags(args.cluster_identifier, {"AuroraRole": args.role.value}),
            opts=child_opts(self, provider, ignore_changes=ignore, depends_on=depends),
        )

        monitoring_role_arn: pulumi.Output[str] | None = None
        if args.monitoring_interval > 0:
            role = aws.iam.Role(
                f"{name}-monitoring-role",
                description=f"Enhanced monitoring of {args.cluster_identifier}",
                assume_role_policy=(
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
                    '"Principal":{"Service":"monitoring.rds.amazonaws.com"}}]}'
                ),
                managed_policy_arns=["arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"],
                tags=resource_tags(f"{name}-monitoring-role"),
                opts=child_opts(self, provider),
            )
            monitoring_role_arn = role.arn

        self.instances = [
            aws.rds.ClusterInstance(  # type: ignore[call-overload]  # engine is a plain string here
                f"{name}-instance-{index + 1}",
                identifier=identifier,
                cluster_identifier=self.cluster.id,
                engine=ENGINE,
                # No engine_version: instances run their cluster's (a pinned one fights upgrades,
                # terraform-provider-aws #31529, #29861).
                instance_class=args.instance_class,
                availability_zone=args.availability_zones[index % len(args.availability_zones)],
                db_parameter_group_name=instance_pg.name,
                db_subnet_group_name=args.subnet_group_name,
                publicly_accessible=False,
                # Minor upgrades of a global database go through the global cluster, secondaries
                # first; an instance upgrading on its own would break the version match.
                auto_minor_version_upgrade=not member_of_global,
                performance_insights_enabled=args.performance_insights,
                performance_insights_kms_key_id=args.kms_key_arn if args.performance_insights else None,
                performance_insights_retention_period=7 if args.performance_insights else None,
                monitoring_interval=args.monitoring_interval,
                monitoring_role_arn=monitoring_role_arn,
                promotion_tier=index,
                copy_tags_to_snapshot=True,
                apply_immediately=not args.protected,
                tags=resource_tags(identifier),
                opts=child_opts(self, provider, ignore_changes=["engineVersion"] if member_of_global else []),
            )
            for index, identifier in enumerate(args.instance_identifiers)
        ]

        self.cluster_arn = self.cluster.arn
        self.cluster_identifier = self.cluster.cluster_identifier
        self.writer_endpoint = self.cluster.endpoint
        self.reader_endpoint = self.cluster.reader_endpoint
        self.port = self.cluster.port
        self.global_cluster_identifier = self.global_cluster.id if self.global_cluster is not None else None
        self.global_cluster_arn = self.global_cluster.arn if self.global_cluster is not None else None
        self.global_writer_endpoint = (
            self.global_cluster.endpoint if self.global_cluster is not None else None
        )
        self.register_outputs(
            {
                "cluster_arn": self.cluster_arn,
                "cluster_identifier": self.cluster_identifier,
                "writer_endpoint": self.writer_endpoint,
                "reader_endpoint": self.reader_endpoint,
            }
        )


def global_cluster(
    name: str,
    *,
    identifier: str,
    engine_version: str,
    protected: bool,
    provider: aws.Provider,
    former_urn: str,
) -> aws.rds.GlobalCluster:
    """The global cluster, at the root of the home stack (``name``: ``<env>-<short secrets
    region>-aurora-global``, so a new home after `infra rehome` declares it unchanged).

    ``former_urn``: where versions before the ownership model kept it (a child of the home
    cluster's component), so their state keeps it as it is (an alias, no AWS change).

    The provider upgrades through the global cluster: a major version with one
    ModifyGlobalCluster for every member, a minor one with ModifyDBCluster per member until the
    global cluster reports the new version (terraform-provider-aws rds_global_cluster "Upgrading
    Engine Versions"; research notes, section 3). Its engine_lifecycle_support applies to Aurora
    PostgreSQL only (RDS API Reference, CreateGlobalCluster), so the members carry it.
    """
    return aws.rds.GlobalCluster(
        name,
        global_cluster_identifier=identifier,
        engine=ENGINE,
        engine_version=engine_version,
        storage_encrypted=True,
        deletion_protection=protected,
        # Ephemeral environments must destroy completely without manual steps: force_destroy
        # removes remaining members before deleting the global cluster.
        force_destroy=not protected,
        tags=resource_tags(name),
        opts=pulumi.ResourceOptions(provider=provider, aliases=[former_urn]),
    )


def parameter_group_suffix(family: str) -> str:
    """aurora-mysql8.0 -> mysql80, aurora-mysql8.4 -> mysql84 (group names allow no dots)."""
    return family.removeprefix("aurora-").replace(".", "")


def _check_args(name: str, args: AuroraClusterArgs) -> None:
    """Component-level invariants (the environment model has already checked the AWS rules)."""
    if args.role is ClusterRole.SECONDARY:
        if args.master_username or args.master_password is not None or args.database_name:
            raise ValueError(
                f"{name}: a secondary cluster carries no master username, password or database name "
                "(AWS rejects them; it replicates the primary's)"
            )
        if args.global_cluster_identifier is None:
            raise ValueError(f"{name}: a secondary cluster needs global_cluster_identifier")
    else:
        if not args.master_username or args.master_password is None:
            raise ValueError(f"{name}: a {args.role.value} cluster needs master_username and master_password")
    if args.role is ClusterRole.PRIMARY and args.global_cluster_identifier is None:
        raise ValueError(f"{name}: a primary cluster needs global_cluster_identifier (the one it creates)")
    if args.backtrack_hours and args.role is not ClusterRole.REGIONAL:
        raise ValueError(f"{name}: backtrack is not supported on members of a global database")
    if args.protected and not args.final_snapshot_identifier:
        raise ValueError(f"{name}: a protected cluster needs final_snapshot_identifier")
    if len(args.instance_identifiers) < 1:
        raise ValueError(f"{name}: at least one instance")
