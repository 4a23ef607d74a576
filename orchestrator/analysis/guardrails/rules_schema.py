"""Guardrail rules: The migration-set buckets of the schema pull model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orchestrator.analysis.guardrails.core import Graph, Hit, Node, rule
from orchestrator.analysis.guardrails.rules_lambdas import _as_list, _statements


def _bucket_refs(node: Node) -> set[str]:
    return {str(node.inputs.get("bucket")), node.resource.id} - {"None", ""}


def _denies_insecure_transport(policy: Any) -> bool:
    for statement in _statements(policy):
        condition = statement.get("Condition") or {}
        secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            return True
    return False


@rule(
    "migration-sets-private",
    "error",
    "buckets holding migration sets are private, versioned and TLS-only, and a role reads only its own "
    "environment's prefix (no environment reaches another's migrations)",
    "S3 User Guide, security best practices; DESIGN.md section 4 (pull model)",
)
def _migration_sets(graph: Graph) -> Iterator[Hit]:
    for bucket in graph.of_type("aws:s3/bucket:Bucket"):
        refs = _bucket_refs(bucket)
        related = [n for n in graph.nodes if n.stack == bucket.stack and str(n.inputs.get("bucket")) in refs]
        blocks = [n for n in related if n.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(b.inputs.get(f) is True for f in flags) for b in blocks):
            yield bucket, f"bucket {bucket.inputs.get('bucket')} does not block every kind of public access"
        versioning = [n for n in related if n.type == "aws:s3/bucketVersioning:BucketVersioning"]
        if not any(
            (v.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled" for v in versioning
        ):
            yield bucket, f"bucket {bucket.inputs.get('bucket')} is not versioned"
        policies = [n for n in related if n.type == "aws:s3/bucketPolicy:BucketPolicy"]
        if not any(_denies_insecure_transport(p.inputs.get("policy")) for p in policies):
            yield (
                bucket,
                f"bucket {bucket.inputs.get('bucket')} has no policy denying aws:SecureTransport=false",
            )
    own_prefix = f"/migrations/{graph.env.name}/"
    for node in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in _statements(node.inputs.get("policy")):
            actions = {str(a) for a in _as_list(statement.get("Action", []))}
            if statement.get("Effect") != "Allow" or not actions & {"s3:GetObject", "s3:GetObjectVersion"}:
                continue
            for resource in _as_list(statement.get("Resource", [])):
                if own_prefix not in str(resource):
                    yield (
                        node,
                        (
                            f"statement {statement.get('Sid', '?')} reads {resource}, outside this environment's "
                            f"prefix migrations/{graph.env.name}/"
                        ),
                    )
