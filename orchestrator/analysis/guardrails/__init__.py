"""Guardrails: rules over the planned resource graph of a whole environment.

Each rule is a small function over :class:`Graph` with an id, a severity, a one-line
rationale and its source (an AWS page or a FAILURE_CATALOG id); the rule modules are
grouped by what they guard. ``infra plan`` evaluates them; ``infra rules`` lists them, in
the order the modules are imported here.
"""

# isort: off
# Imported to register their rules, in this order: the order of `infra rules` and of findings.
from orchestrator.analysis.guardrails import (  # noqa: F401
    rules_accounts,
    rules_database,
    rules_outputs,
    rules_lambdas,
    rules_encryption,
    rules_dns,
    rules_schema,
    rules_ownership,
    rules_failover,
)

# isort: on
from orchestrator.analysis.guardrails.core import (
    RULES,
    UNKNOWN,
    Graph,
    Hit,
    Node,
    Rule,
    evaluate,
    evaluate_graph,
)

__all__ = ["RULES", "UNKNOWN", "Graph", "Hit", "Node", "Rule", "evaluate", "evaluate_graph"]
