"""The stack programs: one plain function per role, from environment + config to outputs.

``__main__.py`` (the Pulumi CLI and the Automation API), the offline plan and the tests all
call :func:`program_from_config`, so there is one program reachable three ways.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components import programs_dns, programs_failover, programs_regional
from components.context import StackContext
from model.environment import Environment, load_environment, parse_environment
from model.topology import (
    CONFIG_NAMESPACE,
    DNS_PRIMARY_FEED,
    FAILOVER_PRIMARY_FEED,
    FAILOVER_PROBE_FEED,
    SECONDARY_FEED,
    SECRETS_REGION_FEED,
    SECRETS_REGION_PROBE_FEED,
    Role,
    StackSpec,
    decode_config_value,
    split_stack_name,
    stack_by_name,
)

# Every fed key once (several roles are fed the same key, e.g. globalClusterArn).
_CONFIG_KEYS = tuple(
    dict.fromkeys(
        (
            "regions",
            *SECONDARY_FEED,
            *SECRETS_REGION_FEED,
            *SECRETS_REGION_PROBE_FEED,
            *DNS_PRIMARY_FEED,
            *FAILOVER_PRIMARY_FEED,
            *FAILOVER_PROBE_FEED,
        )
    )
)


def read_stack_config() -> tuple[Environment, StackSpec, dict[str, Any]]:
    """Work out the environment, this stack's role and its fed inputs from Pulumi config."""
    stack_name = pulumi.get_stack()
    cfg = pulumi.Config(CONFIG_NAMESPACE)
    definition = cfg.get("environmentDefinition")
    if definition:
        env = parse_environment(
            json.loads(definition), path=f"stack config {CONFIG_NAMESPACE}:environmentDefinition"
        )
    else:
        env = load_environment(cfg.get("environment") or split_stack_name(stack_name)[0])
    spec = stack_by_name(env, stack_name)
    fed: dict[str, Any] = {}
    for key in _CONFIG_KEYS:
        value = cfg.get(key)
        if value is not None:
            fed[key] = decode_config_value(value)
    return env, spec, fed


def program_from_config() -> dict[str, Any]:
    env, spec, fed = read_stack_config()
    return run_stack(StackContext(env=env, spec=spec, config=fed))


def run_stack(ctx: StackContext) -> dict[str, Any]:
    if ctx.spec.role is Role.DNS:
        return programs_dns.dns_program(ctx)
    if ctx.spec.role is Role.FAILOVER:
        return programs_failover.failover_program(ctx)
    return programs_regional.regional_program(ctx)
