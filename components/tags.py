"""Tags: merged by one function in one place.

The environment's base tags (Environment, Project, ManagedBy, CostCenter and any extras)
reach every taggable resource through the providers' ``default_tags``; resources add only
their own ``Name`` (and role-specific tags) through :func:`resource_tags`.
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_TAG_KEYS = ("Environment", "Project", "ManagedBy", "CostCenter")


def resource_tags(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tags a resource sets itself: its Name plus extras (default tags come from the provider)."""
    return {**(extra or {}), "Name": name}
