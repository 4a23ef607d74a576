"""`infra upgrade check --to VERSION`: a read-only preflight of an engine upgrade, per region.

What it verifies (research notes and AWS pages cited per check):

* the move is allowed by the product's rules (listed, global, no downgrade, a major upgrade only
  with ``database.allow_major_upgrade``): :func:`model.aws_rules.check_engine_upgrade`;
* in every region of the environment: the target is offered for the environment's instance class
  (``DescribeOrderableDBInstanceOptions``), is a ``ValidUpgradeTarget`` of the running version
  (``DescribeDBEngineVersions``), and supports global databases (``SupportsGlobalDatabases``);
* the switchover preconditions hold before the upgrade starts (the very checks `infra failover`
  makes, from :func:`orchestrator.operate.failover.plan_failover`): during a minor upgrade the
  members run different versions and no managed switchover is possible until every one is done
  (Aurora User Guide, aurora-global-database-upgrade, "Patch level compatibility");
* and what `infra up` would then do, in which order.

Nothing here changes AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from model import aws_rules, naming
from model.aws_rules import RuleViolation, UpgradeKind
from model.environment import Environment
from model.topology import stacks_for
from orchestrator.operate.aws import AwsSession, GlobalClusterReadError, describe_error
from orchestrator.operate.failover import Operation, plan_failover
from orchestrator.operate.readings import describe_cluster, read_global_cluster

ENGINE = "aurora-mysql"


@dataclass(frozen=True)
class UpgradeCheck:
    region: str | None
    """None: a check of the whole environment."""
    name: str
    passed: bool
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class UpgradePreflight:
    env_name: str
    current: str | None
    """The running version (the global cluster's, or the regional cluster's); None if unknown."""
    target: str
    kind: UpgradeKind | None
    checks: tuple[UpgradeCheck, ...]
    steps: tuple[str, ...]
    """What `infra up` would do, in order."""

    @property
    def problems(self) -> tuple[UpgradeCheck, ...]:
        return tuple(c for c in self.checks if not c.passed and c.blocking)

    @property
    def go(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env_name,
            "current": self.current,
            "target": self.target,
            "kind": self.kind.value if self.kind else None,
            "go": self.go,
            "checks": [
                {
                    "region": c.region,
                    "name": c.name,
                    "passed": c.passed,
                    "blocking": c.blocking,
                    "message": c.message,
                }
                for c in self.checks
            ],
            "problems": [f"{c.region or '*'}:{c.name}" for c in self.problems],
            "steps": list(self.steps),
        }

    def render_text(self) -> str:
        kind = self.kind.value if self.kind else "unknown"
        lines = [
            f"Upgrade check of {self.env_name}: {self.current or 'unknown'} -> {self.target} ({kind} upgrade)",
            f"  {'region':14s} {'check':34s} result  message",
        ]
        for c in self.checks:
            mark = "ok  " if c.passed else ("FAIL" if c.blocking else "warn")
            lines.append(f"  {c.region or '*':14s} {c.name:34s} {mark}    {c.message}")
        if self.steps:
            lines.append("What `infra up` would do, in order:")
            lines.extend(f"  {i}. {step}" for i, step in enumerate(self.steps, start=1))
        if self.go:
            lines.append("Go: every check passes. Nothing was changed.")
        else:
            names = ", ".join(f"{c.region or '*'}:{c.name}" for c in self.problems)
            lines.append(f"No go: {names}. Nothing was changed.")
        return "\n".join(lines)


def _current_version(env: Environment, clients: AwsSession) -> tuple[str | None, UpgradeCheck]:
    """The running version: the global cluster's (global), or the primary region's cluster's."""
    if env.is_global:
        try:
            view = read_global_cluster(clients, env).view
        except GlobalClusterReadError as exc:
            return None, UpgradeCheck(None, "running_version_known", False, str(exc))
        if view is None:
            return None, UpgradeCheck(
                None,
                "running_version_known",
                False,
                f"global cluster {naming.global_cluster_id(env.name)} does not exist: nothing to upgrade "
                "(a first `infra up` creates it at database.engine_version)",
            )
        version = view.engine_version
        where = f"global cluster {view.identifier}"
    else:
        identifier = naming.cluster_id(env.name, env.primary_region)
        try:
            cluster = describe_cluster(clients.client("rds", env.primary_region), identifier)
        except (BotoCoreError, ClientError) as exc:
            return None, UpgradeCheck(
                env.primary_region,
                "running_version_known",
                False,
                f"cannot read {identifier}: {describe_error(exc)}",
            )
        if cluster is None:
            return None, UpgradeCheck(
                env.primary_region,
                "running_version_known",
                False,
                f"cluster {identifier} does not exist: nothing to upgrade",
            )
        version = cluster.engine_version
        where = f"cluster {identifier}"
    if not version:
        return None, UpgradeCheck(None, "running_version_known", False, f"{where} reports no EngineVersion")
    return version, UpgradeCheck(None, "running_version_known", True, f"{where} runs {version}")


