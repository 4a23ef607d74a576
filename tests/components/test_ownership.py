"""Ownership and the secrets' region (DESIGN.md "Ownership and the writer"): what the home stack
declares, where it lives, and which stack acts on the secrets, before and after `infra rehome`."""

from __future__ import annotations

import json

import pytest

from model.environment import ENVIRONMENTS_DIR, EnvironmentFileError, load_environment, parse_environment
from model.topology import config_key, stack_by_name, stack_config
from orchestrator.analysis.document import plan_document
from orchestrator.analysis.plan import build_plan
from tests.support.graphs import planned
from tests.support.planned import FUNCTION, role_statements
from tests.support.rehomed import rehomed, rehomed_plan

HOME, NEW_HOME, OTHER = "us-east-1", "eu-west-1", "us-west-2"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
OWNED_TYPES = {
    "aws:kms/key:Key",
    "aws:kms/replicaKey:ReplicaKey",
    "aws:secretsmanager/secret:Secret",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:rds/globalCluster:GlobalCluster",
}


def provider_of(resource) -> str:
    return str(resource.provider or "").rpartition("::")[2]


def owned_in(stack):
    """The owned resources a stack declares (its own regional key is not one of them)."""
    short = {"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1"}[stack.spec.region]
    return [
        r for r in stack.run.resources if r.type in OWNED_TYPES and not r.name.startswith(f"prod-{short}-kms")
    ]


def stacks_by_region(plan):
    return {s.spec.region: s for s in plan.stacks if s.spec.regional}


def test_a_rehomed_environment_plans_without_findings_and_keeps_the_region_order() -> None:
    plan = rehomed_plan("prod", NEW_HOME)
    assert plan.env.primary_region == NEW_HOME and plan.env.secrets_home == HOME
    document = plan_document(plan)
    assert list(document)[:6] == [
        "format_version", "env", "account_id", "primary_region", "secondary_regions", "secrets_region"
    ]  # fmt: skip
    assert document["secrets_region"] == HOME
    assert "secrets_region" not in plan_document(planned("prod"))
    assert plan.env.region_order == load_environment("prod").region_order == (HOME, OTHER, NEW_HOME)
    assert [f.message for f in plan.findings] == []


def test_the_new_home_declares_what_it_owns_through_the_secrets_regions_provider() -> None:
    stacks = stacks_by_region(rehomed_plan("prod", NEW_HOME))
    owned = owned_in(stacks[NEW_HOME])
    assert {r.type for r in owned} == OWNED_TYPES
    # Every owned resource stays where it physically is: the old home's provider and names.
    assert {provider_of(r) for r in owned} == {"aws-prod-us-east-1"}
    [cluster] = [r for r in owned if r.type == "aws:rds/globalCluster:GlobalCluster"]
    assert cluster.name == "prod-use1-aurora-global" and cluster.parent is None
    [key] = [r for r in owned if r.type == "aws:kms/key:Key"]
    assert key.region == HOME
    replicas = sorted(r.region for r in owned if r.type == "aws:kms/replicaKey:ReplicaKey")
    assert replicas == sorted([OTHER, NEW_HOME])  # every region but the secrets' own
    # No other stack declares an owned resource.
    for region in (HOME, OTHER):
        assert not [r.name for r in owned_in(stacks[region])], region


def test_rotation_bootstrap_and_migrator_stay_in_the_secrets_regions_stack_after_rehome() -> None:
    plan = rehomed_plan("prod", NEW_HOME)
    stacks = stacks_by_region(plan)
    holder = stacks[HOME]  # a secondary now
    assert holder.spec.role.value == "secondary"
    names = {str(r.inputs["name"]) for r in holder.run.resources if r.type == FUNCTION}
    assert {"prod-aurora-use1-rotation", "prod-aurora-use1-bootstrap", "prod-aurora-use1-migrator"} <= names
    schedules = sorted(r.name for r in holder.run.resources if r.type == ROTATION)
    assert schedules == sorted(
        f"prod-use1-lambdas-rotation-{role}schedule"
        for role in ("", "app-", "migrator-", "probe-", "readonly-")
    )
    # They rotate the secrets' primaries (AWS: the rotation function is in the secret's region),
    # whose ARNs the home stack feeds.
    home_outputs = stacks[NEW_HOME].run.outputs
    rotated = {str(r.inputs["secretId"]) for r in holder.run.resources if r.type == ROTATION}
    assert rotated == {str(home_outputs["master_secret_arn"]), *map(str, home_outputs["user_secret_arns"].values()),
                       str(home_outputs["probe_secret_arn"])}  # fmt: skip
    assert all(arn.startswith(f"arn:aws:secretsmanager:{HOME}:") for arn in rotated)
    # Nowhere else.
    for region in (NEW_HOME, OTHER):
        assert not [r for r in stacks[region].run.resources if r.type == ROTATION], region
    rotation = next(
        r for r in holder.run.resources if r.type == FUNCTION and r.inputs["name"].endswith("-rotation")
    )
    keys = next(
        s for s in role_statements(holder, rotation) if s["Sid"] == "EncryptSecretVersionsAndReplicas"
    )
    assert keys["Resource"][0] == home_outputs["secrets_kms_key_arn"]
    assert sorted(keys["Resource"][1:]) == sorted(home_outputs["secrets_kms_replica_arns"].values())


