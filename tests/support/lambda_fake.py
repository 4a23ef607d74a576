"""An in-process Lambda API: ``invoke`` runs a registered handler with its own environment.

moto's Lambda runs functions in Docker, which these tests can't use. This fake answers
``Invoke`` the way Lambda does for a synchronous call: ``StatusCode`` 200, the handler's
return value as ``Payload``, and for an exception ``FunctionError: "Unhandled"`` with
``errorType``/``errorMessage`` in the payload. Each region is its own client, and a client
refuses a function ARN of another region (ResourceNotFoundException), as Lambda does.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Invocation:
    region: str
    function_arn: str
    step: str | None
    error_type: str | None


@dataclass
class _Function:
    handler: Callable[[dict[str, Any], Any], Any]
    environment: Mapping[str, str]
    reset: Callable[[], None]
    context: Any


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dataclass
class InProcessLambda:
    functions: dict[str, _Function] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)

    def register(
        self,
        arn: str,
        handler: Callable[[dict[str, Any], Any], Any],
        *,
        environment: Mapping[str, str],
        reset: Callable[[], None],
        context: Any,
    ) -> None:
        """``reset`` clears the function's cached settings, so each call reads its own environment."""
        self.functions[arn] = _Function(handler, dict(environment), reset, context)

    def client(self, region: str) -> _RegionClient:
        return _RegionClient(self, region)


@dataclass
class _RegionClient:
    service: InProcessLambda
    region: str

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "RequestResponse", (
            f"only synchronous invocation is modelled, got {InvocationType}"
        )
        function = self.service.functions.get(FunctionName)
        if function is None or FunctionName.split(":")[3] != self.region:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"Function not found: {FunctionName} (client region {self.region})",
                    }
                },
                "Invoke",
            )
        event = json.loads(Payload)
        function.reset()
        try:
            with _environment(function.environment):
                body = function.handler(event, function.context)
        except Exception as exc:
            self.service.invocations.append(
                Invocation(self.region, FunctionName, event.get("step"), type(exc).__name__)
            )
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(error).encode()),
            }
        finally:
            function.reset()
        self.service.invocations.append(Invocation(self.region, FunctionName, event.get("step"), None))
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
