"""Three environments (dev, staging, prod) on the test MariaDB, each with its own migrator
Lambda run in-process, bucket and parameter under moto: the promotion chain's fixture."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src.common.errors import LambdaCodeError
from lambda_src.common.writer import SqlWorkers
from lambda_src.migrator import handler as migrator_handler
from orchestrator.operate.schema import (
    EnvironmentStatus,
    execute_plan,
    read_status,
)
from tests.support.app_db import AppDb, drop_app_db, make_app_db
from tests.support.lambda_fake import InProcessLambda as WorkerLambdas
from tests.support.mariadb import MariaDBServer
from tests.support.migrator_workers import HOME, delegation, register_migrator_worker, sql_workers


class InProcessLambda:
    """boto3 Lambda client stand-in that runs one environment's migrator in this process."""

    def __init__(
        self,
        function_name: str,
        settings: migrator_handler.Settings,
        clients: dict[str, Any],
        workers: SqlWorkers,
    ) -> None:
        self.function_name, self.settings, self.clients = function_name, settings, clients
        self.workers = workers
        self.events: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert FunctionName == self.function_name, f"unexpected function {FunctionName}"
        assert InvocationType == "RequestResponse"
        event = json.loads(Payload)
        self.events.append(event)
        try:
            body: Any = migrator_handler.run(
                migrator_handler.Request.parse(event),
                self.settings,
                applied_by=self.function_name,
                workers=self.workers,
                **self.clients,
            )
        except LambdaCodeError as exc:
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(error).encode()),
            }
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


@dataclass
class Environment:
    name: str
    db: AppDb
    bucket: str
    prefix: str
    function_name: str
    parameter: str
    s3: Any
    ssm: Any
    lambda_client: InProcessLambda = field(repr=False)

    def status(self) -> EnvironmentStatus:
        return read_status(self.lambda_client, self.function_name, self.name)

    def execute(self, plan: Any) -> dict[str, Any]:
        return execute_plan(
            plan,
            s3=self.s3,
            bucket=self.bucket,
            prefix=self.prefix,
            lambda_client=self.lambda_client,
            function_name=self.function_name,
        )

    def applied(self) -> list[tuple[int, str, str]]:
        return [(a.version, a.filename, a.sha256) for a in self.status().applied]

    def published_version(self) -> str:
        return self.ssm.get_parameter(Name=self.parameter)["Parameter"]["Value"]


@pytest.fixture
def envs(mariadb: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Environment]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    created: list[AppDb] = []
    try:
        with mock_aws():
            s3, ssm, secrets = boto3.client("s3"), boto3.client("ssm"), boto3.client("secretsmanager")
            environments = {}
            for name in ("dev", "staging", "prod"):
                db = make_app_db(mariadb, env=name[:3])
                created.append(db)
                bucket = f"aurora-{name}-migrations-{uuid.uuid4().hex[:8]}"
                s3.create_bucket(Bucket=bucket)
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
                secret = secrets.create_secret(
                    Name=f"aurora-{name}-db-migrator-{uuid.uuid4().hex[:6]}",
                    SecretString=json.dumps(
                        {"username": db.migrator.username, "password": db.migrator.password}
                    ),
                )
                settings = migrator_handler.Settings(
                    db_name=db.database,
                    secret_arn=secret["ARN"],
                    bucket=bucket,
                    prefix=f"migrations/{name}/",
                    version_parameter=f"/aurora/{name}/schema/version",
                    environment=name,
                    lock_timeout=2,
                    ddl_lock_wait=10,
                    delegation=delegation(),
                )
                function = f"aurora-{name}-migrator"
                # Each environment's writer is its home cluster, reached through its home worker.
                lambdas = WorkerLambdas()
                register_migrator_worker(lambdas, HOME, mariadb)
                client = InProcessLambda(
                    function, settings, {"s3": s3, "ssm": ssm, "secrets": secrets}, sql_workers(lambdas)
                )
                environments[name] = Environment(
                    name, db, bucket, settings.prefix, function, settings.version_parameter, s3, ssm, client
                )
            yield environments
    finally:
        for db in created:
            drop_app_db(db)
