"""Atomic file writes for saved models: write to a temp name in the same folder, then replace."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it onto ``target`` if the block succeeds.

    Libraries that insist on writing to a file name (skops, LightGBM, safetensors) write to the
    yielded path, so a crash never leaves a half-written ``target`` behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh, unused name rather than mkstemp: mkstemp's 0600 mode would survive os.replace.
    tmp_path = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(target: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``target`` atomically."""
    with atomic_path(target) as tmp_path:
        tmp_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(source: Path) -> dict[str, Any]:
    """Read a JSON object written by ``write_json``."""
    return json.loads(source.read_text(encoding="utf-8"))
