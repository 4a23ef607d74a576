"""Guardrail rules: Customer-managed encryption of every store and rotation of every database secret."""

from __future__ import annotations

from collections.abc import Iterator

from model.naming import failover_tables
from orchestrator.analysis.guardrails.core import Graph, Hit, rule


@rule(
    "customer-managed-encryption",
    "error",
    "secrets, topics, log groups, buckets and tables are encrypted with customer-managed keys "
    "(except the failover tables: AWS owned key, no KMS call on the decision path)",
    "DESIGN.md section 4 (Encryption); issue 13 (failover tables)",
)
def _cmk(graph: Graph) -> Iterator[Hit]:
    checks = {
        "aws:secretsmanager/secret:Secret": "kmsKeyId",
        "aws:sns/topic:Topic": "kmsMasterKeyId",
        "aws:cloudwatch/logGroup:LogGroup": "kmsKeyId",
    }
    for node in graph.nodes:
        key = checks.get(node.type)
        if not key:
            continue
        value = str(node.inputs.get(key) or "")
        if not value:
            yield node, f"{node.type} {node.resource.name} has no {key}"
        elif "alias/aws/" in value:
            yield (
                node,
                f"{node.type} {node.resource.name} uses the AWS-managed key {value}, not a customer-managed one",
            )
    # The failover tables keep DynamoDB's default (AWS owned key) on purpose: their items hold
    # no secrets, and no KMS call may sit on the failover decision during a regional outage.
    exempt = set(failover_tables(graph.env).values())
    for node in graph.of_type("aws:dynamodb/table:Table"):
        if node.inputs.get("name") in exempt:
            continue
        sse = node.inputs.get("serverSideEncryption") or {}
        if not (sse.get("enabled") and sse.get("kmsKeyArn")):
            yield node, "table is not encrypted with a customer-managed key"
    buckets = {n.inputs.get("bucket") for n in graph.of_type("aws:s3/bucket:Bucket")}
    encrypted = {
        n.inputs.get("bucket")
        for n in graph.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if any(
            (r.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
            for r in n.inputs.get("rules", [])
        )
    }
    for node in graph.of_type("aws:s3/bucket:Bucket"):
        if node.resource.id not in encrypted and node.inputs.get("bucket") not in encrypted:
            yield node, f"bucket {node.inputs.get('bucket')} has no KMS default encryption"
    del buckets


@rule(
    "secrets-rotate",
    "error",
    "every database secret rotates on a schedule",
    "FC-000-5",
)
def _rotation(graph: Graph) -> Iterator[Hit]:
    rotated = {
        str(n.inputs.get("secretId"))
        for n in graph.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    }
    for node in graph.of_type("aws:secretsmanager/secret:Secret"):
        if node.resource.id not in rotated:
            yield node, f"secret {node.inputs.get('name')} has no rotation schedule"


# --- DNS and health checks ---------------------------------------------------------------------

_R53_STATISTICS = {"Average", "Minimum", "Maximum", "Sum", "SampleCount"}
