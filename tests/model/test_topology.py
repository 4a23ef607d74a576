"""Stack topology: names, roles, dependencies, waves, and the outputs fed between stacks."""

from __future__ import annotations

import json

import pytest

from model.environment import load_environment, needs_embedded_definition, parse_environment
from model.topology import (
    DNS_REGIONAL_FEED,
    SECONDARY_FEED,
    MissingUpstreamOutput,
    Role,
    StackNameError,
    StackSpec,
    config_key,
    decode_config_value,
    encode_config,
    split_stack_name,
    stack_by_name,
    stack_config,
    stacks_for,
    waves,
)


@pytest.fixture(scope="module")
def dev():
    return load_environment("dev")


@pytest.fixture(scope="module")
def prod():
    return load_environment("prod")


def names(stacks):
    return [s.name for s in stacks]


# --- Stacks, roles, dependencies ----------------------------------------------------------------


def test_regional_dev_has_a_primary_stack_and_a_dns_stack(dev):
    stacks = stacks_for(dev)

    assert [(s.name, s.role, s.region, s.depends_on) for s in stacks] == [
        ("dev.us-east-1", Role.PRIMARY, "us-east-1", ()),
        ("dev.dns", Role.DNS, "us-east-1", ("dev.us-east-1",)),
    ]
    assert all(s.env == "dev" for s in stacks)


def test_prod_stacks_are_primary_then_secondaries_then_dns(prod):
    stacks = stacks_for(prod)

    assert [(s.name, s.role, s.region) for s in stacks] == [
        ("prod.us-east-1", Role.PRIMARY, "us-east-1"),
        ("prod.us-west-2", Role.SECONDARY, "us-west-2"),
        ("prod.eu-west-1", Role.SECONDARY, "eu-west-1"),
        ("prod.dns", Role.DNS, "us-east-1"),
        ("prod.failover", Role.FAILOVER, "us-east-1"),
    ]


def test_prod_secondaries_depend_only_on_the_primary_and_dns_on_every_regional_stack(prod):
    by_name = {s.name: s for s in stacks_for(prod)}

    assert by_name["prod.us-east-1"].depends_on == ()
    assert by_name["prod.us-west-2"].depends_on == ("prod.us-east-1",)
    assert by_name["prod.eu-west-1"].depends_on == ("prod.us-east-1",)
    assert set(by_name["prod.dns"].depends_on) == {"prod.us-east-1", "prod.us-west-2", "prod.eu-west-1"}
    assert by_name["prod.dns"].depends_on[0] == "prod.us-east-1"  # the primary's outputs feed DNS directly


def test_only_the_dns_and_failover_stacks_are_not_regional(prod):
    assert [s.regional for s in stacks_for(prod)] == [True, True, True, False, False]


def test_the_failover_stack_depends_on_every_regional_stack_and_only_global_environments_have_it(prod, dev):
    by_name = {s.name: s for s in stacks_for(prod)}

    assert by_name["prod.failover"].depends_on == ("prod.us-east-1", "prod.us-west-2", "prod.eu-west-1")
    assert all(s.role is not Role.FAILOVER for s in stacks_for(dev))


def test_dev_deploys_in_two_waves(dev):
    assert [names(w) for w in waves(stacks_for(dev))] == [["dev.us-east-1"], ["dev.dns"]]


def test_prod_secondaries_deploy_together_in_one_wave_between_primary_and_dns(prod):
    assert [names(w) for w in waves(stacks_for(prod))] == [
        ["prod.us-east-1"],
        ["prod.us-west-2", "prod.eu-west-1"],
        ["prod.dns", "prod.failover"],
    ]


def test_waves_follow_dependencies_whatever_the_input_order(prod):
    stacks = list(reversed(stacks_for(prod)))

    result = waves(stacks)

    assert [sorted(names(w)) for w in result] == [
        ["prod.us-east-1"],
        ["prod.eu-west-1", "prod.us-west-2"],
        ["prod.dns", "prod.failover"],
    ]


def test_waves_refuse_a_dependency_cycle():
    a = StackSpec("x.a", "x", Role.PRIMARY, "us-east-1", ("x.b",))
    b = StackSpec("x.b", "x", Role.SECONDARY, "us-west-2", ("x.a",))

    with pytest.raises(ValueError, match="dependency cycle"):
        waves([a, b])


def test_waves_refuse_a_dependency_on_a_stack_that_is_not_planned():
    orphan = StackSpec("x.b", "x", Role.SECONDARY, "us-west-2", ("x.a",))

    with pytest.raises(ValueError, match=r"x\.b"):
        waves([orphan])