def _engine_version(rds: Any, version: str) -> dict[str, Any] | None:
    answer = rds.describe_db_engine_versions(Engine=ENGINE, EngineVersion=version)
    versions = answer.get("DBEngineVersions", [])
    return versions[0] if versions else None


def _orderable(rds: Any, version: str, instance_class: str) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "Engine": ENGINE,
        "EngineVersion": version,
        "DBInstanceClass": instance_class,
        "Vpc": True,
    }
    while True:
        answer = rds.describe_orderable_db_instance_options(**params)
        options.extend(answer.get("OrderableDBInstanceOptions", []))
        marker = answer.get("Marker")
        if not marker:
            return options
        params["Marker"] = marker


def _region_checks(
    env: Environment, region: str, current: str, target: str, clients: AwsSession
) -> list[UpgradeCheck]:
    """DescribeOrderableDBInstanceOptions and DescribeDBEngineVersions in one region (RDS API
    Reference: OrderableDBInstanceOption, DBEngineVersion.ValidUpgradeTarget, UpgradeTarget)."""
    rds = clients.client("rds", region)
    checks: list[UpgradeCheck] = []
    instance_class = env.database.instance_class
    try:
        options = _orderable(rds, target, instance_class)
    except (BotoCoreError, ClientError) as exc:
        checks.append(UpgradeCheck(region, "offered_for_instance_class", False, describe_error(exc)))
    else:
        offered = bool(options)
        checks.append(
            UpgradeCheck(
                region,
                "offered_for_instance_class",
                offered,
                f"{target} is offered for {instance_class}"
                if offered
                else f"{target} is not offered for {instance_class} in {region}: choose another instance "
                "class or version",
            )
        )
        if offered and env.is_global:
            global_ok = any(o.get("SupportsGlobalDatabases") for o in options)
            checks.append(
                UpgradeCheck(
                    region,
                    "instance_class_supports_global",
                    global_ok,
                    f"{instance_class} with {target} supports global databases"
                    if global_ok
                    else f"{instance_class} with {target} does not support global databases in {region}",
                )
            )
    try:
        running = _engine_version(rds, current)
        wanted = _engine_version(rds, target)
    except (BotoCoreError, ClientError) as exc:
        checks.append(UpgradeCheck(region, "valid_upgrade_target", False, describe_error(exc)))
        return checks
    if running is None:
        checks.append(
            UpgradeCheck(region, "valid_upgrade_target", False, f"RDS does not know {current} in {region}")
        )
    else:
        targets = {t.get("EngineVersion"): t for t in running.get("ValidUpgradeTarget", [])}
        entry = targets.get(target)
        if entry is None:
            valid = ", ".join(sorted(str(v) for v in targets)) or "none"
            checks.append(
                UpgradeCheck(
                    region,
                    "valid_upgrade_target",
                    False,
                    f"{target} is not a valid upgrade target of {current} in {region} (valid: {valid})",
                )
            )
        else:
            major = bool(entry.get("IsMajorVersionUpgrade"))
            checks.append(
                UpgradeCheck(
                    region,
                    "valid_upgrade_target",
                    True,
                    f"{target} is a valid {'major' if major else 'minor'} upgrade target of {current}",
                )
            )
            if major and not env.database.allow_major_upgrade:
                checks.append(
                    UpgradeCheck(
                        region,
                        "major_upgrade_allowed",
                        False,
                        "RDS reports a major version upgrade; set database.allow_major_upgrade: true",
                    )
                )
            if env.is_global and not entry.get("SupportsGlobalDatabases"):
                checks.append(
                    UpgradeCheck(
                        region,
                        "global_database_supported",
                        False,
                        f"upgrading to {target} is not supported for global databases in {region}",
                    )
                )
    if wanted is None:
        checks.append(
            UpgradeCheck(region, "target_available", False, f"RDS does not offer {target} in {region}")
        )
        return checks
    status = wanted.get("Status", "available")
    checks.append(
        UpgradeCheck(
            region,
            "target_available",
            status == "available",
            f"{target} is {status}",
        )
    )
    if env.is_global:
        supports = bool(wanted.get("SupportsGlobalDatabases"))
        checks.append(
            UpgradeCheck(
                region,
                "global_database_supported",
                supports,
                f"{target} supports global databases"
                if supports
                else f"{target} does not support global databases in {region}",
            )
        )
    family = wanted.get("DBParameterGroupFamily")
    expected = aws_rules.engine_parameter_family(target)
    if family is not None:
        checks.append(
            UpgradeCheck(
                region,
                "parameter_group_family",
                family == expected,
                f"parameter group family {family}"
                if family == expected
                else f"RDS says family {family}, the version table says {expected}: fix the table",
            )
        )
    return checks


