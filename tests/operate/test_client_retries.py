"""Calls that must be sent once are sent once: the client configs of non-idempotent operations.

botocore's ``retries.max_attempts`` counts *retries* (``max_attempts: 1`` sends a request twice
on a throttle or a 5xx); ``total_max_attempts`` counts the first request too. Each config here
is exercised against a server that always answers 500, and the requests that reach it counted.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from lambda_src.failover import handler as decider
from orchestrator.operate import aws

_BODY = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
    b"<Message>always failing</Message></Error><RequestId>r</RequestId></ErrorResponse>"
)


class _Raw:
    """The raw body botocore reads from an HTTP response."""

    def stream(self, **_: Any) -> Any:
        yield _BODY


def sent(config: Config, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("rds", region_name="us-west-2", config=config)
    requests: list[Any] = []

    def answer_500(request: Any, **_: Any) -> AWSResponse:
        requests.append(request)
        return AWSResponse(request.url, 500, {"Content-Type": "text/xml"}, _Raw())  # type: ignore[arg-type]

    client.meta.events.register("before-send", answer_500)
    with pytest.raises(Exception):  # noqa: B017 - whatever the 500 becomes
        client.failover_global_cluster(GlobalClusterIdentifier="g", TargetDbClusterIdentifier="c")
    return len(requests)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("operator switchover/failover (ACTION_CONFIG)", aws.ACTION_CONFIG),
        ("operator synchronous migrator run (LONG_ACTION_CONFIG)", aws.LONG_ACTION_CONFIG),
        ("decider FailoverGlobalCluster (_ACT_CONFIG)", decider._ACT_CONFIG),
        ("decider veto read in the writer's region (_VETO_CONFIG)", decider._VETO_CONFIG),
    ],
)
def test_a_call_meant_to_be_sent_once_reaches_the_server_once(
    name: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sent(config, monkeypatch) == 1, name


def test_a_retried_read_config_does_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    # The counter above sees retries: READ_CONFIG's max_attempts 3 is the first request and
    # three retries.
    assert sent(aws.READ_CONFIG, monkeypatch) == 4
