"""`infra plan` and `infra rules` through the typer app: output, JSON contract, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.runtime.mocks import MockResourceArgs
from typer.testing import CliRunner

from model.environment import environment_path
from orchestrator.analysis import guardrails
from orchestrator.analysis import plan as plan_module
from orchestrator.analysis.guardrails import core as guardrails_core
from orchestrator.analysis.mock_runtime import PlanMocks
from orchestrator.cli import EXIT_FAILED, EXIT_FINDINGS, EXIT_INVALID_ENVIRONMENT, EXIT_OK, EXIT_USAGE, app

PASSWORD = "random:index/randomPassword:RandomPassword"
PROD_STACKS = ["prod.us-east-1", "prod.us-west-2", "prod.eu-west-1", "prod.dns", "prod.failover"]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def prod_text():
    return invoke("plan", "--env", "prod")


@pytest.fixture(scope="module")
def prod_json():
    return invoke("plan", "--env", "prod", "--json")


@pytest.fixture(scope="module")
def prod_doc(prod_json) -> dict[str, Any]:
    return json.loads(prod_json.stdout)


def stack_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["stacks"] if s["name"] == name)


def mock_passwords(doc: dict[str, Any]) -> list[str]:
    """The values the mocks generate for every RandomPassword of the plan."""
    values = []
    for s in doc["stacks"]:
        for r in s["resources"]:
            if r["type"] == PASSWORD:
                mocks = PlanMocks(account_id=s["account_id"], stack=s["name"])
                _, state = mocks.new_resource(MockResourceArgs(r["type"], r["name"], dict(r["inputs"])))
                values.append(str(state["result"]))
    return values


# --- Text -------------------------------------------------------------------------------------------------


def test_plan_prod_text_lists_the_stacks_in_deployment_order_and_exits_0(prod_text):
    assert prod_text.exit_code == EXIT_OK, prod_text.stderr
    out = prod_text.stdout
    positions = [out.index(f"{i}. {name}  [") for i, name in enumerate(PROD_STACKS, start=1)]

    assert positions == sorted(positions)
    assert "Offline plan of environment 'prod' (account 333333333333, global" in out
    assert "prod.us-west-2  [secondary, us-west-2]  after: prod.us-east-1" in out
    assert "Findings: 0 error(s)" in out


def test_plan_text_shows_fed_config_resource_counts_and_key_properties(prod_text):
    out = prod_text.stdout

    assert "config aurora:globalClusterIdentifier = prod-aurora-global" in out
    assert re.search(r"^\s+1 x aws:rds/globalCluster:GlobalCluster$", out, re.MULTILINE)
    assert "finalSnapshotIdentifier=prod-aurora-use1-final" in out
    assert "cidrBlock=10.30.0.0/16" in out


def test_plan_text_prints_no_password(prod_text, prod_doc):
    passwords = mock_passwords(prod_doc)

    assert passwords
    assert not any(p in prod_text.stdout for p in passwords)


# --- JSON -------------------------------------------------------------------------------------------------


def test_plan_json_is_exactly_one_document_on_stdout(prod_json):
    assert prod_json.exit_code == EXIT_OK, prod_json.stderr
    decoder = json.JSONDecoder()

    doc, end = decoder.raw_decode(prod_json.stdout)

    assert prod_json.stdout[end:].strip() == ""
    assert isinstance(doc, dict)


def test_plan_json_has_the_documented_top_level_shape(prod_doc):
    assert prod_doc["env"] == "prod"
    assert [s["name"] for s in prod_doc["stacks"]] == PROD_STACKS
    assert isinstance(prod_doc["findings"], list)


def test_plan_json_stacks_carry_role_region_account_dependencies_config_resources_outputs(prod_doc):
    expected = {
        "prod.us-east-1": ("primary", "us-east-1", []),
        "prod.us-west-2": ("secondary", "us-west-2", ["prod.us-east-1"]),
        "prod.eu-west-1": ("secondary", "eu-west-1", ["prod.us-east-1"]),
        "prod.dns": ("dns", "us-east-1", ["prod.us-east-1", "prod.us-west-2", "prod.eu-west-1"]),
        "prod.failover": ("failover", "us-east-1", ["prod.us-east-1", "prod.us-west-2", "prod.eu-west-1"]),
    }
    for s in prod_doc["stacks"]:
        role, region, depends_on = expected[s["name"]]
        assert (s["role"], s["region"], s["depends_on"]) == (role, region, depends_on)
        assert s["account_id"] == "333333333333"
        assert s["config"]["aurora:environment"] == "prod"
        assert isinstance(s["resources"], list) and s["resources"]
        assert isinstance(s["outputs"], dict) and s["outputs"]


def test_plan_json_resources_have_urn_type_name_parent_provider_and_engine_named_inputs(prod_doc):
    for s in prod_doc["stacks"]:
        urns = {r["urn"] for r in s["resources"]}
        providers = {r["urn"] for r in s["resources"] if r["type"] == "pulumi:providers:aws"}
        # one explicit provider per stack; the failover stack spans regions: one per region
        assert len(providers) == (3 if s["role"] == "failover" else 1), s["name"]
        for r in s["resources"]:
            assert {"urn", "type", "name", "parent", "provider", "inputs"} <= set(r)
            assert r["urn"].startswith(f"urn:pulumi:{s['name']}::aurora-global::")
            assert r["urn"].endswith(f"::{r['name']}")
            assert r["parent"] is None or r["parent"] in urns, r["name"]
            if r["type"].startswith("aws:"):
                assert r["provider"] in providers, r["name"]
    vpc = next(r for r in stack_of(prod_doc, "prod.us-east-1")["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == "10.30.0.0/16"
    assert vpc["inputs"]["enableDnsHostnames"] is True


def test_plan_json_secondary_config_carries_the_global_cluster_identifier_fed_from_the_primary(prod_doc):
    fed = stack_of(prod_doc, "prod.us-east-1")["outputs"]["global_cluster_identifier"]

    assert fed == "prod-aurora-global"
    for name in ("prod.us-west-2", "prod.eu-west-1"):
        secondary = stack_of(prod_doc, name)
        assert secondary["config"]["aurora:globalClusterIdentifier"] == fed
        cluster = next(r for r in secondary["resources"] if r["type"] == "aws:rds/cluster:Cluster")
        assert cluster["inputs"]["globalClusterIdentifier"] == fed


def test_plan_json_dns_config_carries_every_region(prod_doc):
    regions = stack_of(prod_doc, "prod.dns")["config"]["aurora:regions"]

    assert set(regions) == {"us-east-1", "us-west-2", "eu-west-1"}
    for region, entry in regions.items():
        assert entry["vpcId"] == stack_of(prod_doc, f"prod.{region}")["outputs"]["vpc_id"]


def test_plan_json_masks_secrets_and_contains_no_password(prod_json, prod_doc):
    passwords = mock_passwords(prod_doc)
    primary_cluster = next(
        r for r in stack_of(prod_doc, "prod.us-east-1")["resources"] if r["type"] == "aws:rds/cluster:Cluster"
    )

    assert passwords
    assert primary_cluster["inputs"]["masterPasswordWo"] == "[secret]"
    assert not any(p in prod_json.stdout for p in passwords)


def test_plan_without_env_plans_dev_never_prod():
    result = invoke("plan", "--json")

    assert result.exit_code == EXIT_OK, result.stderr
    doc = json.loads(result.stdout)
    assert doc["env"] == "dev"
    assert [s["name"] for s in doc["stacks"]] == ["dev.us-east-1", "dev.dns"]


def test_plan_with_env_file_of_a_checked_in_environment_plans_it():
    result = invoke("plan", "--env-file", str(environment_path("staging")), "--json")

    assert result.exit_code == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["env"] == "staging"


def dev_variant(tmp_path: Path, **database: Any) -> Path:
    data = yaml.safe_load(environment_path("dev").read_text())
    data["database"].update(database)
    path = tmp_path / "dev-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_plan_with_env_file_plans_that_files_definition(tmp_path):
    result = invoke("plan", "--env-file", str(dev_variant(tmp_path, instance_count=2)), "--json")

    assert result.exit_code == EXIT_OK, result.stderr
    primary = json.loads(result.stdout)["stacks"][0]
    instances = [r for r in primary["resources"] if r["type"] == "aws:rds/clusterInstance:ClusterInstance"]
    assert len(instances) == 2


def test_plan_with_env_file_of_a_new_environment_succeeds(tmp_path):
    data = yaml.safe_load(environment_path("dev").read_text())
    data.update(
        name="qa", network={"cidrs": {"us-east-1": "10.97.0.0/16"}}, dns={"zone_name": "qa.db.internal"}
    )
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(data))

    result = invoke("plan", "--env-file", str(path), "--json")

    assert result.exit_code == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["env"] == "qa"


# --- Bad input: exit 3, nothing run -----------------------------------------------------------------------


@pytest.fixture
def no_stack_may_run(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a stack program ran although the environment was invalid")

    monkeypatch.setattr(plan_module, "build_plan", refuse)


def test_unknown_environment_exits_3_naming_it_and_the_available_ones(no_stack_may_run):
    result = invoke("plan", "--env", "nope")

    assert result.exit_code == EXIT_INVALID_ENVIRONMENT
    assert result.stdout == ""
    assert "unknown environment 'nope'" in result.stderr
    assert "dev, prod, staging, test" in result.stderr
    assert "Nothing was run." in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("name: [dev\n", "is not valid YAML"),
        ("- a\n", "must be a mapping"),
    ],
    ids=["missing", "empty", "unparsable", "not-a-mapping"],
)
def test_unusable_env_file_exits_3_with_the_message_on_stderr_and_runs_nothing(
    tmp_path, no_stack_may_run, content, expected
):
    path = tmp_path / "env.yaml"
    if content is not None:
        path.write_text(content)

    result = invoke("plan", "--env-file", str(path))

    assert result.exit_code == EXIT_INVALID_ENVIRONMENT, result.stderr
    assert result.stdout == ""
    assert str(path) in result.stderr
    assert expected in result.stderr
    assert "Fix: " in result.stderr


def test_backtrack_on_a_global_env_file_exits_3_before_any_stack_runs(tmp_path, no_stack_may_run):
    data = yaml.safe_load(environment_path("prod").read_text())
    data["database"]["backtrack_hours"] = 24
    path = tmp_path / "prod-backtrack.yaml"
    path.write_text(yaml.safe_dump(data))

    result = invoke("plan", "--env-file", str(path), "--json")

    assert result.exit_code == EXIT_INVALID_ENVIRONMENT
    error = json.loads(result.stdout)["error"]  # the one document: the error, no plan
    assert error["code"] == EXIT_INVALID_ENVIRONMENT and error["kind"] == "invalid_environment"
    assert error["problems"][0].startswith("database.backtrack_hours: ")
    assert "database.backtrack_hours" in result.stderr
    assert "(got 24)" in result.stderr
    assert "point-in-time restore" in result.stderr


def test_env_and_env_file_together_is_a_usage_error(no_stack_may_run):
    result = invoke("plan", "--env", "dev", "--env-file", str(environment_path("dev")))

    assert result.exit_code == EXIT_USAGE
    assert "either --env or --env-file" in result.stderr


def test_failing_stack_program_exits_4_naming_the_environment_and_the_error(monkeypatch):
    def broken(env: Any, **kwargs: Any) -> None:
        raise RuntimeError("provider plugin exploded")

    monkeypatch.setattr(plan_module, "build_plan", broken)

    result = invoke("plan", "--env", "dev")

    assert result.exit_code == EXIT_FAILED
    assert "the offline plan of dev failed: RuntimeError: provider plugin exploded" in result.stderr
    assert "Traceback" not in result.stderr


# --- Findings drive the exit code -----------------------------------------------------------------


def add_rule(monkeypatch, severity: str) -> str:
    rule_id = f"test-only-{severity}"

    def check(graph):
        cluster = next(graph.of_type("aws:rds/cluster:Cluster"))
        yield cluster, f"planted {severity} on {cluster.resource.name}"

    rule = guardrails.Rule(rule_id, severity, "planted by the test", "tests", check)
    # The registry lives in the core module; `infra plan` evaluates what it holds.
    monkeypatch.setattr(guardrails_core, "RULES", [*guardrails_core.RULES, rule])
    return rule_id


def test_error_level_finding_exits_1_and_is_reported_in_the_json(monkeypatch):
    rule_id = add_rule(monkeypatch, "error")

    result = invoke("plan", "--env", "dev", "--json")

    assert result.exit_code == EXIT_FINDINGS
    doc = json.loads(result.stdout)
    [finding] = [f for f in doc["findings"] if f["rule"] == rule_id]
    cluster = next(r for r in doc["stacks"][0]["resources"] if r["type"] == "aws:rds/cluster:Cluster")
    assert finding == {
        "rule": rule_id,
        "severity": "error",
        "resource": cluster["urn"],
        "stack": "dev.us-east-1",
        "message": "planted error on dev-use1-aurora-cluster",
    }


def test_error_level_finding_exits_1_in_text_mode_too(monkeypatch):
    rule_id = add_rule(monkeypatch, "error")

    result = invoke("plan", "--env", "dev")

    assert result.exit_code == EXIT_FINDINGS
    assert "Findings: 1 error(s), 0 warning(s)" in result.stdout
    assert f"ERROR {rule_id} [" in result.stdout


def test_warning_level_finding_is_reported_but_exits_0(monkeypatch):
    rule_id = add_rule(monkeypatch, "warning")

    result = invoke("plan", "--env", "dev", "--json")

    assert result.exit_code == EXIT_OK
    assert [f["severity"] for f in json.loads(result.stdout)["findings"] if f["rule"] == rule_id] == [
        "warning"
    ]


def test_checked_in_prod_plan_has_no_findings(prod_doc):
    assert [f for f in prod_doc["findings"] if f["severity"] == "error"] == []


# --- rules ----------------------------------------------------------------------------------------


def test_rules_lists_every_guardrail_with_severity():
    result = invoke("rules")

    assert result.exit_code == EXIT_OK
    assert guardrails.RULES
    for rule in guardrails.RULES:
        line = next(line for line in result.stdout.splitlines() if line.startswith(rule.id + " "))
        assert rule.severity in line
        assert rule.rationale in line


def test_rules_json_lists_id_severity_rationale_and_source():
    result = invoke("rules", "--json")

    assert result.exit_code == EXIT_OK
    doc = json.loads(result.stdout)
    assert [r["id"] for r in doc] == [r.id for r in guardrails.RULES]
    assert all(set(r) == {"id", "severity", "rationale", "source"} for r in doc)
    assert {r["severity"] for r in doc} <= {"error", "warning"}
