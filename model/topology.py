"""Stacks of an environment: names, roles, dependencies, and the outputs fed between them.

Stack names are ``<env>.<region>`` for regional stacks, ``<env>.dns`` for the DNS stack and,
in a global environment, ``<env>.failover`` for the cross-region stack (the VPC peering mesh
and the failover tables). The primary stack has no dependencies; every secondary depends on
the primary (it joins the global cluster the primary creates); the DNS and failover stacks
depend on every regional stack: the secondaries deploy in parallel, so no regional stack can
know its peers' VPCs. Destroy runs the waves backwards: DNS and failover (peering and routes)
go before the VPCs they use.
Outputs flow forward as stack config, exactly as :func:`stack_config` says, for the offline
plan and for real deployments alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from model.environment import Environment

CONFIG_NAMESPACE = "aurora"


class Role(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    DNS = "dns"
    FAILOVER = "failover"


@dataclass(frozen=True)
class StackSpec:
    name: str
    env: str
    role: Role
    region: str
    """Region of the stack's resources (the DNS and failover stacks' default provider uses the
    primary, home, region; the failover stack also has a provider per region)."""
    depends_on: tuple[str, ...]

    @property
    def regional(self) -> bool:
        return self.role not in (Role.DNS, Role.FAILOVER)


class StackNameError(ValueError):
    pass


def dns_stack_name(env: str) -> str:
    return f"{env}.dns"


def failover_stack_name(env: str) -> str:
    return f"{env}.failover"


def regional_stack_name(env: str, region: str) -> str:
    return f"{env}.{region}"


def split_stack_name(stack_name: str) -> tuple[str, str]:
    """'prod.us-east-1' -> ('prod', 'us-east-1'); also accepts 'org/project/prod.us-east-1'."""
    short = stack_name.rsplit("/", 1)[-1]
    env, sep, rest = short.partition(".")
    if not sep or not env or not rest:
        raise StackNameError(
            f"stack name {stack_name!r} is not <env>.<region>, <env>.dns or <env>.failover "
            "(e.g. prod.us-east-1, prod.dns, prod.failover)"
        )
    return env, rest


def stacks_for(env: Environment) -> list[StackSpec]:
    """All stacks of an environment in deployment order (primary, secondaries, dns, and
    failover for a global environment)."""
    primary = regional_stack_name(env.name, env.primary_region)
    stacks = [StackSpec(primary, env.name, Role.PRIMARY, env.primary_region, ())]
    secondaries = [
        StackSpec(regional_stack_name(env.name, region), env.name, Role.SECONDARY, region, (primary,))
        for region in env.secondary_regions
    ]
    stacks.extend(secondaries)
    stacks.append(
        StackSpec(
            dns_stack_name(env.name),
            env.name,
            Role.DNS,
            env.primary_region,
            (primary, *(s.name for s in secondaries)),
        )
    )
    if env.is_global:
        stacks.append(
            StackSpec(
                failover_stack_name(env.name),
                env.name,
                Role.FAILOVER,
                env.primary_region,
                (primary, *(s.name for s in secondaries)),
            )
        )
    return stacks


def stack_by_name(env: Environment, stack_name: str) -> StackSpec:
    env_name, rest = split_stack_name(stack_name)
    for spec in stacks_for(env):
        if spec.name == f"{env_name}.{rest}":
            return spec
    raise StackNameError(
        f"stack {stack_name!r} is not part of environment {env.name!r}: its stacks are "
        f"{', '.join(s.name for s in stacks_for(env))}"
    )


def waves(stacks: list[StackSpec]) -> list[list[StackSpec]]:
    """Group stacks into waves; every stack's dependencies are in earlier waves."""
    done: set[str] = set()
    remaining = list(stacks)
    result: list[list[StackSpec]] = []
    while remaining:
        wave = [s for s in remaining if all(d in done for d in s.depends_on)]
        if not wave:
            raise ValueError(f"dependency cycle among {[s.name for s in remaining]}")
        result.append(wave)
        done.update(s.name for s in wave)
        remaining = [s for s in remaining if s.name not in done]
    return result


