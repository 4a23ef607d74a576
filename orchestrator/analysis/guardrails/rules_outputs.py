"""Guardrail rules: Secret replication and the outputs integrators need."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.analysis.guardrails.core import Graph, Hit, rule


@rule(
    "secret-replicated-to-every-region",
    "error",
    "the credentials secret is replicated to every other region with that region's key",
    "DESIGN.md section 4 (credentials available in every region)",
)
def _secret_replicas(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:secretsmanager/secret:Secret"):
        if not str(node.inputs.get("name", "")).endswith("/master"):
            continue
        replicas = {r.get("region"): r for r in node.inputs.get("replicas", []) or []}
        for region in graph.env.secret_replica_regions:
            if region not in replicas:
                yield node, f"not replicated to region {region}"
            elif not replicas[region].get("kmsKeyId"):
                yield node, f"replica in {region} has no customer-managed key"


# Outputs integrators need from every regional stack (FC-004-8).
REQUIRED_REGIONAL_OUTPUTS = (
    "vpc_id",
    "private_subnet_ids",
    "private_route_table_ids",
    "db_security_group_id",
    "lambda_security_group_id",
    "app_security_group_id",
    "kms_key_arn",
    "cluster_identifier",
    "cluster_arn",
    "cluster_endpoint",
    "reader_endpoint",
    "port",
    "master_secret_arn",
    "health_function_arn",
    "layer_arn",
    "alarm_topic_arn",
    "writer_health_alarm_name",
)


@rule(
    "regional-outputs-complete",
    "error",
    "every regional stack exports what integrators need (network, keys, endpoints, secret, functions)",
    "FC-004-8",
    cross_stack=True,
)
def _outputs(graph: Graph) -> Iterator[Hit]:
    for stack, outputs in graph.outputs.items():
        if graph.roles[stack] in ("dns", "failover"):  # not regional stacks
            continue
        missing = [o for o in REQUIRED_REGIONAL_OUTPUTS if o not in outputs]
        if missing:
            yield None, f"stack {stack} does not export {', '.join(missing)}"
        for key, value in outputs.items():
            if key.endswith(("_endpoint", "_address")) and value is not None and not isinstance(value, str):
                yield (
                    None,
                    f"stack {stack} output {key} is {type(value).__name__}, not a plain string (FC-004-2)",
                )


# --- Lambda ----------------------------------------------------------------------------------
