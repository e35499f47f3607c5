"""The immutable experiment plan: load → filter → split → features → scale → fit → evaluate.

A ``Plan`` is a validated ``Config`` seen as stages. Building one does no work but checks everything that can
be checked without audio: the model type and its keys, each extractor and its keys (a model folder that does
not exist, a bad layer). ``execute`` runs the stages and ``explain`` asks the same stages what the catalog holds.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from nkl.config.components import settings_dict
from nkl.config.config import Config
from nkl.errors import ConfigError
from nkl.features.ray_engine import require_ray
from nkl.features.registry import Extractor, build_extractors
from nkl.models.balancing import canonical as balancing_canonical
from nkl.models.balancing import check as check_balancing
from nkl.models.registry import get_model_spec, model_settings
from nkl.plan.stages import Stage, build_stages

logger = logging.getLogger("nkl")

# The old name of a stage, kept for code that imported it.
Step = Stage


@dataclass(frozen=True)
class Plan:
    """What an experiment will do; validated when built, run by ``nkl.plan.execute``."""

    config: Config
    augment: Any = None  # [AUGMENT] settings (nkl.augment.AugmentSettings) when nkl aug_train runs the plan

    def __post_init__(self) -> None:
        c = self.config
        c.validate()
        if c.exp.engine == "ray":
            require_ray()  # engine = ray without the extra fails before any work
        spec = get_model_spec(c.model.type)
        finetune = c.model.type == "finetune"  # trains on the audio; classification or regression as [EXP] type says
        if finetune and c.model.cv_folds:
            raise ConfigError("[MODEL] type = finetune does not run logo or k_fold_cross folds; use a train/dev/test split")
        if c.exp.type and spec.task != c.exp.type and not finetune:
            raise ConfigError(
                f"[MODEL] type '{c.model.type}' is a {spec.task} model but [EXP] type is {c.exp.type}; "
                "pick a matching model (e.g. svm/svr, xgb/xgr, mlp/mlp_reg)"
            )
        settings, warnings = model_settings(c)
        from nkl.models.train import model_params

        spec.build({**model_params(c), "epochs": 1}, 0)  # a bad layers, drop or choice fails now, before any extraction
        check_balancing(c.feats.balancing, c.exp.type or spec.task)
        extractors = [] if finetune else build_extractors(c, warnings=warnings)  # unknown extractors, keys, model paths fail now
        object.__setattr__(self, "_model_settings", settings)
        object.__setattr__(self, "_warnings", tuple(warnings))
        object.__setattr__(self, "_extractors", extractors)

    def _pretrained_identity(self) -> dict[str, str]:
        from nkl.features.model_source import model_identity

        return model_identity(self.model_settings.pretrained_model, "[MODEL] pretrained_model")

    @property
    def name(self) -> str:
        return self.config.exp.name

    @property
    def task(self) -> str:
        return self.config.exp.type or get_model_spec(self.config.model.type).task

    @property
    def eval_split(self) -> str:
        """The split the final results are computed on: test, or the pooled folds of a speaker-grouped (logo) run."""
        model = self.config.model
        return "logo" if model.logo else "kfold" if model.k_fold_cross else "test"

    @property
    def model_settings(self) -> Any:
        """The chosen model's own settings (``C_val`` for svm, ``layers`` for mlp, ...)."""
        return self._model_settings  # type: ignore[attr-defined]

    @property
    def model_settings_dict(self) -> dict[str, Any]:
        return settings_dict(self.model_settings)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The config's warnings and those of resolving the components' keys (keys of models or extractors not used)."""
        config = [w for w in self.config.warnings if not (self.augment is not None and w.startswith("section [AUGMENT]"))]
        return (*config, *self._warnings)  # type: ignore[attr-defined]

    @property
    def extractors(self) -> list[Extractor]:
        return self._extractors  # type: ignore[attr-defined]

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        return build_stages(self)

    @property
    def steps(self) -> tuple[Stage, ...]:
        """The stages (the name used by the first API)."""
        return self.stages

    def hash_inputs(self) -> dict[str, Any]:
        """What the fit and evaluation depend on besides the split and the library versions: only the chosen components."""
        c = self.config
        model_common = {f.name: getattr(c.model, f.name) for f in dataclasses.fields(c.model)  # not secrets, device or n_jobs
                        if not f.metadata.get("secret") and f.metadata.get("hashed", True)
                        and not (f.metadata.get("sparse") and getattr(c.model, f.name) == f.default)}
        inputs = {"extractors": [e.spec_hash for e in self.extractors], "features": c.feats.features, "scale": c.feats.scale,
                  "nan_strategy": c.feats.nan_strategy, "model": model_common, "model_settings": self.model_settings_dict,
                  "runs": c.exp.runs, "epochs": c.exp.epochs, "seed": c.exp.seed, "task": self.task, "labels": c.data.labels,
                  "save": c.exp.save}
        if c.model.type == "finetune":  # replaced pretrained weights change the result
            inputs["pretrained"] = self._pretrained_identity()
        sampler = balancing_canonical(c.feats.balancing)
        if sampler:  # only when set: adding the key changed no existing experiment's hash
            inputs |= {"balancing": sampler, "balancing_random_state": c.feats.balancing_random_state}
        return inputs