# --- Output feeding ----------------------------------------------------------------------------

# Outputs of the primary stack a secondary stack receives as config: config key -> output name.
SECONDARY_FEED: dict[str, str] = {
    "globalClusterIdentifier": "global_cluster_identifier",
    "globalClusterArn": "global_cluster_arn",
    "primaryClusterArn": "cluster_arn",
    "masterSecretArn": "master_secret_arn",
    "masterSecretName": "master_secret_name",
    "secretsKmsReplicaArns": "secrets_kms_replica_arns",
    "primaryAlarmTopicArn": "alarm_topic_arn",
    "primaryWriterHealthAlarmName": "writer_health_alarm_name",
}

# ... and, when that secondary is the secrets' region after `infra rehome` (env.secrets_home:
# its stack runs what acts on the secrets, components.programs_regional), what it rotates and
# bootstraps with. Required: a home stack that does not export them was deployed by an older
# program; deploy it again.
SECRETS_REGION_FEED: dict[str, str] = {
    "secretsKmsKeyArn": "secrets_kms_key_arn",
    "userSecretArns": "user_secret_arns",
}
SECRETS_REGION_PROBE_FEED: dict[str, str] = {"probeSecretArn": "probe_secret_arn"}

# Outputs of every regional stack the DNS stack receives under config key "regions".
DNS_REGIONAL_FEED: dict[str, str] = {
    "vpcId": "vpc_id",
    "clusterIdentifier": "cluster_identifier",
    "writerEndpoint": "cluster_endpoint",
    "readerEndpoint": "reader_endpoint",
    "writerHealthAlarmName": "writer_health_alarm_name",
}
# Outputs of the primary stack the DNS stack receives directly.
DNS_PRIMARY_FEED: dict[str, str] = {"globalWriterEndpoint": "global_writer_endpoint"}

# Outputs of every regional stack the failover stack receives under config key "regions":
# the peering mesh (VPC, route tables, security groups) and what a region's failover
# component (probes and decider, components/failover.py) is built from. All required: a
# regional stack that does not export one was deployed by an older program; deploy it again.
FAILOVER_REGIONAL_FEED: dict[str, str] = {
    "vpcId": "vpc_id",
    "privateRouteTableIds": "private_route_table_ids",
    "privateSubnetIds": "private_subnet_ids",
    "dbSecurityGroupId": "db_security_group_id",
    "lambdaSecurityGroupId": "lambda_security_group_id",
    "kmsKeyArn": "kms_key_arn",
    "layerArn": "layer_arn",
    "clusterArn": "cluster_arn",
    "writerEndpoint": "cluster_endpoint",
    "readerEndpoint": "reader_endpoint",
    "port": "port",
    "alarmTopicArn": "alarm_topic_arn",
}
# Outputs of the primary stack the failover stack receives directly.
FAILOVER_PRIMARY_FEED: dict[str, str] = {"globalClusterArn": "global_cluster_arn"}
# ... and, where the automated failover is deployed, what every region's probe reads its
# credentials with: the probe user's secret (home copy and replicas) and the keys encrypting them.
FAILOVER_PROBE_FEED: dict[str, str] = {
    "probeSecretArn": "probe_secret_arn",
    "probeSecretReplicaArns": "probe_secret_replica_arns",
    "secretsKmsKeyArn": "secrets_kms_key_arn",
    "secretsKmsReplicaArns": "secrets_kms_replica_arns",
}


class MissingUpstreamOutput(KeyError):
    def __init__(self, stack: str, output: str, consumer: str) -> None:
        self.stack = stack
        self.output = output
        self.consumer = consumer
        super().__init__(
            f"stack {consumer} needs output {output!r} of stack {stack}, which does not export it; "
            f"deploy {stack} first (or check that its program exports {output!r})"
        )

    def __str__(self) -> str:
        return str(self.args[0])


