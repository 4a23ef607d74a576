"""Guardrail rules: Accounts, providers, tags and network exposure."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.analysis.guardrails.core import Graph, Hit, _decode, rule

AWS_PROVIDER = "pulumi:providers:aws"


@rule(
    "provider-pinned-to-account",
    "error",
    "every AWS provider pins the environment's account and assumes its deploy role",
    "FC-000-3",
)
def _provider_pinned(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type(AWS_PROVIDER):
        allowed = _decode(node.inputs.get("allowedAccountIds"))
        roles = _decode(node.inputs.get("assumeRoles")) or []
        if allowed != [graph.env.account_id]:
            yield node, f"allowedAccountIds is {allowed!r}; it must be [{graph.env.account_id!r}]"
        if not any(r.get("roleArn") == graph.env.deploy_role_arn for r in roles if isinstance(r, dict)):
            yield node, f"does not assume the environment's deploy role {graph.env.deploy_role_arn}"


@rule(
    "no-ambient-provider",
    "error",
    "no resource uses the ambient default provider (it would deploy into whatever account the shell has)",
    "FC-000-3",
)
def _no_default_provider(graph: Graph) -> Iterator[Hit]:
    for node in graph.nodes:
        r = node.resource
        if not r.custom or r.type.startswith("pulumi:providers:") or not r.type.startswith("aws:"):
            continue
        if not r.provider or "::default" in r.provider:
            yield node, f"{r.type} {r.name} has no explicit provider (it would use the ambient default one)"


@rule(
    "required-tags",
    "error",
    "every taggable resource carries Environment, Project, ManagedBy and CostCenter (provider default tags count)",
    "FC-004-10",
)
def _required_tags(graph: Graph) -> Iterator[Hit]:
    from components.tags import REQUIRED_TAG_KEYS

    for node in graph.of_type(AWS_PROVIDER):
        tags = (_decode(node.inputs.get("defaultTags")) or {}).get("tags", {})
        missing = [k for k in REQUIRED_TAG_KEYS if not tags.get(k)]
        if missing:
            yield node, f"provider default tags lack {', '.join(missing)}"


# --- Network ------------------------------------------------------------------------------

_OPEN = ("0.0.0.0/0", "::/0")


@rule(
    "no-open-database-port",
    "error",
    "no security group ingress from 0.0.0.0/0 or ::/0 to the database port",
    "DESIGN.md section 4 (Network); security review",
)
def _no_open_db(graph: Graph) -> Iterator[Hit]:
    for node in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        i = node.inputs
        low, high = i.get("fromPort", 0), i.get("toPort", 65535)
        opens_db = i.get("ipProtocol") in ("-1", "tcp", "6") and (
            low <= 3306 <= high or i.get("ipProtocol") == "-1"
        )
        if opens_db and (i.get("cidrIpv4") in _OPEN or i.get("cidrIpv6") in _OPEN):
            yield node, f"ingress to port 3306 from {i.get('cidrIpv4') or i.get('cidrIpv6')}"
    for node in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule_ in node.inputs.get("ingress", []) or []:
            all_traffic = str(rule_.get("protocol")) in ("-1", "all")
            covers = all_traffic or rule_.get("fromPort", 0) <= 3306 <= rule_.get("toPort", 0)
            sources = {*list(rule_.get("cidrBlocks") or []), *list(rule_.get("ipv6CidrBlocks") or [])}
            if covers and sources & set(_OPEN):
                yield node, f"inline ingress to port 3306 from {', '.join(sorted(sources & set(_OPEN)))}"


# --- Aurora --------------------------------------------------------------------------------
