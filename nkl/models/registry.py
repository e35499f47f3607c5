"""The model registry: every ``[MODEL] type`` nkl knows, collected from the family modules.

Adding a model means one new family module (exposing ``FAMILY``, ``SPECS`` and ``load_model``)
plus one entry in ``FAMILY_MODULES``. Family modules import their heavy libraries (sklearn,
LightGBM, torch) only inside ``build``/``fit``/``load``, so importing the registry stays cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from nkl.config.components import assign_keys, build_settings
from nkl.errors import ConfigError
from nkl.models import finetune_models, gmm_models, lightgbm_models, mlp, sklearn_models
from nkl.models.base import Estimator, ModelSpec

__all__ = ["FAMILY_LOADERS", "MODELS", "Estimator", "ModelSpec", "get_model_spec", "model_settings"]

FAMILY_MODULES: tuple[ModuleType, ...] = (sklearn_models, lightgbm_models, mlp, gmm_models, finetune_models)


def _collect_specs(modules: tuple[ModuleType, ...]) -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    for module in modules:
        for spec in module.SPECS:
            if spec.name in specs:
                raise RuntimeError(f"Model type {spec.name!r} is registered twice")
            specs[spec.name] = spec
    return dict(sorted(specs.items()))


MODELS: dict[str, ModelSpec] = _collect_specs(FAMILY_MODULES)
FAMILY_LOADERS: dict[str, Callable[[Path], Estimator]] = {module.FAMILY: module.load_model for module in FAMILY_MODULES}


def get_model_spec(name: str) -> ModelSpec:
    """Return the registry entry for ``[MODEL] type = name``.

    Raises:
        ConfigError: ``name`` is not registered; the message suggests the closest names and
            lists every choice.
    """
    try:
        return MODELS[name]
    except KeyError:
        pass
    choices = ", ".join(MODELS)
    close = difflib.get_close_matches(str(name), list(MODELS), n=3)
    # Equally close names come out in reverse alphabetical order; list them alphabetically.
    close.sort(key=lambda c: (-difflib.SequenceMatcher(None, str(name), c).ratio(), c))
    hint = "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else "."
    raise ConfigError(f"Unknown model type {name!r} in [MODEL] type{hint} Choices: {choices}")


def model_settings(config: Any) -> tuple[Any, list[str]]:
    """The chosen model's own settings from ``[MODEL]``, and warnings for keys of other models (ignored)."""
    from nkl.config.nkululeko_keys import ignored_keys
    from nkl.config.sections import ModelSection

    spec = get_model_spec(config.model.type)
    common = tuple(f.name for f in dataclasses.fields(ModelSection))
    per_model, warnings = assign_keys("MODEL", config.component_items("MODEL"), [(spec.name, spec)], list(MODELS.items()),
                                      ignored=ignored_keys("MODEL"), common=common)
    return build_settings(spec.settings, per_model[spec.name], "", "[MODEL]"), warnings
