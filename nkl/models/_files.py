"""JSON files of saved models, written atomically (``atomic_path`` is the catalog's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nkl.catalog.store import atomic_path

__all__ = ["atomic_path", "read_json", "write_json"]


def write_json(target: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``target`` atomically."""
    with atomic_path(target) as tmp_path:
        tmp_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(source: Path) -> dict[str, Any]:
    """Read a JSON object written by ``write_json``."""
    return json.loads(source.read_text(encoding="utf-8"))
