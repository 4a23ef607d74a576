"""Guardrail rules: ownership is the home region, the writer is runtime state (DESIGN.md 4b)."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.analysis.guardrails.core import Graph, Hit, rule


@rule(
    "programs-writer-agnostic",
    "error",
    "no stack program reads where the writer is: after any failover the code has nothing to change",
    "FC-P-1; DESIGN.md section 4b (Ownership and the writer)",
)
def _writer_agnostic(graph: Graph) -> Iterator[Hit]:
    for stack, lookups in sorted(graph.writer_lookups.items()):
        yield (
            None,
            f"stack {stack} looks up the writer ({', '.join(sorted(set(lookups)))}): its resources would "
            "change when the writer moves. Fix: find the writer at run time (Lambda, CLI), never in a program",
        )