def config_key(key: str) -> str:
    return f"{CONFIG_NAMESPACE}:{key}"


def _pick(outputs: Mapping[str, Any], stack: str, output: str, consumer: str, optional: bool = False) -> Any:
    if output not in outputs:
        if optional:
            return None
        raise MissingUpstreamOutput(stack, output, consumer)
    return outputs[output]


def stack_config(
    env: Environment,
    spec: StackSpec,
    upstream: Mapping[str, Mapping[str, Any]],
    *,
    embed_definition: bool = False,
) -> dict[str, Any]:
    """The config a stack runs with: its environment plus the outputs fed from upstream stacks.

    ``upstream`` maps stack name -> that stack's outputs. Values are plain JSON data; the
    runner encodes structured values as JSON strings for Pulumi config.
    """
    config: dict[str, Any] = {config_key("environment"): env.name}
    if embed_definition:
        config[config_key("environmentDefinition")] = json.loads(env.to_config_json())
    if spec.role is Role.SECONDARY:
        primary = spec.depends_on[0]
        outputs = upstream.get(primary, {})
        for key, output in SECONDARY_FEED.items():
            value = _pick(outputs, primary, output, spec.name, optional=True)
            if value is not None:
                config[config_key(key)] = value
        # The global cluster id is what makes a secondary a secondary: never optional.
        config[config_key("globalClusterIdentifier")] = _pick(
            outputs, primary, "global_cluster_identifier", spec.name
        )
        if spec.region == env.secrets_home:
            secrets_feed = {
                **SECRETS_REGION_FEED,
                **(SECRETS_REGION_PROBE_FEED if env.failover.automated else {}),
            }
            for key, output in {**secrets_feed, "globalClusterArn": "global_cluster_arn"}.items():
                config[config_key(key)] = _pick(outputs, primary, output, spec.name)
    elif spec.role is Role.DNS:
        regions: dict[str, dict[str, Any]] = {}
        for stack_name in spec.depends_on:
            outputs = upstream.get(stack_name, {})
            region = split_stack_name(stack_name)[1]
            entry: dict[str, Any] = {"vpcId": _pick(outputs, stack_name, "vpc_id", spec.name)}
            for key, output in DNS_REGIONAL_FEED.items():
                value = _pick(outputs, stack_name, output, spec.name, optional=True)
                if value is not None:
                    entry[key] = value
            regions[region] = entry
        config[config_key("regions")] = regions
        primary_outputs = upstream.get(spec.depends_on[0], {})
        for key, output in DNS_PRIMARY_FEED.items():
            value = _pick(primary_outputs, spec.depends_on[0], output, spec.name, optional=True)
            if value is not None:
                config[config_key(key)] = value
    elif spec.role is Role.FAILOVER:
        feed: dict[str, dict[str, Any]] = {}
        for stack_name in spec.depends_on:
            outputs = upstream.get(stack_name, {})
            region = split_stack_name(stack_name)[1]
            feed[region] = {
                key: _pick(outputs, stack_name, output, spec.name)
                for key, output in FAILOVER_REGIONAL_FEED.items()
            }
        config[config_key("regions")] = feed
        primary = spec.depends_on[0]
        for key, output in FAILOVER_PRIMARY_FEED.items():
            config[config_key(key)] = _pick(upstream.get(primary, {}), primary, output, spec.name)
        if env.failover.automated:
            for key, output in FAILOVER_PROBE_FEED.items():
                config[config_key(key)] = _pick(upstream.get(primary, {}), primary, output, spec.name)
    return config


def encode_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi config values are strings: structured values become JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in config.items()}


def decode_config_value(value: str) -> Any:
    if value[:1] in ("{", "["):
        return json.loads(value)
    return value
