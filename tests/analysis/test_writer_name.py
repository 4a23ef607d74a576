"""The writer name follows the writer to every region, and programs don't depend on where it is.

The planned DNS stack is evaluated with Route 53's documented rules (orchestrator/analysis/
writer_dns.py): for every checked-in environment and every region as the writer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model.environment import load_environment
from orchestrator.analysis.document import plan_document
from orchestrator.analysis.plan import WriterRegionError, build_plan
from orchestrator.analysis.writer_dns import Alarm, WriterDns, alarms_with_writer
from tests.support.graphs import planned
from tests.support.paths import ROOT

GLOBAL_ENVS = ["staging", "prod", "test"]
INFRA = "import sys; from orchestrator.cli import main; sys.argv[0] = 'infra'; main()"


def dns_of(env_name: str) -> tuple[WriterDns, dict[str, str], str, str]:
    plan = planned(env_name)
    [dns_stack] = [s for s in plan.stacks if s.spec.role.value == "dns"]
    regional = {s.spec.region: s.run.outputs for s in plan.stacks if s.spec.regional}
    endpoints = {region: str(out["cluster_endpoint"]) for region, out in regional.items()}
    fallback = str(regional[plan.env.primary_region]["global_writer_endpoint"])
    return WriterDns(dns_stack.run.resources), endpoints, str(dns_stack.run.outputs["writer_name"]), fallback


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_the_writer_name_answers_with_the_writer_in_every_region(env_name: str) -> None:
    dns, endpoints, name, _ = dns_of(env_name)
    for writer in load_environment(env_name).regions:
        assert dns.resolve(name, alarms_with_writer(endpoints, writer)).endpoint == endpoints[writer], writer


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_a_new_writer_takes_the_name_while_the_home_regions_alarm_has_no_data(env_name: str) -> None:
    env = load_environment(env_name)
    dns, endpoints, name, _ = dns_of(env_name)
    for writer in env.secondary_regions:
        # GIVEN the home region dead: its alarm has no data (its CloudWatch may be unreachable)
        alarms = alarms_with_writer(env.regions, writer) | {env.primary_region: Alarm.NO_DATA}
        # THEN the name answers with the new writer, on the home region's own fresh silence
        assert dns.resolve(name, alarms).endpoint == endpoints[writer]
        # AND even if Route 53 kept the home region's last status (writer), the name leaves it:
        # the new writer's claim makes the home record unhealthy, and no region's record wins
        stuck = dns.resolve(name, alarms, last_known={env.primary_region: True})
        assert stuck.endpoint != endpoints[env.primary_region]


@pytest.mark.parametrize("env_name", GLOBAL_ENVS)
def test_no_claim_or_two_claims_fall_back_on_auroras_global_writer_endpoint(env_name: str) -> None:
    env = load_environment(env_name)
    dns, _, name, fallback = dns_of(env_name)
    nobody = dns.resolve(name, {r: Alarm.NO_DATA for r in env.regions})
    assert (nobody.endpoint, nobody.record) == (fallback, f"{env.name}-writer-fallback")
    two = alarms_with_writer(env.regions, env.primary_region) | {env.secondary_regions[-1]: Alarm.OK}
    assert dns.resolve(name, two).endpoint == fallback


def test_ten_secondaries_each_get_the_name_when_they_are_the_writer(tmp_path) -> None:
    # GIVEN the largest global database AWS allows: a home region and ten secondaries
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
               "eu-central-1", "ap-northeast-1", "ap-southeast-1", "ap-southeast-2"]  # fmt: skip
    data = load_environment("prod").model_dump(mode="json", exclude_none=True)
    data.update(name="wide", primary_region=regions[0], secondary_regions=regions[1:])
    data["network"]["cidrs"] = {r: f"10.{200 + i // 4}.{(i % 4) * 64}.0/18" for i, r in enumerate(regions)}
    data["dns"]["zone_name"] = "wide.db.internal"
    from model.environment import parse_environment

    env = parse_environment(data, path="wide.yaml")
    plan = build_plan(env)
    assert not plan.has_errors, [f.message for f in plan.findings if f.severity == "error"]
    [dns_stack] = [s for s in plan.stacks if s.spec.role.value == "dns"]
    endpoints = {s.spec.region: s.run.outputs["cluster_endpoint"] for s in plan.stacks if s.spec.regional}
    dns = WriterDns(dns_stack.run.resources)
    for writer in regions:
        assert (
            dns.resolve("writer.wide.db.internal", alarms_with_writer(regions, writer)).endpoint
            == endpoints[writer]
        )


def resources_and_inputs(document: dict) -> list:
    return sorted(
        [s["name"], r["type"], r["name"], json.dumps(r["inputs"], sort_keys=True)]
        for s in document["stacks"]
        for r in s["resources"]
    )


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod", "test"])
def test_planning_with_the_writer_anywhere_changes_no_stack_resource_or_input(env_name: str) -> None:
    env = load_environment(env_name)
    plain = plan_document(planned(env_name))
    for region in env.regions:
        moved = plan_document(build_plan(env, writer_region=region))
        assert resources_and_inputs(moved) == resources_and_inputs(plain), region
        assert [(s["name"], s["config"], s["outputs"]) for s in moved["stacks"]] == [
            (s["name"], s["config"], s["outputs"]) for s in plain["stacks"]
        ]
        assert moved["writer_assumption"]["region"] == region and "writer_assumption" not in plain
        assert moved["findings"] == plain["findings"] == []


def test_a_program_that_looks_up_the_writer_is_an_error_finding() -> None:
    import pulumi_aws as aws

    from components.stack_programs import program_from_config

    def peeking_program() -> dict:
        outputs = dict(program_from_config())
        found = aws.rds.get_global_cluster_output(identifier="prod-aurora-global")
        outputs["writer_members"] = found.members
        return outputs

    plan = build_plan(load_environment("prod"), program=peeking_program, writer_region="us-west-2")
    [finding, *_] = [f for f in plan.findings if f.rule == "programs-writer-agnostic"]
    assert finding.severity == "error" and "looks up the writer" in finding.message
    assert {f.rule for f in plan.findings} == {"programs-writer-agnostic"}


def test_a_writer_outside_the_environment_is_refused() -> None:
    with pytest.raises(
        WriterRegionError, match=r"--writer 'ap-south-1'.*\(us-east-1, us-west-2, eu-west-1\)"
    ):
        build_plan(load_environment("prod"), writer_region="ap-south-1")


def test_infra_plan_writer_outside_the_environment_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", INFRA, "plan", "--env", "prod", "--writer", "ap-south-1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: --writer 'ap-south-1'")
