"""Polars for the catalog modules, imported on first use: ``nkl query`` reads the catalog without ever loading it."""

from __future__ import annotations

from importlib import import_module
from typing import Any


class _Polars:
    def __getattr__(self, attr: str) -> Any:
        return getattr(import_module("polars"), attr)


pl: Any = _Polars()
