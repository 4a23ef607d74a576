"""Bounded excerpts of values echoed in error messages.

Every message that shows a value the operator wrote goes through :func:`excerpt`, so no input
(a 5 MB string, a huge list, an expanded structure) can make an error message unbounded.
"""

from __future__ import annotations

from typing import Any

EXCERPT_CHARS = 80
"""At most this many characters of a value's representation appear in a message."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters plus ``…(N chars)`` when longer.

    Containers are rendered lazily (at most ``limit`` characters' worth of items are looked
    at), so a deeply shared or enormous structure costs bounded time, not its full size."""
    text = _bounded_repr(value, limit + 1)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({_size(value)} chars)"


def _size(value: Any) -> str:
    if isinstance(value, str | bytes):
        return str(len(repr(value)))
    if isinstance(value, list | tuple | dict | set | frozenset):
        return f"{len(value)} items, more than {EXCERPT_CHARS}"
    return f"more than {EXCERPT_CHARS}"


def _bounded_repr(value: Any, budget: int, depth: int = 0) -> str:
    """A representation of at most about ``budget`` characters (never the whole of a big value)."""
    if isinstance(value, str):
        return repr(value[: budget + 2]) if len(value) > budget else repr(value)
    if isinstance(value, bytes):
        return repr(value[: budget + 2])
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        parts: list[str] = []
        used = 2
        for key, item in value.items():
            piece = f"{_bounded_repr(key, budget - used, depth + 1)}: {_bounded_repr(item, budget - used, depth + 1)}"
            parts.append(piece)
            used += len(piece) + 2
            if used > budget:
                break
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        items: list[str] = []
        used = 2
        for item in value:
            piece = _bounded_repr(item, budget - used, depth + 1)
            items.append(piece)
            used += len(piece) + 2
            if used > budget:
                break
        return open_ + ", ".join(items) + close
    text = repr(value)
    return text[: budget + 1]
