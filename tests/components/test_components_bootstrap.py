"""The bootstrap that follows the writer, under Pulumi mocks as `infra plan` runs the programs.

Every regional stack runs a bootstrap worker in its VPC on its own cluster, with no right but
logs and network interfaces; the home stack's bootstrap function runs outside any VPC, may
read exactly the secrets it reads, invoke every region's worker and describe exactly its
global cluster; and the deploy-time Invocation waits for the home region's worker.
"""

from __future__ import annotations

import json

import pytest

from components.lambda_function import function_archive
from components.lambdas import BOOTSTRAP_WORKER_TIMEOUT_SECONDS
from model import naming
from model.environment import load_environment
from orchestrator.analysis.document import Plan
from orchestrator.analysis.plan import build_plan
from tests.support.planned import arn_of, functions, home, one_function, regional, role_statements, statement

ENVIRONMENTS = ("dev", "staging", "prod", "test")
WORKER_HANDLER = "lambda_src.bootstrap_worker.handler.handler"
BOOTSTRAP_HANDLER = "lambda_src.bootstrap.handler.handler"
INVOCATION = "aws:lambda/invocation:Invocation"


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: build_plan(load_environment(name), evaluate_rules=False) for name in ENVIRONMENTS}


def invocation_input(plan: Plan) -> dict[str, object]:
    [run] = [r for r in home(plan).run.resources if r.type == INVOCATION]
    return json.loads(run.inputs["input"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_regional_stack_runs_one_bootstrap_worker_in_its_vpc_on_its_own_cluster(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        worker = one_function(stack, WORKER_HANDLER)
        region = stack.spec.region
        assert worker.inputs["name"] == naming.function_name(env, region, "bootstrap-worker")
        assert worker.inputs["vpcConfig"]["subnetIds"] == stack.run.outputs["private_subnet_ids"], (
            stack.spec.name
        )
        assert worker.inputs["vpcConfig"]["securityGroupIds"] == [
            stack.run.outputs["lambda_security_group_id"]
        ]
        assert worker.inputs["environment"]["variables"] == {
            "DB_HOST": stack.run.outputs["cluster_endpoint"],
            "DB_PORT": "3306",
            "REGION_NAME": region,
        }, stack.spec.name
        assert worker.inputs["timeout"] == BOOTSTRAP_WORKER_TIMEOUT_SECONDS
        assert stack.run.outputs["bootstrap_worker_function_arn"] == arn_of(
            stack, worker, plan.env.account_id
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_bootstrap_worker_role_holds_nothing_but_its_logs_and_network_interfaces(plans, env):
    for stack in regional(plans[env]):
        statements = role_statements(stack, one_function(stack, WORKER_HANDLER))
        assert [s["Sid"] for s in statements] == ["WriteOwnLogs", "ManageVpcNetworkInterfaces"], (
            stack.spec.name
        )
        actions = {a for s in statements for a in s["Action"]}
        assert not {a for a in actions if a.split(":")[0] in ("secretsmanager", "kms", "rds", "lambda")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_home_stack_runs_the_bootstrap_function_and_outside_any_vpc(plans, env):
    plan = plans[env]
    for stack in regional(plan):
        found = functions(stack, BOOTSTRAP_HANDLER)
        if stack is home(plan):
            assert len(found) == 1
            assert found[0].inputs.get("vpcConfig") is None, "the bootstrap function must run outside the VPC"
            assert found[0].inputs["timeout"] > BOOTSTRAP_WORKER_TIMEOUT_SECONDS + 5
        else:
            assert found == [], f"{stack.spec.name} must not bootstrap: the home region owns the secrets"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_bootstrap_function_knows_the_worker_of_every_region_and_connects_to_no_database(plans, env):
    plan = plans[env]
    stack = home(plan)
    bootstrap = one_function(stack, BOOTSTRAP_HANDLER)
    deployed = {
        s.spec.region: arn_of(s, one_function(s, WORKER_HANDLER), plan.env.account_id) for s in regional(plan)
    }
    assert set(deployed) == set(plan.env.regions)
    assert deployed == naming.bootstrap_worker_arns(plan.env)

    variables = bootstrap.inputs["environment"]["variables"]
    expected = {
        "MASTER_SECRET_ARN": variables["MASTER_SECRET_ARN"],
        "HOME_REGION": plan.env.primary_region,
        "SQL_WORKERS": json.dumps(deployed, sort_keys=True),
        "WORKER_TIMEOUT_SECONDS": str(BOOTSTRAP_WORKER_TIMEOUT_SECONDS),
    }
    if plan.env.is_global:
        expected["GLOBAL_CLUSTER_ID"] = naming.global_cluster_id(env)
    assert variables == expected
    assert variables["MASTER_SECRET_ARN"].split(":secret:")[1].startswith(f"aurora/{env}/master-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_bootstrap_role_may_do_exactly_what_the_function_calls(plans, env):
    plan = plans[env]
    stack = home(plan)
    bootstrap = one_function(stack, BOOTSTRAP_HANDLER)
    statements = role_statements(stack, bootstrap)
    sids = ["WriteOwnLogs", "ReadCredentialsSecret", "DecryptCredentialsSecret", "InvokeBootstrapWorkers"]
    assert [s["Sid"] for s in statements] == sids + (["FindTheWriter"] if plan.env.is_global else [])

    # the secrets it reads: the master's and every user's the Invocation names, no other
    event = invocation_input(plan)
    users = event["users"]
    assert isinstance(users, dict)
    read = statement(statements, "ReadCredentialsSecret")
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Resource"] == [
        bootstrap.inputs["environment"]["variables"]["MASTER_SECRET_ARN"],
        *users.values(),
        *([event["probe_user"]] if "probe_user" in event else []),
    ]
    invoke = statement(statements, "InvokeBootstrapWorkers")
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == sorted(naming.bootstrap_worker_arns(plan.env).values())
    if plan.env.is_global:
        describe = statement(statements, "FindTheWriter")
        assert describe["Action"] == ["rds:DescribeGlobalClusters"]
        assert describe["Resource"] == stack.run.outputs["global_cluster_arn"]
    else:
        assert not {a for s in statements for a in s["Action"] if a.startswith("rds:")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_bootstrap_runs_after_the_home_worker_and_again_when_either_code_changes(plans, env):
    plan = plans[env]
    stack = home(plan)
    [run] = [r for r in stack.run.resources if r.type == INVOCATION]
    worker = one_function(stack, WORKER_HANDLER)
    assert worker.urn in run.dependencies
    assert one_function(stack, BOOTSTRAP_HANDLER).urn in run.dependencies
    version = str(invocation_input(plan)["version"])
    assert version.split(".") == [
        function_archive("bootstrap").sha256_base64,
        function_archive("bootstrap_worker").sha256_base64,
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nothing_bootstrap_uses_depends_on_where_the_writer_is(plans, env):
    # The home stack is fed nothing but the environment file; the workers read only their own stack.
    plan = plans[env]
    assert set(home(plan).config) == {"aurora:environment"}
    for stack in regional(plan):
        region_fields = json.dumps(one_function(stack, WORKER_HANDLER).inputs["environment"]["variables"])
        others = [r for r in plan.env.regions if r != stack.spec.region]
        assert not [r for r in others if r in region_fields], stack.spec.name
