"""Features: the extractor registry and the content-addressed feature cache."""

from nkl.features.cache import ExtractionReport, ensure_features, load_features
from nkl.features.registry import EXTRACTORS, Extractor, build_extractors, get_extractor_class

__all__ = ["EXTRACTORS", "ExtractionReport", "Extractor", "build_extractors", "ensure_features", "get_extractor_class", "load_features"]
