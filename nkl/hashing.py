"""Content hashes used as cache keys. A leaf module: it imports nothing of nkl's stages."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any


def stable_hash(value: Any, length: int = 16) -> str:
    """Hash a JSON-able value independently of dict order.

    >>> stable_hash({"a": 1, "b": [2, 3]}) == stable_hash({"b": [2, 3], "a": 1})
    True
    """
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt", ".index.json")
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
CONTENT_HASH_LIMIT = 64 * 2**20  # weight files up to this size are hashed by content; larger ones by size and mtime


@lru_cache(maxsize=256)
def _content_hash(path: str, size: int, mtime_ns: int) -> str:
    """BLAKE2b of a file's bytes; cached per (path, size, mtime) so that repeated calls stay cheap."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """BLAKE2b of a file's bytes (cached per path, size and modification time)."""
    stat = Path(path).stat()
    return _content_hash(str(path), stat.st_size, stat.st_mtime_ns)


def local_model_hash(folder: Path) -> str:
    """A hash of a local model folder: its config files' text and its weight files (names, sizes, and the content of
    files up to 64 MiB, the modification time of larger ones).

    Replacing or rewriting a weight file changes it, so features computed with other weights are never reused.
    """
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in CONFIG_SUFFIXES and p.stat().st_size < 1_000_000}
    weights = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)):
        stat = path.stat()
        stamp = _content_hash(str(path), stat.st_size, stat.st_mtime_ns) if stat.st_size <= CONTENT_HASH_LIMIT else stat.st_mtime_ns
        weights.append([str(path.relative_to(folder)), stat.st_size, stamp])
    return stable_hash({"config": texts, "weights": weights})