def test_the_new_homes_functions_read_the_secret_replica_of_their_own_region() -> None:
    stacks = stacks_by_region(rehomed_plan("prod", NEW_HOME))
    health = next(
        r
        for r in stacks[NEW_HOME].run.resources
        if r.type == FUNCTION and r.inputs["name"].endswith("-health")
    )
    assert health.inputs["environment"]["variables"]["SECRET_ARN"].startswith(
        f"arn:aws:secretsmanager:{NEW_HOME}:"
    )


@pytest.mark.parametrize("homes", [(NEW_HOME,), (NEW_HOME, OTHER)], ids=["once", "twice"])
def test_planning_a_rehomed_environment_with_the_writer_anywhere_changes_nothing(homes) -> None:
    env = rehomed("prod", *homes)
    plain = plan_document(build_plan(env))

    def shape(doc):
        return sorted(
            [s["name"], r["type"], r["name"], json.dumps(r["inputs"], sort_keys=True)]
            for s in doc["stacks"]
            for r in s["resources"]
        )

    for region in env.regions:
        assert shape(plan_document(build_plan(env, writer_region=region))) == shape(plain), region


def test_only_the_secondary_holding_the_secrets_is_fed_what_it_rotates_with() -> None:
    env = rehomed("prod", NEW_HOME)
    home_outputs = stacks_by_region(rehomed_plan("prod", NEW_HOME))[NEW_HOME].run.outputs
    upstream = {f"prod.{NEW_HOME}": home_outputs}
    holder = stack_config(env, stack_by_name(env, f"prod.{HOME}"), upstream)
    other = stack_config(env, stack_by_name(env, f"prod.{OTHER}"), upstream)
    for key in ("secretsKmsKeyArn", "userSecretArns", "probeSecretArn", "globalClusterArn"):
        assert holder[config_key(key)] == home_outputs[
            {"secretsKmsKeyArn": "secrets_kms_key_arn", "userSecretArns": "user_secret_arns",
             "probeSecretArn": "probe_secret_arn", "globalClusterArn": "global_cluster_arn"}[key]
        ]  # fmt: skip
    assert config_key("userSecretArns") not in other and config_key("secretsKmsKeyArn") not in other
    # A checked-in environment (secrets in the home region) feeds no secondary these keys.
    prod = load_environment("prod")
    plain_outputs = stacks_by_region(planned("prod"))[HOME].run.outputs
    for region in prod.secondary_regions:
        config = stack_config(prod, stack_by_name(prod, f"prod.{region}"), {f"prod.{HOME}": plain_outputs})
        assert config_key("userSecretArns") not in config, region


def test_secrets_region_outside_the_environment_is_refused_naming_field_rule_value_and_fix() -> None:
    data = load_environment("prod").model_dump(mode="json", exclude_none=True)
    data["secrets_region"] = "ap-south-1"
    with pytest.raises(EnvironmentFileError) as caught:
        parse_environment(data, path="prod.yaml")
    message = str(caught.value)
    assert "secrets_region" in message and "ap-south-1" in message
    assert "must be one of the environment's regions" in message and "same Region" in message
    data["secrets_region"] = "eu-west-1x"
    with pytest.raises(EnvironmentFileError, match="secrets_region"):
        parse_environment(data, path="prod.yaml")


def test_a_file_without_secrets_region_keeps_its_exact_definition_in_stack_config() -> None:
    prod = load_environment("prod")
    assert "secrets_region" not in json.loads(prod.to_config_json())
    assert json.loads(rehomed("prod", NEW_HOME).to_config_json())["secrets_region"] == HOME
    assert (ENVIRONMENTS_DIR / "prod.yaml").read_text().count("secrets_region") == 0