# --- Stack names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack_name", "expected"),
    [
        ("prod.us-east-1", ("prod", "us-east-1")),
        ("prod.dns", ("prod", "dns")),
        ("test-ab12.eu-west-1", ("test-ab12", "eu-west-1")),
        ("my-org/aurora-global/prod.eu-west-1", ("prod", "eu-west-1")),
    ],
)
def test_stack_names_split_into_environment_and_region(stack_name, expected):
    assert split_stack_name(stack_name) == expected


@pytest.mark.parametrize("stack_name", ["prod", "prod.", ".us-east-1", "", "org/project/prod"])
def test_malformed_stack_names_are_refused_with_the_expected_form(stack_name):
    with pytest.raises(StackNameError, match=r"is not <env>\.<region>, <env>\.dns or <env>\.failover"):
        split_stack_name(stack_name)


def test_stack_by_name_finds_the_role_from_the_environment(prod):
    assert stack_by_name(prod, "prod.eu-west-1").role is Role.SECONDARY
    assert stack_by_name(prod, "prod.us-east-1").role is Role.PRIMARY
    assert stack_by_name(prod, "org/aurora-global/prod.dns").role is Role.DNS


@pytest.mark.parametrize("stack_name", ["prod.ap-south-1", "staging.us-east-1"])
def test_stack_outside_the_environment_is_refused_listing_its_stacks(prod, stack_name):
    with pytest.raises(StackNameError) as info:
        stack_by_name(prod, stack_name)

    message = str(info.value)
    assert stack_name in message
    assert "prod.us-east-1, prod.us-west-2, prod.eu-west-1, prod.dns" in message


# --- Output feeding ---------------------------------------------------------------------------------

PRIMARY_OUTPUTS = {
    "global_cluster_identifier": "prod-aurora-global",
    "global_cluster_arn": "arn:aws:rds::333333333333:global-cluster:cluster-abc",
    "cluster_arn": "arn:aws:rds:us-east-1:333333333333:cluster:prod-aurora-use1",
    "master_secret_arn": "arn:aws:secretsmanager:us-east-1:333333333333:secret:aurora/prod/master-AbCdEf",
    "master_secret_name": "aurora/prod/master",
    "global_writer_endpoint": "prod-aurora-global.global-abc.global.rds.amazonaws.com",
    "vpc_id": "vpc-use1",
    "cluster_identifier": "prod-aurora-use1",
    "cluster_endpoint": "prod-aurora-use1.cluster-x.us-east-1.rds.amazonaws.com",
    "reader_endpoint": "prod-aurora-use1.cluster-ro-x.us-east-1.rds.amazonaws.com",
}


def regional_outputs(region: str) -> dict[str, str]:
    return {
        "vpc_id": f"vpc-{region}",
        "cluster_identifier": f"prod-aurora-{region}",
        "cluster_endpoint": f"writer.{region}",
        "reader_endpoint": f"reader.{region}",
    }


def spec(env, name):
    return stack_by_name(env, name)


def test_primary_config_is_only_the_environment_name(prod):
    assert stack_config(prod, spec(prod, "prod.us-east-1"), {}) == {"aurora:environment": "prod"}


def test_secondary_receives_the_global_cluster_identifier_and_the_rest_from_the_primary(prod):
    config = stack_config(prod, spec(prod, "prod.eu-west-1"), {"prod.us-east-1": PRIMARY_OUTPUTS})

    assert config["aurora:environment"] == "prod"
    assert config["aurora:globalClusterIdentifier"] == "prod-aurora-global"
    assert config["aurora:globalClusterArn"] == PRIMARY_OUTPUTS["global_cluster_arn"]
    assert config["aurora:primaryClusterArn"] == PRIMARY_OUTPUTS["cluster_arn"]
    assert config["aurora:masterSecretArn"] == PRIMARY_OUTPUTS["master_secret_arn"]
    assert config["aurora:masterSecretName"] == "aurora/prod/master"


def test_every_secondary_feed_maps_a_primary_output_to_a_namespaced_key(prod):
    outputs = {output: f"value-of-{output}" for output in SECONDARY_FEED.values()}

    config = stack_config(prod, spec(prod, "prod.us-west-2"), {"prod.us-east-1": outputs})

    for key, output in SECONDARY_FEED.items():
        assert config[config_key(key)] == f"value-of-{output}"


def test_optional_primary_outputs_are_left_out_when_the_primary_does_not_export_them(prod):
    config = stack_config(
        prod,
        spec(prod, "prod.us-west-2"),
        {"prod.us-east-1": {"global_cluster_identifier": "prod-aurora-global"}},
    )

    assert config == {"aurora:environment": "prod", "aurora:globalClusterIdentifier": "prod-aurora-global"}


