"""Where the tests find the repository and the sample events (tests/events/*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The repository's top folder."""
EVENTS = ROOT / "tests" / "events"


def load_event(name: str) -> Any:
    """A sample event by file stem, e.g. ``load_event("health_scheduled_event")``."""
    return json.loads((EVENTS / f"{name}.json").read_text())
