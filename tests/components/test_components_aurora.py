"""Aurora, KMS and credentials components under Pulumi mocks, as `infra plan` runs them.

These tests assert the links between stacks and resources: the secondary joins the global
cluster the primary created (through config fed from the primary's outputs), every cluster
encrypts with the key of its own region, the secret is replicated with each region's key,
and no secret value escapes into plain outputs.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml
from pulumi.runtime.mocks import MockResourceArgs

from components.aurora import AuroraCluster, AuroraClusterArgs, ClusterRole
from components.credentials import Credentials, CredentialsArgs
from components.kms import RegionalKey, RegionalKeyArgs
from model import aws_rules, naming
from model.environment import environment_path, load_environment, parse_environment
from orchestrator.analysis.document import Plan, PlannedStack
from orchestrator.analysis.mock_runtime import SECRET_MASK, PlanMocks, RecordedResource, StackRun, run_program
from orchestrator.analysis.plan import build_plan

GLOBAL = "aws:rds/globalCluster:GlobalCluster"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CLUSTER_PG = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
INSTANCE_PG = "aws:rds/parameterGroup:ParameterGroup"
KEY = "aws:kms/key:Key"
REPLICA_KEY = "aws:kms/replicaKey:ReplicaKey"
ALIAS = "aws:kms/alias:Alias"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
ROLE = "aws:iam/role:Role"
SUBNET = "aws:ec2/subnet:Subnet"
MASTER_KEYS = (
    "masterUsername",
    "masterPassword",
    "masterPasswordWo",
    "databaseName",
    "manageMasterUserPassword",
)

CREDENTIALS = "aurora:credentials:Credentials"
ENVIRONMENTS = ("dev", "staging", "prod", "test")
GLOBAL_ENVIRONMENTS = ("staging", "prod", "test")


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build_plan(load_environment(name), evaluate_rules=False) for name in ENVIRONMENTS}


def regional(plan: Plan) -> list[PlannedStack]:
    return [s for s in plan.stacks if s.spec.regional]


def primary(plan: Plan) -> PlannedStack:
    return plan.stacks[0]


def secondaries(plan: Plan) -> list[PlannedStack]:
    return [s for s in plan.stacks if s.spec.role.value == "secondary"]


def of_type(stack: PlannedStack | StackRun, typ: str) -> list[RecordedResource]:
    run = stack.run if isinstance(stack, PlannedStack) else stack
    return [r for r in run.resources if r.type == typ]


def one(stack: PlannedStack | StackRun, typ: str) -> RecordedResource:
    found = of_type(stack, typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def master_component(planned: PlannedStack) -> RecordedResource:
    """The credentials component of the master user (``<env>-master``)."""
    [component] = [
        r for r in planned.run.resources if r.type == CREDENTIALS and r.name == f"{planned.spec.env}-master"
    ]
    return component


def master_child(planned: PlannedStack, typ: str) -> RecordedResource:
    [child] = [r for r in of_type(planned, typ) if r.parent == master_component(planned).urn]
    return child


def monitoring_roles(planned: PlannedStack) -> list[RecordedResource]:
    """IAM roles RDS enhanced monitoring assumes."""
    return [
        r
        for r in of_type(planned, ROLE)
        if json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]
        == {"Service": "monitoring.rds.amazonaws.com"}
    ]


def arn_region(arn: str) -> str:
    return arn.split(":")[3]


def regional_stack_params(envs=ENVIRONMENTS):
    params = []
    for env in envs:
        for s in _STACKS[env]:
            params.append(pytest.param(env, s, id=s))
    return params


_STACKS = {
    "dev": ["dev.us-east-1"],
    "staging": ["staging.us-east-1", "staging.us-west-2"],
    "prod": ["prod.us-east-1", "prod.us-west-2", "prod.eu-west-1"],
    "test": ["test.us-east-1", "test.us-west-2"],
}
_SECONDARY_STACKS = [
    pytest.param(env, s, id=s) for env, names in _STACKS.items() if env != "dev" for s in names[1:]
]


def stack(plans: dict[str, Plan], env: str, name: str) -> PlannedStack:
    return next(s for s in plans[env].stacks if s.spec.name == name)


def test_the_stacks_under_test_are_the_environments_regional_stacks(plans):
    for env, names in _STACKS.items():
        assert [s.spec.name for s in regional(plans[env])] == names


# --- Global cluster and membership ---------------------------------------------------------------


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_only_the_primary_stack_creates_the_global_cluster(plans, env):
    plan = plans[env]

    assert len(of_type(primary(plan), GLOBAL)) == 1
    assert all(of_type(s, GLOBAL) == [] for s in secondaries(plan))


def test_regional_dev_has_no_global_cluster_and_a_standalone_cluster(plans):
    dev = primary(plans["dev"])

    assert of_type(dev, GLOBAL) == []
    assert "globalClusterIdentifier" not in one(dev, CLUSTER).inputs
    assert "global_cluster_identifier" not in dev.run.outputs


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_global_cluster_is_encrypted_aurora_mysql_with_the_explicit_version(plans, env):
    plan = plans[env]
    global_cluster = one(primary(plan), GLOBAL)

    assert global_cluster.inputs["globalClusterIdentifier"] == f"{env}-aurora-global"
    assert global_cluster.inputs["engine"] == "aurora-mysql"
    assert global_cluster.inputs["engineVersion"] == plan.env.database.engine_version
    assert global_cluster.inputs["storageEncrypted"] is True


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_primary_cluster_joins_the_global_cluster_it_creates(plans, env):
    first = primary(plans[env])
    global_cluster = one(first, GLOBAL)

    assert one(first, CLUSTER).inputs["globalClusterIdentifier"] == global_cluster.id
    assert first.run.outputs["global_cluster_identifier"] == global_cluster.id == f"{env}-aurora-global"


@pytest.mark.parametrize(("env", "name"), _SECONDARY_STACKS)
def test_secondary_cluster_joins_with_the_identifier_fed_from_the_primary_outputs(plans, env, name):
    plan = plans[env]
    fed = primary(plan).run.outputs["global_cluster_identifier"]
    secondary = stack(plans, env, name)

    assert secondary.config["aurora:globalClusterIdentifier"] == fed
    assert one(secondary, CLUSTER).inputs["globalClusterIdentifier"] == fed
    assert secondary.run.outputs["global_cluster_identifier"] == fed


@pytest.mark.parametrize(("env", "name"), _SECONDARY_STACKS)
def test_secondary_cluster_names_the_primary_region_as_its_source(plans, env, name):
    cluster = one(stack(plans, env, name), CLUSTER)

    assert cluster.inputs["sourceRegion"] == plans[env].env.primary_region


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_primary_cluster_has_no_source_region(plans, env):
    assert "sourceRegion" not in one(primary(plans[env]), CLUSTER).inputs


# --- Encryption ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_each_cluster_encrypts_with_the_key_of_its_own_region_and_stack(plans, env, name):
    planned = stack(plans, env, name)
    region = planned.spec.region
    cluster = one(planned, CLUSTER)
    key_arn = cluster.inputs["kmsKeyId"]
    # The regional key is the one aliased alias/aurora/<env>/<region> in this very stack.
    [alias] = [a for a in of_type(planned, ALIAS) if a.inputs["name"] == f"alias/aurora/{env}/{region}"]
    [regional_key] = [k for k in of_type(planned, KEY) if k.id == alias.inputs["targetKeyId"]]

    assert cluster.inputs["storageEncrypted"] is True
    assert arn_region(key_arn) == region
    assert key_arn.endswith(f":key/{regional_key.id}")
    assert regional_key.region == region
    assert regional_key.inputs["multiRegion"] is False
    assert key_arn == planned.run.outputs["kms_key_arn"]


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("dev", "prod")))
def test_cluster_key_is_not_the_multi_region_secrets_key(plans, env, name):
    planned = stack(plans, env, name)
    secrets_key = plans[env].stacks[0].run.outputs["secrets_kms_key_arn"]

    assert one(planned, CLUSTER).inputs["kmsKeyId"] != secrets_key


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_performance_insights_use_the_cluster_key(plans, env, name):
    planned = stack(plans, env, name)
    key_arn = one(planned, CLUSTER).inputs["kmsKeyId"]

    for instance in of_type(planned, INSTANCE):
        assert instance.inputs["performanceInsightsEnabled"] is True
        assert instance.inputs["performanceInsightsKmsKeyId"] == key_arn


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_customer_managed_key_rotates(plans, env):
    keys = [k for s in plans[env].stacks for k in of_type(s, KEY)]

    assert keys
    assert all(k.inputs["enableKeyRotation"] is True for k in keys)


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("dev", "prod")))
def test_key_policies_grant_no_wildcard_principal_and_stay_in_the_account_and_region(plans, env, name):
    planned = stack(plans, env, name)
    account = plans[env].env.account_id

    for key in of_type(planned, KEY) + of_type(planned, REPLICA_KEY):
        region = key.inputs.get("region", planned.spec.region)
        policy = json.loads(key.inputs["policy"])
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*", key.name
            if "AWS" in principal:
                assert principal["AWS"] == f"arn:aws:iam::{account}:root", key.name
            else:
                assert principal["Service"] in (f"logs.{region}.amazonaws.com", "cloudwatch.amazonaws.com")
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if via:
                assert all(v.endswith(f".{region}.amazonaws.com") for v in via), key.name
                assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == account


def test_cluster_key_lets_rds_use_it(plans):
    planned = primary(plans["prod"])
    [key] = [k for k in of_type(planned, KEY) if not k.inputs["multiRegion"]]

    statements = json.loads(key.inputs["policy"])["Statement"]
    via = [
        v
        for s in statements
        for v in s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])
    ]
    assert "rds.us-east-1.amazonaws.com" in via


@pytest.mark.parametrize(("env", "window"), [("prod", 30), ("staging", 30), ("dev", 7), ("test", 7)])
def test_key_deletion_window_follows_the_deletion_policy(plans, env, window):
    keys = [k for s in plans[env].stacks for k in of_type(s, KEY) + of_type(s, REPLICA_KEY)]

    assert {k.inputs["deletionWindowInDays"] for k in keys} == {window}


# --- Credentials ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), _SECONDARY_STACKS)
def test_secondary_cluster_carries_no_master_credentials(plans, env, name):
    planned = stack(plans, env, name)
    cluster = one(planned, CLUSTER)

    assert [k for k in MASTER_KEYS if k in cluster.inputs] == []
    assert of_type(planned, PASSWORD) == []
    assert of_type(planned, SECRET) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_primary_cluster_gets_the_generated_password_write_only_and_masked(plans, env):
    cluster = one(primary(plans[env]), CLUSTER)

    assert cluster.inputs["masterUsername"] == "dbadmin"
    assert cluster.inputs["databaseName"] == "app"
    assert cluster.inputs["masterPasswordWo"] == SECRET_MASK
    assert cluster.inputs["masterPasswordWoVersion"] == 1
    assert "masterPassword" not in cluster.inputs
    assert "manageMasterUserPassword" not in cluster.inputs


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_password_is_generated_and_parented_to_the_credentials_component(plans, env):
    planned = primary(plans[env])
    password = master_child(planned, PASSWORD)

    assert password.parent == master_component(planned).urn
    assert password.inputs["length"] >= 32
    assert password.inputs["special"] is True


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_secret_is_encrypted_with_the_multi_region_key_and_replicated_to_every_secondary(plans, env):
    plan = plans[env]
    first = primary(plan)
    secret = master_child(first, SECRET)
    secrets_key_arn = first.run.outputs["secrets_kms_key_arn"]
    [multi_region_key] = [k for k in of_type(first, KEY) if k.inputs["multiRegion"]]

    assert secret.inputs["name"] == f"aurora/{env}/master"
    assert secret.inputs["kmsKeyId"] == secrets_key_arn
    assert secrets_key_arn.endswith(f":key/{multi_region_key.id}")
    assert sorted(r["region"] for r in secret.inputs["replicas"]) == sorted(plan.env.secondary_regions)


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_each_secret_replica_uses_the_replica_key_of_its_region(plans, env):
    first = primary(plans[env])
    secret = master_child(first, SECRET)
    replica_keys = {k.inputs["region"]: k for k in of_type(first, REPLICA_KEY)}

    assert set(replica_keys) == set(plans[env].env.secondary_regions)
    for replica in secret.inputs["replicas"]:
        key = replica_keys[replica["region"]]
        assert arn_region(replica["kmsKeyId"]) == replica["region"]
        assert key.inputs["primaryKeyArn"] == secret.inputs["kmsKeyId"]
        assert key.region == replica["region"]


def test_secret_replicas_reference_exactly_the_replica_key_arns():
    # GIVEN a multi-region key with two replicas and credentials replicated with them
    def program() -> dict[str, Any]:
        provider = aws.Provider("aws-x-us-east-1", region="us-east-1")
        key = RegionalKey(
            "x-secrets-kms",
            RegionalKeyArgs(
                account_id="111111111111",
                region="us-east-1",
                alias="aurora/x/secrets",
                description="secrets",
                multi_region=True,
                replica_regions=("us-west-2", "eu-west-1"),
            ),
            provider,
        )
        Credentials(
            "x-master",
            CredentialsArgs(
                secret_name="aurora/x/master",
                username="dbadmin",
                kms_key_arn=key.key_arn,
                replica_kms_key_arns=key.replica_arns,
            ),
            provider,
        )
        return {"replicas": key.replica_arns, "key": key.key_arn}

    # WHEN it runs
    run = run_program(stack="x.us-east-1", account_id="111111111111", config={}, program=program)

    # THEN each replica of the secret is encrypted with that region's replica key
    secret = one(run, SECRET)
    assert {r["region"]: r["kmsKeyId"] for r in secret.inputs["replicas"]} == run.outputs["replicas"]
    assert secret.inputs["kmsKeyId"] == run.outputs["key"]
    aliases = {(a.inputs["name"], a.inputs.get("region", "us-east-1")) for a in of_type(run, ALIAS)}
    assert aliases == {("alias/aurora/x/secrets", r) for r in ("us-east-1", "us-west-2", "eu-west-1")}


def test_regional_dev_secret_has_no_replicas(plans):
    assert master_child(primary(plans["dev"]), SECRET).inputs["replicas"] == []


@pytest.mark.parametrize(("env", "days"), [("prod", 7), ("staging", 7), ("dev", 0), ("test", 0)])
def test_secret_recovery_window_follows_the_deletion_policy(plans, env, days):
    assert master_child(primary(plans[env]), SECRET).inputs["recoveryWindowInDays"] == days


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_first_secret_version_is_write_only_and_masked(plans, env):
    planned = primary(plans[env])
    versions = of_type(planned, SECRET_VERSION)
    master_version = master_child(planned, SECRET_VERSION)

    assert master_version.inputs["secretId"] == master_child(planned, SECRET).id
    for version in versions:
        assert version.inputs["secretStringWo"] == SECRET_MASK, version.name
        assert "secretString" not in version.inputs, version.name


@pytest.mark.parametrize(("env", "name"), _SECONDARY_STACKS)
def test_secondary_exports_the_replica_secret_of_its_own_region(plans, env, name):
    primary_arn = primary(plans[env]).run.outputs["master_secret_arn"]
    secondary = stack(plans, env, name)
    arn = secondary.run.outputs["master_secret_arn"]

    assert arn_region(arn) == secondary.spec.region
    assert arn.split(":", 4)[4] == primary_arn.split(":", 4)[4]


def mock_password(plan: Plan, resource: RecordedResource, stack_name: str) -> str:
    """The value the mocks generate for a RandomPassword (never printed by the plan)."""
    mocks = PlanMocks(account_id=plan.env.account_id, stack=stack_name)
    _, state = mocks.new_resource(MockResourceArgs(resource.type, resource.name, dict(resource.inputs)))
    return str(state["result"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_password_appears_in_outputs_config_or_inputs(plans, env):
    plan = plans[env]
    passwords = [
        mock_password(plan, r, s.spec.name)
        for s in plan.stacks
        for r in s.run.resources
        if r.type == PASSWORD
    ]
    assert passwords  # the plan does generate one

    for planned in plan.stacks:
        shown = json.dumps(
            {
                "outputs": planned.run.outputs,
                "config": planned.config,
                "resources": [r.to_json() for r in planned.run.resources],
            },
            default=str,
        )
        for password in passwords:
            assert password not in shown, planned.spec.name


def test_secret_outputs_are_masked_while_their_values_still_feed_later_stacks():
    def program() -> dict[str, Any]:
        return {
            "token": pulumi.Output.secret("s3cr3t-value"),
            "nested": {"a": pulumi.Output.secret("x")},
            "plain": "p",
        }

    run = run_program(stack="x.us-east-1", account_id="111111111111", config={}, program=program)

    assert run.outputs == {"token": SECRET_MASK, "nested": SECRET_MASK, "plain": "p"}
    assert run.secret_outputs == {"token", "nested"}
    assert run.raw_outputs["token"] == "s3cr3t-value"


# --- Instances ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_instance_count_class_and_version_come_from_the_environment(plans, env, name):
    planned = stack(plans, env, name)
    db = plans[env].env.database
    cluster = one(planned, CLUSTER)
    instances = of_type(planned, INSTANCE)

    assert len(instances) == db.instance_count
    for instance in instances:
        assert instance.inputs["clusterIdentifier"] == cluster.id
        assert instance.inputs["instanceClass"] == db.instance_class
        assert instance.inputs["engine"] == "aurora-mysql"
        assert "engineVersion" not in instance.inputs  # instances run their cluster's version
        assert instance.inputs["publiclyAccessible"] is False
        assert instance.inputs["dbSubnetGroupName"] == cluster.inputs["dbSubnetGroupName"]
    assert cluster.inputs["engineVersion"] == db.engine_version


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("prod", "staging")))
def test_protected_clusters_spread_their_instances_across_the_network_azs(plans, env, name):
    planned = stack(plans, env, name)
    subnet_zones = {s.inputs["availabilityZone"] for s in of_type(planned, SUBNET)}
    zones = [i.inputs["availabilityZone"] for i in of_type(planned, INSTANCE)]

    assert len(zones) >= 2
    assert len(set(zones)) == len(zones)
    assert set(zones) <= subnet_zones


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("prod",)))
def test_instance_identifiers_number_the_cluster_identifier_writer_first(plans, env, name):
    planned = stack(plans, env, name)
    cluster_id = one(planned, CLUSTER).inputs["clusterIdentifier"]
    instances = sorted(of_type(planned, INSTANCE), key=lambda i: i.inputs["promotionTier"])

    assert [i.inputs["identifier"] for i in instances] == [f"{cluster_id}-1", f"{cluster_id}-2"]
    assert [i.inputs["promotionTier"] for i in instances] == [0, 1]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_and_instance_identifiers_are_unique_across_all_regions(plans, env):
    clusters = [one(s, CLUSTER).inputs["clusterIdentifier"] for s in regional(plans[env])]
    instances = [i.inputs["identifier"] for s in regional(plans[env]) for i in of_type(s, INSTANCE)]

    assert len(set(clusters)) == len(clusters) == len(plans[env].env.regions)
    assert len(set(instances)) == len(instances)
    for identifier in clusters + instances:
        aws_rules.check_db_identifier("identifier", identifier)


def test_short_region_codes_never_collide_so_identifiers_stay_unique():
    codes = {naming.short_region(region) for region in aws_rules.AWS_REGIONS}

    assert len(codes) == len(aws_rules.AWS_REGIONS)
    longest_env = "e" * 20
    for region in aws_rules.AWS_REGIONS:
        naming.final_snapshot_id(longest_env, region)
        naming.instance_id(longest_env, region, 15)
        naming.group_name(longest_env, region, "cluster")


def test_members_do_not_upgrade_minor_versions_on_their_own_but_regional_clusters_do(plans):
    assert all(
        i.inputs["autoMinorVersionUpgrade"] is False
        for s in regional(plans["prod"])
        for i in of_type(s, INSTANCE)
    )
    assert all(i.inputs["autoMinorVersionUpgrade"] is True for i in of_type(primary(plans["dev"]), INSTANCE))


# --- Deletion semantics ---------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("prod", "staging")))
def test_protected_clusters_keep_deletion_protection_and_a_deterministic_final_snapshot(plans, env, name):
    planned = stack(plans, env, name)
    cluster = one(planned, CLUSTER)
    short = naming.short_region(planned.spec.region)

    assert cluster.inputs["deletionProtection"] is True
    assert cluster.inputs["skipFinalSnapshot"] is False
    assert cluster.inputs["finalSnapshotIdentifier"] == f"{env}-aurora-{short}-final"


def test_prod_primary_final_snapshot_is_named_prod_aurora_use1_final(plans):
    assert one(primary(plans["prod"]), CLUSTER).inputs["finalSnapshotIdentifier"] == "prod-aurora-use1-final"


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("dev", "test")))
def test_ephemeral_clusters_can_be_destroyed_without_a_snapshot(plans, env, name):
    cluster = one(stack(plans, env, name), CLUSTER)

    assert cluster.inputs["deletionProtection"] is False
    assert cluster.inputs["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in cluster.inputs


@pytest.mark.parametrize(
    ("env", "protection", "force_destroy"),
    [("prod", True, False), ("staging", True, False), ("test", False, True)],
)
def test_global_cluster_deletion_follows_the_deletion_policy(plans, env, protection, force_destroy):
    global_cluster = one(primary(plans[env]), GLOBAL)

    assert global_cluster.inputs["deletionProtection"] is protection
    assert global_cluster.inputs["forceDestroy"] is force_destroy


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_cluster_sets_both_skip_final_snapshot_and_a_final_snapshot_identifier(plans, env):
    for planned in regional(plans[env]):
        cluster = one(planned, CLUSTER)
        assert cluster.inputs["skipFinalSnapshot"] != bool(cluster.inputs.get("finalSnapshotIdentifier"))


# --- Backtrack ------------------------------------------------------------------------------------


def test_regional_dev_cluster_has_a_24_hour_backtrack_window(plans):
    assert one(primary(plans["dev"]), CLUSTER).inputs["backtrackWindow"] == 86400


@pytest.mark.parametrize(("env", "name"), regional_stack_params(GLOBAL_ENVIRONMENTS))
def test_global_database_members_have_no_backtrack(plans, env, name):
    assert not one(stack(plans, env, name), CLUSTER).inputs.get("backtrackWindow")


# --- Engine, parameter groups, operations settings ------------------------------------------------


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_cluster_states_engine_and_version_explicitly(plans, env, name):
    cluster = one(stack(plans, env, name), CLUSTER)

    assert cluster.inputs["engine"] == "aurora-mysql"
    assert cluster.inputs["engineVersion"] == plans[env].env.database.engine_version
    assert cluster.inputs["engineMode"] == "provisioned"


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_cluster_parameter_group_requires_tls_for_the_engine_family(plans, env, name):
    planned = stack(plans, env, name)
    group = one(planned, CLUSTER_PG)
    parameters = {p["name"]: p["value"] for p in group.inputs["parameters"]}

    assert group.inputs["family"] == "aurora-mysql8.0"
    assert parameters["require_secure_transport"] == "ON"
    assert one(planned, CLUSTER).inputs["dbClusterParameterGroupName"] == group.inputs["name"]


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_instances_use_the_instance_parameter_group_of_the_same_family(plans, env, name):
    planned = stack(plans, env, name)
    group = one(planned, INSTANCE_PG)

    assert group.inputs["family"] == "aurora-mysql8.0"
    assert {i.inputs["dbParameterGroupName"] for i in of_type(planned, INSTANCE)} == {group.inputs["name"]}


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_backups_logs_and_snapshot_tags_come_from_the_environment(plans, env, name):
    db = plans[env].env.database
    cluster = one(stack(plans, env, name), CLUSTER)

    assert cluster.inputs["backupRetentionPeriod"] == db.backup_retention_days
    assert cluster.inputs["preferredBackupWindow"] == db.backup_window
    assert cluster.inputs["preferredMaintenanceWindow"] == db.maintenance_window
    assert cluster.inputs["enabledCloudwatchLogsExports"] == list(db.log_exports)
    assert cluster.inputs["copyTagsToSnapshot"] is True


def test_enhanced_monitoring_role_is_created_and_used_only_when_enabled(plans):
    prod_primary = primary(plans["prod"])
    [role] = monitoring_roles(prod_primary)

    assert role.inputs["managedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    ]
    for instance in of_type(prod_primary, INSTANCE):
        assert instance.inputs["monitoringInterval"] == 60
        assert instance.inputs["monitoringRoleArn"].startswith("arn:aws:iam::333333333333:role/")
    dev_instances = of_type(primary(plans["dev"]), INSTANCE)
    assert monitoring_roles(primary(plans["dev"])) == []
    assert all(
        i.inputs["monitoringInterval"] == 0 and "monitoringRoleArn" not in i.inputs for i in dev_instances
    )


# --- Component structure, tags and outputs --------------------------------------------------------


@pytest.mark.parametrize(("env", "name"), regional_stack_params(("dev", "prod")))
def test_component_children_are_parented_to_their_component_and_named_after_it(plans, env, name):
    planned = stack(plans, env, name)
    components = {r.urn: r for r in planned.run.resources if not r.custom}
    by_type = {c.type for c in components.values()}

    assert {"aurora:database:AuroraCluster", "aurora:kms:RegionalKey"} <= by_type
    for r in planned.run.resources:
        if r.parent in components:
            assert r.name.startswith(components[r.parent].name + "-"), r.name
    for typ in (CLUSTER, INSTANCE, CLUSTER_PG, INSTANCE_PG):
        for r in of_type(planned, typ):
            assert components[r.parent].type == "aurora:database:AuroraCluster", r.name
    # The global cluster is the home stack's own, at its root (it moves with `infra rehome`),
    # named after the secrets' region and aliased to where earlier versions kept it.
    for r in of_type(planned, GLOBAL):
        assert r.parent not in components, r.name
    for r in monitoring_roles(planned):
        assert components[r.parent].type == "aurora:database:AuroraCluster", r.name
    for typ in (KEY, REPLICA_KEY, ALIAS):
        for r in of_type(planned, typ):
            assert components[r.parent].type == "aurora:kms:RegionalKey", r.name
    for typ in (SECRET, SECRET_VERSION, PASSWORD):
        for r in of_type(planned, typ):
            assert components[r.parent].type == CREDENTIALS, r.name


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_cluster_and_instances_carry_name_and_role_tags(plans, env, name):
    planned = stack(plans, env, name)
    cluster = one(planned, CLUSTER)
    expected_role = "regional" if not plans[env].env.is_global else planned.spec.role.value

    assert cluster.inputs["tags"] == {
        "Name": cluster.inputs["clusterIdentifier"],
        "AuroraRole": expected_role,
    }
    for instance in of_type(planned, INSTANCE):
        assert instance.inputs["tags"]["Name"] == instance.inputs["identifier"]


REGIONAL_OUTPUTS = (
    "cluster_arn", "cluster_identifier", "cluster_endpoint", "reader_endpoint", "port",
    "master_secret_arn", "kms_key_arn",
    "db_security_group_id", "lambda_security_group_id", "app_security_group_id",
)  # fmt: skip


@pytest.mark.parametrize(("env", "name"), regional_stack_params())
def test_regional_outputs_are_plain_strings_for_other_stacks_and_applications(plans, env, name):
    planned = stack(plans, env, name)
    outputs = planned.run.outputs
    cluster = one(planned, CLUSTER)

    assert set(REGIONAL_OUTPUTS) <= set(outputs)
    assert outputs["port"] == 3306
    for key in set(REGIONAL_OUTPUTS) - {"port"}:
        assert isinstance(outputs[key], str) and outputs[key], key
    assert outputs["cluster_identifier"] == cluster.inputs["clusterIdentifier"]
    assert arn_region(outputs["cluster_arn"]) == planned.spec.region
    assert outputs["cluster_endpoint"].endswith(f".{planned.spec.region}.rds.amazonaws.com")
    assert outputs["reader_endpoint"] != outputs["cluster_endpoint"]
    assert outputs["kms_key_arn"] == cluster.inputs["kmsKeyId"]
    assert planned.run.secret_outputs == set()


@pytest.mark.parametrize("env", GLOBAL_ENVIRONMENTS)
def test_primary_exports_the_global_cluster_and_its_writer_endpoint(plans, env):
    outputs = primary(plans[env]).run.outputs

    assert outputs["global_cluster_arn"].startswith("arn:aws:rds::")
    assert isinstance(outputs["global_writer_endpoint"], str)
    assert outputs["global_writer_endpoint"].startswith(outputs["global_cluster_identifier"] + ".")


# --- Component invariants -------------------------------------------------------------------------


def aurora_args(**overrides: Any) -> AuroraClusterArgs:
    values: dict[str, Any] = {
        "role": ClusterRole.REGIONAL,
        "cluster_identifier": "x-aurora-use1",
        "instance_identifiers": ["x-aurora-use1-1"],
        "availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "engine_version": "8.0.mysql_aurora.3.10.3",
        "instance_class": "db.r6g.large",
        "kms_key_arn": "arn:aws:kms:us-east-1:111111111111:key/k",
        "subnet_group_name": "x-db",
        "security_group_ids": ["sg-1"],
        "parameter_group_prefix": "x-aurora-use1",
        "protected": False,
        "master_username": "dbadmin",
        "master_password": "not-a-real-password",
        "database_name": "app",
    }
    values.update(overrides)
    return AuroraClusterArgs(**values)


def build_cluster(args: AuroraClusterArgs) -> StackRun:
    def program() -> dict[str, Any]:
        provider = aws.Provider("aws-x-us-east-1", region="us-east-1")
        AuroraCluster("x-use1-aurora", args, provider)
        return {}

    return run_program(stack="x.us-east-1", account_id="111111111111", config={}, program=program)


def test_a_valid_regional_cluster_builds():
    run = build_cluster(aurora_args(backtrack_hours=24))

    assert one(run, CLUSTER).inputs["backtrackWindow"] == 86400


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"role": ClusterRole.SECONDARY, "global_cluster_identifier": "g", "source_region": "us-west-2"},
            "carries no master username, password or database name",
        ),
        (
            {
                "role": ClusterRole.SECONDARY,
                "master_username": None,
                "master_password": None,
                "database_name": None,
            },
            "needs global_cluster_identifier",
        ),
        ({"role": ClusterRole.PRIMARY}, "needs global_cluster_identifier"),
        ({"master_password": None}, "needs master_username and master_password"),
        ({"role": ClusterRole.PRIMARY, "global_cluster_identifier": "g", "backtrack_hours": 24}, "backtrack"),
        ({"protected": True}, "needs final_snapshot_identifier"),
        ({"instance_identifiers": []}, "at least one instance"),
    ],
    ids=[
        "secondary-with-credentials",
        "secondary-without-global-id",
        "primary-without-global-id",
        "regional-without-password",
        "backtrack-on-member",
        "protected-without-final-snapshot",
        "no-instances",
    ],
)
def test_cluster_component_refuses_combinations_aws_would_reject(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_cluster(aurora_args(**overrides))


# --- engine upgrades ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upgraded_prod() -> tuple[Plan, dict[str, list[str]]]:
    """prod's plan after `database.engine_version` moves to 8.4, with every resource's ignore_changes."""
    import components.aurora as aurora_module

    data = yaml.safe_load(environment_path("prod").read_text())
    data["database"].update(engine_version="8.4.mysql_aurora.8.4.7", allow_major_upgrade=True)
    env = parse_environment(data, path="prod-8.4.yaml")
    ignored: dict[str, list[str]] = {}
    original = aurora_module.child_opts

    def recording(parent: Any, provider: Any, **kwargs: Any) -> pulumi.ResourceOptions:
        opts = original(parent, provider, **kwargs)
        ignored.setdefault("pending", []).append(",".join(kwargs.get("ignore_changes") or []))  # type: ignore[arg-type]
        return opts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aurora_module, "child_opts", recording)
        plan = build_plan(env, evaluate_rules=False)
    return plan, ignored


def test_an_upgrade_to_8_4_plans_parameter_groups_of_the_new_family_named_for_it_in_every_region(
    upgraded_prod,
):
    plan, _ = upgraded_prod

    for stack in regional(plan):
        groups = of_type(stack, CLUSTER_PG) + of_type(stack, INSTANCE_PG)
        assert {g.inputs["family"] for g in groups} == {"aurora-mysql8.4"}, stack.spec.name
        assert all(g.inputs["name"].endswith("-mysql84") for g in groups)
        cluster = one(stack, CLUSTER)
        assert cluster.inputs["dbClusterParameterGroupName"] == one(stack, CLUSTER_PG).inputs["name"]
        assert cluster.inputs["allowMajorVersionUpgrade"] is True
        assert cluster.inputs["engineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
        for instance in of_type(stack, INSTANCE):
            assert "engineVersion" not in instance.inputs
            assert instance.inputs["dbParameterGroupName"] == one(stack, INSTANCE_PG).inputs["name"]
    assert one(primary(plan), GLOBAL).inputs["engineVersion"] == "8.4.mysql_aurora.8.4.7"
    assert "engineLifecycleSupport" not in one(primary(plan), GLOBAL).inputs  # PostgreSQL only


def test_member_clusters_and_instances_ignore_the_engine_version_the_global_cluster_sets(upgraded_prod):
    _, ignored = upgraded_prod

    member_cluster = (
        "globalClusterIdentifier,replicationSourceIdentifier,sourceRegion,engineVersion,"
        "masterUsername,databaseName,masterPasswordWo,masterPasswordWoVersion"
    )
    # one AuroraCluster per region: 2 groups, cluster, 2 instances each
    assert ignored["pending"].count(member_cluster) == 3
    assert ignored["pending"].count("engineVersion") == 3 * 2


def test_today_s_environments_name_their_8_0_groups_by_family(plans):
    for name, plan in plans.items():
        for stack in regional(plan):
            assert one(stack, CLUSTER_PG).inputs["name"].endswith("-cluster-mysql80"), name
            assert one(stack, INSTANCE_PG).inputs["name"].endswith("-instance-mysql80"), name