@pytest.mark.parametrize(
    "upstream",
    [{}, {"prod.us-east-1": {}}, {"prod.us-east-1": {"cluster_arn": "arn"}}],
    ids=["primary-not-run", "no-outputs", "other-outputs-only"],
)
def test_secondary_without_the_global_cluster_identifier_is_refused_naming_both_stacks(prod, upstream):
    with pytest.raises(MissingUpstreamOutput) as info:
        stack_config(prod, spec(prod, "prod.us-west-2"), upstream)

    exc = info.value
    assert (exc.stack, exc.output, exc.consumer) == (
        "prod.us-east-1",
        "global_cluster_identifier",
        "prod.us-west-2",
    )
    assert "deploy prod.us-east-1 first" in str(exc)
    assert isinstance(exc, KeyError)


def test_dns_receives_every_regional_stack_by_region_and_the_global_writer_endpoint(prod):
    upstream = {
        "prod.us-east-1": PRIMARY_OUTPUTS,
        "prod.us-west-2": regional_outputs("us-west-2"),
        "prod.eu-west-1": regional_outputs("eu-west-1"),
    }

    config = stack_config(prod, spec(prod, "prod.dns"), upstream)

    regions = config["aurora:regions"]
    assert set(regions) == {"us-east-1", "us-west-2", "eu-west-1"}
    assert regions["eu-west-1"] == {
        "vpcId": "vpc-eu-west-1",
        "clusterIdentifier": "prod-aurora-eu-west-1",
        "writerEndpoint": "writer.eu-west-1",
        "readerEndpoint": "reader.eu-west-1",
    }
    assert regions["us-east-1"]["vpcId"] == "vpc-use1"
    assert config["aurora:globalWriterEndpoint"] == PRIMARY_OUTPUTS["global_writer_endpoint"]


def test_every_dns_regional_feed_reaches_the_region_entry(prod):
    outputs = {output: f"{output}-value" for output in DNS_REGIONAL_FEED.values()}
    upstream = {name: outputs for name in ("prod.us-east-1", "prod.us-west-2", "prod.eu-west-1")}

    regions = stack_config(prod, spec(prod, "prod.dns"), upstream)["aurora:regions"]

    for key, output in DNS_REGIONAL_FEED.items():
        assert regions["us-west-2"][key] == f"{output}-value"


def test_dns_without_a_regional_vpc_is_refused_naming_that_stack(prod):
    upstream = {
        "prod.us-east-1": PRIMARY_OUTPUTS,
        "prod.us-west-2": {"cluster_identifier": "x"},
        "prod.eu-west-1": regional_outputs("eu-west-1"),
    }

    with pytest.raises(MissingUpstreamOutput) as info:
        stack_config(prod, spec(prod, "prod.dns"), upstream)

    assert (info.value.stack, info.value.output, info.value.consumer) == (
        "prod.us-west-2",
        "vpc_id",
        "prod.dns",
    )


def test_dev_dns_receives_the_single_region(dev):
    config = stack_config(dev, spec(dev, "dev.dns"), {"dev.us-east-1": regional_outputs("us-east-1")})

    assert list(config["aurora:regions"]) == ["us-east-1"]
    assert "aurora:globalWriterEndpoint" not in config


def test_embedded_definition_is_the_environment_itself(prod):
    config = stack_config(prod, spec(prod, "prod.us-east-1"), {}, embed_definition=True)

    definition = config["aurora:environmentDefinition"]
    assert parse_environment(definition, path="config") == prod


def test_checked_in_definitions_are_found_by_name_and_others_travel_in_stack_config(prod):
    bigger = prod.model_copy(update={"database": prod.database.model_copy(update={"instance_count": 3})})
    renamed = prod.model_copy(update={"name": "prod-copy"})

    assert needs_embedded_definition(prod) is False
    assert needs_embedded_definition(bigger) is True
    assert needs_embedded_definition(renamed) is True


def test_structured_config_values_are_encoded_as_json_and_strings_stay_plain():
    encoded = encode_config(
        {"aurora:environment": "prod", "aurora:regions": {"us-east-1": {"vpcId": "vpc-1"}}}
    )

    assert encoded["aurora:environment"] == "prod"
    assert json.loads(encoded["aurora:regions"]) == {"us-east-1": {"vpcId": "vpc-1"}}
    assert decode_config_value(encoded["aurora:regions"]) == {"us-east-1": {"vpcId": "vpc-1"}}
    assert decode_config_value(encoded["aurora:environment"]) == "prod"
    assert decode_config_value(json.dumps(["a", "b"])) == ["a", "b"]