def upgrade_steps(env: Environment, current: str, target: str, kind: UpgradeKind) -> list[str]:
    """What `infra up` does for this upgrade, in stack order (model.topology.stacks_for)."""
    if kind is UpgradeKind.NONE:
        return [f"nothing: {env.name} already runs {target}"]
    family = aws_rules.engine_parameter_family(target)
    old_family = aws_rules.engine_parameter_family(current)
    regional = [s for s in stacks_for(env) if s.regional]
    steps: list[str] = []
    if env.database.engine_version != target:
        steps.append(
            f"first set database.engine_version: {target} in the environment file (it says "
            f"{env.database.engine_version}); `infra up` deploys what the file says"
        )
    primary, *others = regional
    if not env.is_global:
        steps.append(
            f"{primary.name}: ModifyDBCluster to {target}"
            + (" with AllowMajorVersionUpgrade" if kind is UpgradeKind.MAJOR else "")
            + " (an outage while the instances restart)"
        )
        if family != old_family:
            steps.append(
                f"{primary.name}: create the {family} parameter groups, point the cluster and instances "
                f"at them, delete the {old_family} ones; reboot to apply pending-reboot parameters"
            )
        return steps
    if kind is UpgradeKind.MAJOR:
        steps.append(
            f"{primary.name}: create the {family} cluster and instance parameter groups (new names, "
            f"the {old_family} ones stay in use)"
        )
        steps.append(
            f"{primary.name}: ModifyGlobalCluster to {target} with AllowMajorVersionUpgrade: Aurora "
            "snapshots, then upgrades every member at the same time (an outage in every region) and "
            "resets them to the default parameter groups"
        )
        steps.append(
            f"{primary.name}: point the primary cluster and its instances at the {family} groups, delete "
            f"the {old_family} ones; reboot to apply pending-reboot parameters"
        )
        for spec in others:
            steps.append(
                f"{spec.name}: create the {family} groups, point the secondary cluster and instances at "
                f"them, delete the {old_family} ones (members ignore engine_version: the global cluster "
                "already upgraded them)"
            )
    else:
        secondaries = ", ".join(s.region for s in others)
        steps.append(
            f"{primary.name}: GlobalCluster engine_version {current} -> {target}; the provider calls "
            f"ModifyDBCluster on each member with ApplyImmediately (AWS takes the secondaries "
            f"[{secondaries}] first, then the primary {primary.region}), ignoring the maintenance window; "
            "managed switchover and failover are impossible until every member runs the same version"
        )
        if others:
            steps.append(
                f"{', '.join(s.name for s in others)}: no engine change (members ignore engine_version; "
                "parameter groups unchanged within a family)"
            )
    return steps


def preflight_upgrade(
    env: Environment, target: str, *, clients: AwsSession, now: datetime | None = None
) -> UpgradePreflight:
    """Read-only: every check of upgrading ``env`` to ``target`` (see the module doc)."""
    checks: list[UpgradeCheck] = []
    kind: UpgradeKind | None = None
    today = now.date() if now else None

    current, known = _current_version(env, clients)
    checks.append(known)
    try:
        aws_rules.check_engine_version("--to", target, global_database=env.is_global)
    except RuleViolation as exc:
        checks.append(UpgradeCheck(None, "target_listed", False, exc.render()))
        return UpgradePreflight(env.name, current, target, None, tuple(checks), ())
    checks.append(UpgradeCheck(None, "target_listed", True, f"{target} is in the version table"))
    if current is None:
        return UpgradePreflight(env.name, current, target, None, tuple(checks), ())
    try:
        kind = aws_rules.check_engine_upgrade(
            "--to",
            current,
            target,
            allow_major=env.database.allow_major_upgrade,
            global_database=env.is_global,
            today=today,
        )
    except RuleViolation as exc:  # the product refuses it: no AWS answer can change that
        checks.append(UpgradeCheck(None, "upgrade_allowed", False, exc.render()))
        return UpgradePreflight(env.name, current, target, None, tuple(checks), ())
    else:
        checks.append(UpgradeCheck(None, "upgrade_allowed", True, f"a {kind.value} upgrade from {current}"))
    if env.database.engine_version != target:
        checks.append(
            UpgradeCheck(
                None,
                "environment_file_names_target",
                False,
                f"database.engine_version is {env.database.engine_version}: set it to {target} before "
                "`infra up`",
                blocking=False,
            )
        )
    if kind is UpgradeKind.NONE:
        return UpgradePreflight(
            env.name, current, target, kind, tuple(checks), tuple(upgrade_steps(env, current, target, kind))
        )

    for region in env.regions:
        checks.extend(_region_checks(env, region, current, target, clients))

    if env.is_global:
        switchover = plan_failover(
            env,
            env.secondary_regions[0],
            allow_data_loss=False,
            clients=clients,
            operation=Operation.SWITCHOVER,
            now=now,
        )
        for check in switchover.checks:
            checks.append(
                UpgradeCheck(
                    switchover.target_region,
                    f"switchover:{check.name}",
                    check.passed,
                    check.message,
                    check.blocking,
                )
            )
    steps = upgrade_steps(env, current, target, kind) if kind is not None else []
    return UpgradePreflight(env.name, current, target, kind, tuple(checks), tuple(steps))
