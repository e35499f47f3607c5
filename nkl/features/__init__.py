"""Features: the extractor registry and the content-addressed feature cache.

Names load on first use: extraction workers import ``nkl.features.worker`` without the cache machinery.
"""

from nkl.lazy import lazy_getattr

_LAZY = {
    "ExtractionReport": "nkl.features.cache",
    "ensure_features": "nkl.features.cache",
    "load_features": "nkl.features.cache",
    "EXTRACTORS": "nkl.features.registry",
    "Extractor": "nkl.features.registry",
    "build_extractors": "nkl.features.registry",
    "get_extractor_class": "nkl.features.registry",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = sorted(_LAZY)
