"""Features: the extractor registry and the content-addressed feature cache.

Names load on first use: extraction workers import ``nkl.features.worker`` without the cache machinery.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "ExtractionReport": "nkl.features.cache",
    "ensure_features": "nkl.features.cache",
    "load_features": "nkl.features.cache",
    "EXTRACTORS": "nkl.features.registry",
    "Extractor": "nkl.features.registry",
    "build_extractors": "nkl.features.registry",
    "get_extractor_class": "nkl.features.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nkl.features' has no attribute {name!r}")


__all__ = sorted(_LAZY)
