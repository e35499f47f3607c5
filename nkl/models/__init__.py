"""Models: the registry of ``[MODEL] type`` values, one module per family, and persistence."""

from nkl.models.base import Estimator, ModelSpec
from nkl.models.persist import load_estimator, save_estimator
from nkl.models.registry import MODELS, get_model_spec

__all__ = [
    "MODELS",
    "Estimator",
    "ModelSpec",
    "get_model_spec",
    "load_estimator",
    "save_estimator",
]
