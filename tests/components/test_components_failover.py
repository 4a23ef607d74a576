"""The automated failover of one region under Pulumi mocks: RegionFailover instantiated directly.

The probe runs in the region's VPC, the decider outside any VPC; both are started every
minute by their own region's schedule; their environment is the handlers' contract (JSON
maps for every region, the timing the plan reports); their roles hold exactly the calls the
code makes, on the listed resources.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi_aws as aws
import pytest

from components.failover import RegionFailover, RegionFailoverArgs
from lambda_src.failover.config import load_settings as load_decider_settings
from lambda_src.probe.handler import load_settings as load_probe_settings
from model import naming
from model.environment import load_environment
from orchestrator.analysis.mock_runtime import RecordedResource, StackRun, run_program
from orchestrator.analysis.rto import failover_timing

FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ACCOUNT = "111111111111"
REGION = "us-west-2"


def env_for(dry_run: bool = True):
    env = load_environment("prod")
    return env.model_copy(
        update={"failover": env.failover.model_copy(update={"automated": True, "dry_run": dry_run})}
    )


def arns(env) -> dict[str, Any]:
    def short(r: str) -> str:
        return naming.short_region(r)

    return {
        "endpoints": {r: f"prod-aurora-{short(r)}.cluster-abc.{r}.rds.amazonaws.com" for r in env.regions},
        "clusters": {r: f"arn:aws:rds:{r}:{ACCOUNT}:cluster:prod-aurora-{short(r)}" for r in env.regions},
        "tables": {
            r: f"arn:aws:dynamodb:{r}:{ACCOUNT}:table/{naming.failover_table_name('prod', r)}"
            for r in env.regions
        },
    }


GLOBAL_ARN = f"arn:aws:rds::{ACCOUNT}:global-cluster:prod-aurora-global"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:aurora/prod/users/probe-a1b2c3"
SECRETS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-secrets"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:prod-aurora-usw2-alarms"


def deploy(env, **overrides: Any) -> StackRun:
    a = arns(env)
    fields: dict[str, Any] = {
        "region": REGION,
        "kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/data",
        "layer_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:deps:1",
        "private_subnet_ids": ["subnet-0a", "subnet-0b"],
        "lambda_security_group_id": "sg-0lambda",
        "cluster_endpoints": a["endpoints"],
        "local_reader_endpoint": f"prod-aurora-usw2.cluster-ro-abc.{REGION}.rds.amazonaws.com",
        "cluster_arns": a["clusters"],
        "global_cluster_arn": GLOBAL_ARN,
        "failover_table_arns": a["tables"],
        "probe_secret_arn": SECRET_ARN,
        "secrets_kms_key_arn": SECRETS_KEY,
        "notify_topic_arn": TOPIC,
        "port": 3306,
        **overrides,
    }

    def program() -> dict[str, Any]:
        provider = aws.Provider(f"aws-prod-{REGION}", region=REGION)
        failover = RegionFailover("prod-usw2-failover", env, RegionFailoverArgs(**fields), provider)
        return failover.outputs()

    return run_program(stack="prod.failover", account_id=ACCOUNT, config={}, program=program)


@pytest.fixture(scope="module")
def run() -> StackRun:
    return deploy(env_for())


def function(run: StackRun, purpose: str) -> RecordedResource:
    name = naming.function_name("prod", REGION, purpose)
    [found] = [r for r in run.resources if r.type == FUNCTION and r.inputs["name"] == name]
    return found


def statements(run: StackRun, purpose: str) -> list[dict[str, Any]]:
    prefix = "prod-usw2-failover-" + ("probe" if purpose == naming.FAILOVER_PROBE else "decider")
    [policy] = [r for r in run.resources if r.type == ROLE_POLICY and r.name == f"{prefix}-policy"]
    return [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] != "WriteOwnLogs"]


def variables(fn: RecordedResource) -> dict[str, str]:
    return dict(fn.inputs["environment"]["variables"])


def test_the_probe_runs_in_the_vpc_and_the_decider_outside_any(run):
    probe, decider = function(run, naming.FAILOVER_PROBE), function(run, naming.FAILOVER_DECIDER)
    assert probe.inputs["vpcConfig"] == {
        "subnetIds": ["subnet-0a", "subnet-0b"],
        "securityGroupIds": ["sg-0lambda"],
    }
    assert "vpcConfig" not in decider.inputs or not decider.inputs["vpcConfig"]
    assert probe.inputs["handler"] == "lambda_src.probe.handler.handler"
    assert decider.inputs["handler"] == "lambda_src.failover.handler.handler"


def test_each_function_has_its_own_one_minute_schedule_in_its_region(run):
    rules = {r.inputs["name"]: r.inputs["scheduleExpression"] for r in run.resources if r.type == RULE}
    assert rules == {
        f"{naming.function_name('prod', REGION, p)}-schedule": "rate(1 minute)"
        for p in (naming.FAILOVER_PROBE, naming.FAILOVER_DECIDER)
    }
    assert len([r for r in run.resources if r.type == TARGET]) == 2
    assert {r.region for r in run.resources if r.type in (RULE, TARGET, FUNCTION)} == {REGION}


def test_the_probe_environment_is_its_handler_contract(run):
    env = env_for()
    a = arns(env)
    variables_ = variables(function(run, naming.FAILOVER_PROBE))
    assert json.loads(variables_["CLUSTER_ENDPOINTS"]) == a["endpoints"]
    assert variables_["FAILOVER_TABLE"] == naming.failover_table_name("prod", REGION)
    assert variables_["PROBE_SECRET_ARN"] == SECRET_ARN
    settings = load_probe_settings({**variables_, "AWS_REGION": REGION})
    assert (settings.region, settings.global_cluster_id, settings.port) == (
        REGION,
        "prod-aurora-global",
        3306,
    )
    assert settings.interval_seconds == failover_timing(env).probe_interval_seconds


def test_the_decider_environment_is_its_handler_contract_with_the_plans_timing(run):
    env = env_for()
    variables_ = variables(function(run, naming.FAILOVER_DECIDER))
    assert json.loads(variables_["CLUSTER_ARNS"]) == arns(env)["clusters"]
    assert json.loads(variables_["FAILOVER_TABLES"]) == naming.failover_tables(env)
    settings = load_decider_settings({**variables_, "AWS_REGION": REGION})
    assert settings.regions == tuple(env.regions)
    assert settings.dry_run is True
    planned = failover_timing(env)
    for field in (
        "window_seconds",
        "probe_interval_seconds",
        "probe_attempt_seconds",
        "decider_interval_seconds",
        "rpo_budget_seconds",
        "cooldown_seconds",
        "vantage_regions",
    ):
        assert getattr(settings.timing, field) == getattr(planned, field), field


def test_dry_run_follows_the_environment():
    variables_ = variables(function(deploy(env_for(dry_run=False)), naming.FAILOVER_DECIDER))
    assert variables_["DRY_RUN"] == "false"


def test_the_probe_role_holds_exactly_its_calls(run):
    assert statements(run, naming.FAILOVER_PROBE) == [
        {
            "Sid": "ReadCredentialsSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": SECRET_ARN,
        },
        {
            "Sid": "DecryptCredentialsSecret",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": SECRETS_KEY,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}},
        },
        {
            "Sid": "FindTheWriter",
            "Effect": "Allow",
            "Action": ["rds:DescribeGlobalClusters"],
            "Resource": GLOBAL_ARN,
        },
        {
            "Sid": "PublishOwnAttempts",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": arns(env_for())["tables"][REGION],
        },
        {
            "Sid": "ManageVpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        },
    ]


def test_the_decider_role_holds_exactly_its_calls(run):
    env = env_for()
    a = arns(env)
    assert statements(run, naming.FAILOVER_DECIDER) == [
        {
            "Sid": "ReadTheGlobalCluster",
            "Effect": "Allow",
            "Action": ["rds:DescribeGlobalClusters"],
            "Resource": GLOBAL_ARN,
        },
        {
            "Sid": "PromoteOwnCluster",
            "Effect": "Allow",
            "Action": ["rds:FailoverGlobalCluster"],
            "Resource": [GLOBAL_ARN, a["clusters"][REGION]],
        },
        {
            "Sid": "FailoverTables",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
            "Resource": [a["tables"][r] for r in env.regions],
        },
        {
            "Sid": "ReadWriterHealth",
            "Effect": "Allow",
            "Action": ["cloudwatch:GetMetricData"],
            "Resource": "*",
        },
        {"Sid": "Notify", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": TOPIC},
    ]


def test_a_map_missing_a_region_is_refused_naming_the_field():
    env = env_for()
    partial = {r: v for r, v in arns(env)["clusters"].items() if r != "eu-west-1"}
    with pytest.raises(Exception, match="cluster_arns: needs exactly the regions"):
        deploy(env, cluster_arns=partial)


def test_outputs_name_both_functions(run):
    assert run.outputs["probe_function_name"] == naming.function_name("prod", REGION, naming.FAILOVER_PROBE)
    assert run.outputs["decider_function_name"] == naming.function_name(
        "prod", REGION, naming.FAILOVER_DECIDER
    )


SECRET = "aws:secretsmanager/secret:Secret"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
INVOCATION = "aws:lambda/invocation:Invocation"


@pytest.fixture(scope="module")
def automated_home():
    from orchestrator.analysis.plan import build_plan

    plan = build_plan(env_for(), evaluate_rules=False)
    return next(s for s in plan.stacks if s.spec.name == "prod.us-east-1")


def test_the_home_stack_creates_the_probe_secret_replicated_to_every_region_and_rotated(automated_home):
    run = automated_home.run
    [secret] = [
        r for r in run.resources if r.type == SECRET and r.inputs["name"] == "aurora/prod/users/probe"
    ]
    assert sorted(rep["region"] for rep in secret.inputs["replicas"]) == ["eu-west-1", "us-west-2"]
    assert any(r.type == ROTATION and r.name.endswith("-rotation-probe-schedule") for r in run.resources)
    [bootstrap] = [r for r in run.resources if r.type == INVOCATION]
    event = json.loads(bootstrap.inputs["input"])
    assert event["probe_user"] == run.raw_outputs["probe_secret_arn"]
    assert set(run.raw_outputs["probe_secret_replica_arns"]) == {"us-west-2", "eu-west-1"}


def test_no_probe_secret_without_automated_failover():
    from orchestrator.analysis.plan import build_plan

    prod = load_environment("prod")
    manual = prod.model_copy(update={"failover": prod.failover.model_copy(update={"automated": False})})
    plan = build_plan(manual, evaluate_rules=False)
    home = next(s for s in plan.stacks if s.spec.name == "prod.us-east-1")
    assert not [r for r in home.run.resources if r.type == SECRET and r.inputs["name"].endswith("/probe")]
    assert "probe_secret_arn" not in home.run.raw_outputs
    [bootstrap] = [r for r in home.run.resources if r.type == INVOCATION]
    assert "probe_user" not in json.loads(bootstrap.inputs["input"])
