"""The migrator that follows the writer, under Pulumi mocks as `infra plan` runs the programs.

Every regional stack runs a migrator worker in its VPC on its own cluster, with no right but
logs and network interfaces, and a timeout the home function outlives; the home stack's
migrator function runs outside any VPC, reads exactly its set, its secret and publishes
exactly its parameter, may invoke every region's worker and describe exactly its global cluster.
"""

from __future__ import annotations

import json

import pytest

from components.lambdas import MIGRATOR_TIMEOUT_SECONDS, MIGRATOR_WORKER_TIMEOUT_SECONDS
from model import naming
from model.environment import load_environment
from orchestrator.analysis.document import Plan
from orchestrator.analysis.plan import build_plan
from tests.support.planned import arn_of, functions, home, one_function, regional, role_statements, statement

ENVIRONMENTS = ("dev", "staging", "prod", "test")
WORKER_HANDLER = "lambda_src.migrator_worker.handler.handler"
MIGRATOR_HANDLER = "lambda_src.migrator.handler.handler"


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build_plan(load_environment(name), evaluate_rules=False) for name in ENVIRONMENTS}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_regional_stack_runs_one_migrator_worker_in_its_vpc_on_its_own_cluster(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        worker = one_function(stack, WORKER_HANDLER)
        region = stack.spec.region
        assert worker.inputs["name"] == naming.function_name(env, region, "migrator-worker")
        assert worker.inputs["vpcConfig"]["subnetIds"] == stack.run.outputs["private_subnet_ids"]
        assert worker.inputs["vpcConfig"]["securityGroupIds"] == [
            stack.run.outputs["lambda_security_group_id"]
        ]
        assert worker.inputs["environment"]["variables"] == {
            "DB_HOST": stack.run.outputs["cluster_endpoint"],
            "DB_PORT": "3306",
            "REGION_NAME": region,
        }, stack.spec.name
        assert worker.inputs["timeout"] == MIGRATOR_WORKER_TIMEOUT_SECONDS
        assert stack.run.outputs["migrator_worker_function_arn"] == arn_of(stack, worker, plan.env.account_id)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_migrator_worker_role_holds_nothing_but_its_logs_and_network_interfaces(plans, env):
    for stack in regional(plans[env]):
        statements = role_statements(stack, one_function(stack, WORKER_HANDLER))
        assert [s["Sid"] for s in statements] == ["WriteOwnLogs", "ManageVpcNetworkInterfaces"], (
            stack.spec.name
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_home_stack_runs_the_migrator_function_outside_any_vpc_outliving_its_worker(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        found = functions(stack, MIGRATOR_HANDLER)
        if stack is home(plan):
            assert len(found) == 1
            assert found[0].inputs.get("vpcConfig") is None, "the migrator function must run outside the VPC"
            # The Invoke waits the worker's timeout + 5 s; the function then publishes the version.
            assert found[0].inputs["timeout"] == MIGRATOR_TIMEOUT_SECONDS
            assert MIGRATOR_TIMEOUT_SECONDS >= MIGRATOR_WORKER_TIMEOUT_SECONDS + 5 + 20
            assert MIGRATOR_TIMEOUT_SECONDS <= 900  # Lambda's maximum
        else:
            assert found == [], f"{stack.spec.name} must not migrate: the home region owns the set"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_migrator_function_knows_the_worker_of_every_region_and_connects_to_no_database(plans, env):
    plan = plans[env]
    stack = home(plan)
    migrator = one_function(stack, MIGRATOR_HANDLER)
    deployed = {
        s.spec.region: arn_of(s, one_function(s, WORKER_HANDLER), plan.env.account_id) for s in regional(plan)
    }
    assert set(deployed) == set(plan.env.regions)
    assert deployed == naming.migrator_worker_arns(plan.env)

    variables = migrator.inputs["environment"]["variables"]
    expected = {
        "DB_NAME": plan.env.database.database_name,
        "MIGRATOR_SECRET_ARN": variables["MIGRATOR_SECRET_ARN"],
        "MIGRATIONS_BUCKET": naming.migrations_bucket_name(plan.env),
        "MIGRATIONS_PREFIX": naming.migrations_prefix(plan.env),
        "VERSION_PARAMETER": naming.version_parameter_name(plan.env),
        "ENVIRONMENT": env,
        "HOME_REGION": plan.env.primary_region,
        "SQL_WORKERS": json.dumps(deployed, sort_keys=True),
        "WORKER_TIMEOUT_SECONDS": str(MIGRATOR_WORKER_TIMEOUT_SECONDS),
    }
    if plan.env.is_global:
        expected["GLOBAL_CLUSTER_ID"] = naming.global_cluster_id(env)
    assert variables == expected
    assert variables["MIGRATOR_SECRET_ARN"].split(":secret:")[1].startswith(f"aurora/{env}/users/migrator-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_migrator_role_may_do_exactly_what_the_function_calls(plans, env):
    plan = plans[env]
    stack = home(plan)
    migrator = one_function(stack, MIGRATOR_HANDLER)
    variables = migrator.inputs["environment"]["variables"]
    statements = role_statements(stack, migrator)
    sids = [
        "WriteOwnLogs",
        "ReadCredentialsSecret",
        "DecryptCredentialsSecret",
        "ReadOwnMigrationSet",
        "ListOwnMigrationSet",
        "DecryptMigrationSet",
        "PublishAppliedVersion",
        "InvokeMigratorWorkers",
    ]
    assert [s["Sid"] for s in statements] == sids + (["FindTheWriter"] if plan.env.is_global else [])

    read = statement(statements, "ReadCredentialsSecret")
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == [variables["MIGRATOR_SECRET_ARN"]]
    objects = statement(statements, "ReadOwnMigrationSet")
    assert objects["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert objects["Resource"].endswith(
        f":::{variables['MIGRATIONS_BUCKET']}/{variables['MIGRATIONS_PREFIX']}*"
    )
    publish = statement(statements, "PublishAppliedVersion")
    assert publish["Action"] == ["ssm:PutParameter"]
    assert publish["Resource"].endswith(f":parameter{variables['VERSION_PARAMETER']}")
    invoke = statement(statements, "InvokeMigratorWorkers")
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == sorted(naming.migrator_worker_arns(plan.env).values())
    if plan.env.is_global:
        describe = statement(statements, "FindTheWriter")
        assert describe["Action"] == ["rds:DescribeGlobalClusters"]
        assert describe["Resource"] == stack.run.outputs["global_cluster_arn"]
    else:
        assert not {a for s in statements for a in s["Action"] if a.startswith("rds:")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nothing_the_migrator_uses_depends_on_where_the_writer_is(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        region_fields = json.dumps(one_function(stack, WORKER_HANDLER).inputs["environment"]["variables"])
        others = [r for r in plan.env.regions if r != stack.spec.region]
        assert not [r for r in others if r in region_fields], stack.spec.name
