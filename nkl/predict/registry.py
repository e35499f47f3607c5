"""The predictor registry: targets that ``nkl predict`` estimates for every sample (``est_<target>`` columns).

A predictor is an extractor (same worker pool, content-addressed parts, resume and rejects) whose
output columns are estimates; its rows go to ``estimates_<target>``, and the ``estimates`` view joins
them per sample. Adding a target = one module with a ``Predictor`` subclass + one entry here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from importlib import import_module
from typing import Any, ClassVar

import numpy as np

from nkl.choices import unknown_choice
from nkl.errors import ConfigError
from nkl.features.registry import Extractor

DEFAULT_BATCH_SIZE = 0  # auto: 64 on a GPU, 8 on the CPU (see Extractor.batch_size)
logger = logging.getLogger(__name__)

# target name in [PREDICT] targets → "module:Class" (imported only when used)
PREDICTORS: dict[str, str] = {
    "snr": "nkl.predict.snr:SnrPredictor",
    "mos": "nkl.predict.dnsmos:DnsmosPredictor",
    "agender": "nkl.predict.wav2vec2_heads:AgeGenderPredictor",
    "emotion_dims": "nkl.predict.wav2vec2_heads:EmotionDimsPredictor",
    "squim": "nkl.predict.squim:SquimObjectivePredictor",
    "mos_squim": "nkl.predict.squim:SquimSubjectivePredictor",
    "speaker": "nkl.predict.speaker:SpeakerPredictor",
}

# names users write (nkululeko's) → the registered target that estimates them
TARGET_ALIASES: dict[str, str] = {
    "pesq": "squim",
    "stoi": "squim",
    "sdr": "squim",
    "gender": "agender",
    "age": "agender",
    "arousal": "emotion_dims",
    "valence": "emotion_dims",
    "dominance": "emotion_dims",
    "dnsmos": "mos",
    "dnsmos_sig": "mos",
    "dnsmos_bak": "mos",
    "dnsmos_ovrl": "mos",
}


def resolve_targets(names: list[str]) -> list[str]:
    """Registered targets for the names a user wrote, in order, each once (``['pesq', 'sdr', 'age']`` → ``squim, agender``).

    >>> resolve_targets(["snr", "pesq", "stoi", "gender", "age", "snr"])
    ['snr', 'squim', 'agender']
    """
    resolved: list[str] = []
    for name in names:
        target = TARGET_ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
        if target not in PREDICTORS:
            raise ConfigError(unknown_choice("prediction target", name, "[PREDICT] targets", sorted([*PREDICTORS, *TARGET_ALIASES])))
        if target not in resolved:
            resolved.append(target)
    return resolved


class Predictor(Extractor):
    """Estimates one target from a mono signal; ``extract`` returns ``est_*`` names and values.

    Its own keys (``Settings``) are written ``<target>.<field>`` in ``[PREDICT]``, or in ``[FEATS]`` when the
    predictor serves as a feature extractor (same rows in ``estimates_<target>`` either way).

    Attributes:
        target: the registry name, e.g. ``snr``; rows go to ``estimates_<target>``.
        deterministic: the same audio always gives the same estimate (no sampling inside the model).
        source: where the model comes from ("signal processing", a wheel, a hub id or local folder).
        options: the settings as a dict, with ``device``, ``batch_size`` and anything the caller adds (``experiment``).
    """

    target: ClassVar[str]
    deterministic: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "target" in cls.__dict__ and "key_prefix" not in cls.__dict__:
            cls.key_prefix = cls.target  # [PREDICT] agender.model, speaker.method, ...

    def __init__(self, settings: Any = None, *, kind: str = "", device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings, kind=kind or self.target, device=device, batch_size=batch_size)
        self.options = {**dataclasses.asdict(self.settings), "device": self.device, "batch_size": batch_size, **dict(extra or {})}

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        """Batched predictors: one signal as a batch of one (per-file predictors override this)."""
        if not self.batched:
            raise NotImplementedError(f"{type(self).__name__} must implement extract")
        if sample_rate != self.sample_rate:
            raise ValueError(f"{self.target} needs {self.sample_rate} Hz audio, got {sample_rate} Hz")
        return list(self.names), self.extract_batch([signal])[0]

    def __getstate__(self) -> dict[str, Any]:
        """Workers get the settings, not a loaded model (``_model``): each process loads its own in ``setup()``."""
        state = dict(self.__dict__)
        if "_model" in state:
            state["_model"] = None
        return state

    @property
    def progress_label(self) -> str:
        return f"Estimating {self.target}" + (f" (batches of {self.batch_size} on {self.device})" if self.batched else "")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.target

    @property
    def table(self) -> str:
        return f"estimates_{self.target}"

    def finalize(self, ctx: Any, samples: Any) -> Any:
        """A database-level step once every sample has its row (the speaker target clusters here); nothing by default."""
        return None


def get_predictor_class(name: str) -> type[Predictor]:
    """The predictor class registered under ``name`` (or an alias); ConfigError with a hint for unknown names."""
    target = PREDICTORS.get(TARGET_ALIASES.get(name, name))
    if target is None:
        raise ConfigError(unknown_choice("prediction target", name, "[PREDICT] targets", sorted([*PREDICTORS, *TARGET_ALIASES])))
    module, cls = target.split(":")
    return getattr(import_module(module), cls)


def registered_predictors() -> list[tuple[str, type[Predictor]]]:
    """Every registered predictor class (for telling a key of an unused target from a typo)."""
    return [(name, get_predictor_class(name)) for name in PREDICTORS]
