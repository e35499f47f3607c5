"""Content hashes used as cache keys. A leaf module: it imports nothing of nkl's stages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def stable_hash(value: Any, length: int = 16) -> str:
    """Hash a JSON-able value independently of dict order.

    >>> stable_hash({"a": 1, "b": [2, 3]}) == stable_hash({"b": [2, 3], "a": 1})
    True
    """
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt")


def local_model_hash(folder: Path) -> str:
    """A hash of a local model folder: its config files' text and its weight files' names, sizes and mtimes.

    Replacing or rewriting a weight file changes it, so features computed with other weights are never reused.
    """
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in (".json", ".yaml", ".yml") and p.stat().st_size < 1_000_000}
    weights = sorted(p for p in folder.rglob("*") if p.is_file() and (p.name.endswith(WEIGHT_SUFFIXES) or p.name.endswith(".index.json")))
    return stable_hash({
        "config": texts,
        "weights": [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in weights],
    })
