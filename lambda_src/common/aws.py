"""boto3 clients cached for the life of a Lambda execution environment."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

# Short socket timeouts and botocore's standard retries (with backoff): a call that can't
# be made fails well inside the function's own timeout.
DEFAULT_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 5, "mode": "standard"})


class ClientCache:
    """``aws("ssm")`` returns one client per service, created on first use."""

    def __init__(self, config: Config = DEFAULT_CONFIG) -> None:
        self._config = config
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = boto3.client(service, config=self._config)  # type: ignore[call-overload]
            return self._clients[service]
