"""What a stack program is given: the validated environment, its stack and the fed inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.environment import Environment
from model.topology import CONFIG_NAMESPACE, StackSpec


@dataclass(frozen=True)
class StackContext:
    env: Environment
    spec: StackSpec
    config: Mapping[str, Any]
    """Fed inputs, keys without the namespace (e.g. "globalClusterIdentifier")."""

    def require(self, key: str) -> Any:
        if key not in self.config:
            raise MissingStackConfig(self.spec.name, key)
        return self.config[key]


class MissingStackConfig(KeyError):
    def __init__(self, stack: str, key: str) -> None:
        super().__init__(
            f"stack {stack} needs config {CONFIG_NAMESPACE}:{key}, which the orchestrator sets from the "
            f"outputs of the stacks it depends on: run `infra up` (or `infra preview`) for the environment, "
            f"or set it with `pulumi config set {CONFIG_NAMESPACE}:{key} ... --stack {stack}`"
        )

    def __str__(self) -> str:
        return str(self.args[0])
