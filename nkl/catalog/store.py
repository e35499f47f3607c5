"""Atomic file writes: write to a fresh temp name in the same folder, then ``os.replace``."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it onto ``target`` when the block succeeds.

    Libraries that insist on writing to a file name (Parquet, skops, LightGBM, safetensors) write to the
    yielded path, so a crash never leaves a half-written ``target``. The name is fresh rather than made
    by mkstemp, whose owner-only mode would survive the rename.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp path next to ``path`` and move it into place."""
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write a Parquet file atomically."""
    return atomic_write(path, lambda tmp: df.write_parquet(tmp, compression="zstd", statistics=True))


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: Path) -> Path:
    """Write a binary file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
