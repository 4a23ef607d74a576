"""Rotation that follows the writer, under Pulumi mocks as `infra plan` runs the programs.

The rotation function (home region) runs outside any VPC and may invoke the rotation SQL
worker of every region; each regional stack runs one worker in its VPC with no right but
logs and network interfaces; the rotation role may encrypt with the home key and every
replica key; and nothing the rotation needs comes from where the writer is now.
"""

from __future__ import annotations

import json

import pytest

from model import naming
from model.environment import load_environment
from orchestrator.analysis.document import Plan
from orchestrator.analysis.plan import build_plan
from tests.support.planned import arn_of, functions, home, one_function, regional, role_statements, statement

SECRET = "aws:secretsmanager/secret:Secret"
ENVIRONMENTS = ("dev", "staging", "prod", "test")
WORKER_HANDLER = "lambda_src.rotation_sql.handler.handler"
ROTATION_HANDLER = "lambda_src.rotation.handler.handler"


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build_plan(load_environment(name), evaluate_rules=False) for name in ENVIRONMENTS}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_regional_stack_runs_one_rotation_sql_worker_in_its_vpc_on_its_own_cluster(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        worker = one_function(stack, WORKER_HANDLER)
        region = stack.spec.region
        assert worker.inputs["name"] == naming.function_name(env, region, "rotation-sql")
        assert worker.inputs["vpcConfig"]["subnetIds"] == stack.run.outputs["private_subnet_ids"], (
            stack.spec.name
        )
        assert worker.inputs["vpcConfig"]["securityGroupIds"] == [
            stack.run.outputs["lambda_security_group_id"]
        ]
        variables = worker.inputs["environment"]["variables"]
        assert variables == {
            "DB_HOST": stack.run.outputs["cluster_endpoint"],
            "DB_PORT": "3306",
            "REGION_NAME": region,
        }, stack.spec.name
        assert stack.run.outputs["rotation_sql_function_arn"] == arn_of(stack, worker, plan.env.account_id)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_worker_role_holds_nothing_but_its_logs_and_network_interfaces(plans, env):
    for stack in regional(plans[env]):
        worker = one_function(stack, WORKER_HANDLER)
        statements = role_statements(stack, worker)
        assert [s["Sid"] for s in statements] == ["WriteOwnLogs", "ManageVpcNetworkInterfaces"], (
            stack.spec.name
        )
        actions = {a for s in statements for a in s["Action"]}
        assert not {a for a in actions if a.split(":")[0] in ("secretsmanager", "kms", "rds", "lambda")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_home_stack_runs_the_rotation_function_and_outside_any_vpc(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        found = functions(stack, ROTATION_HANDLER)
        if stack is home(plan):
            assert len(found) == 1
            assert found[0].inputs.get("vpcConfig") is None, "the rotation function must run outside the VPC"
        else:
            assert found == [], f"{stack.spec.name} must not rotate: the home region owns the secrets"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_rotation_function_knows_and_may_invoke_the_worker_of_every_region(plans, env):
    plan = plans[env]
    stack = home(plan)
    rotation = one_function(stack, ROTATION_HANDLER)
    deployed = {
        s.spec.region: arn_of(s, one_function(s, WORKER_HANDLER), plan.env.account_id) for s in regional(plan)
    }
    assert set(deployed) == set(plan.env.regions)

    variables = rotation.inputs["environment"]["variables"]
    assert json.loads(variables["SQL_WORKERS"]) == deployed
    assert variables["HOME_REGION"] == plan.env.primary_region
    assert variables["WORKER_TIMEOUT_SECONDS"] == str(
        int(one_function(stack, WORKER_HANDLER).inputs["timeout"])
    )
    invoke = statement(role_statements(stack, rotation), "InvokeRotationSqlWorkers")
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == sorted(deployed.values())


@pytest.mark.parametrize("env", ("staging", "prod", "test"))
def test_a_global_rotation_function_may_describe_exactly_its_global_cluster(plans, env):
    plan = plans[env]
    stack = home(plan)
    rotation = one_function(stack, ROTATION_HANDLER)
    describe = statement(role_statements(stack, rotation), "FindTheWriter")
    assert describe["Action"] == ["rds:DescribeGlobalClusters"]
    assert describe["Resource"] == stack.run.outputs["global_cluster_arn"]
    assert rotation.inputs["environment"]["variables"]["GLOBAL_CLUSTER_ID"] == naming.global_cluster_id(env)


def test_a_regional_rotation_function_asks_rds_nothing():
    plan = build_plan(load_environment("dev"), evaluate_rules=False)
    stack = home(plan)
    rotation = one_function(stack, ROTATION_HANDLER)
    assert "GLOBAL_CLUSTER_ID" not in rotation.inputs["environment"]["variables"]
    actions = {a for s in role_statements(stack, rotation) for a in s["Action"]}
    assert not {a for a in actions if a.startswith("rds:")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_rotation_role_may_encrypt_with_every_key_of_every_secret_it_rotates(plans, env):
    plan = plans[env]
    stack = home(plan)
    rotation = one_function(stack, ROTATION_HANDLER)
    kms = statement(role_statements(stack, rotation), "EncryptSecretVersionsAndReplicas")
    assert kms["Action"] == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    secrets = [r for r in stack.run.resources if r.type == SECRET]
    # master, the three application users and, when automated, the failover probe's user
    assert len(secrets) == 4 + plan.env.failover.automated
    for secret in secrets:
        keys = {secret.inputs["kmsKeyId"], *(r["kmsKeyId"] for r in secret.inputs.get("replicas") or [])}
        assert keys <= set(kms["Resource"]), secret.name
        assert {r["region"] for r in secret.inputs.get("replicas") or []} == set(plan.env.secondary_regions)
    assert len(kms["Resource"]) == len(plan.env.regions)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nothing_rotation_uses_depends_on_where_the_writer_is(plans, env):
    # The home stack is fed nothing but the environment file, so no runtime fact (such as the
    # writer's region) can reach the rotation function; the workers read only their own stack.
    plan = plans[env]
    assert set(home(plan).config) == {"aurora:environment"}
    rotation = one_function(home(plan), ROTATION_HANDLER)
    assert json.loads(
        rotation.inputs["environment"]["variables"]["SQL_WORKERS"]
    ) == naming.rotation_sql_worker_arns(plan.env)
    for stack in regional(plan):
        worker = one_function(stack, WORKER_HANDLER)
        region_fields = json.dumps(worker.inputs["environment"]["variables"])
        others = [r for r in plan.env.regions if r != stack.spec.region]
        assert not [r for r in others if r in region_fields], stack.spec.name
