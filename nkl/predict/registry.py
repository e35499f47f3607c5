"""The predictor registry: targets that ``nkl predict`` estimates for every sample (``est_<target>`` columns).

A predictor is an extractor (same worker pool, content-addressed parts, resume and rejects) whose
output columns are estimates; its rows go to ``estimates_<target>``, and the ``estimates`` view joins
them per sample. Adding a target = one module with a ``Predictor`` subclass + one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import import_module
from typing import Any, ClassVar

import numpy as np

from nkl.config.values import did_you_mean
from nkl.errors import ConfigError
from nkl.features.registry import Extractor

DEFAULT_BATCH_SIZE = 8
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
            known = sorted([*PREDICTORS, *TARGET_ALIASES])
            raise ConfigError(f"Unknown prediction target '{name}' in [PREDICT] targets{did_you_mean(str(name), known)} "
                              f"Available: {', '.join(known)}")
        if target not in resolved:
            resolved.append(target)
    return resolved


class Predictor(Extractor):
    """Estimates one target from a mono signal; ``extract`` returns ``est_*`` names and values.

    Attributes:
        target: the registry name, e.g. ``snr``; rows go to ``estimates_<target>``.
        deterministic: the same audio always gives the same estimate (no sampling inside the model).
        source: where the model comes from ("signal processing", a wheel, a hub id or local folder).
    """

    target: ClassVar[str]
    deterministic: ClassVar[bool] = True
    source: ClassVar[str] = "signal processing"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

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
        return f"Estimating {self.target}" + (f" (batches of {self.batch_size} on {self.options.get('device') or 'cpu'})" if self.batched else "")

    @property
    def batch_size(self) -> int:
        """``[PREDICT] batch_size`` (default 8) for batched (model) predictors, 0 for per-file ones."""
        return max(1, int(self.options.get("batch_size") or DEFAULT_BATCH_SIZE)) if self.batched else 0

    def torch_device(self) -> str:
        """The torch device from ``options["device"]``: cuda when asked for and visible, else cpu (with a warning)."""
        import torch

        requested = str(self.options.get("device") or "cpu").strip().lower()
        if requested.startswith("cuda"):
            if torch.cuda.is_available():
                return requested
            logger.warning("%s: device = %s but no CUDA GPU is visible; running on the CPU", self.target, requested)
        elif requested != "cpu":
            raise ConfigError(f"Unknown device '{requested}' in [PREDICT] device; use cpu, cuda or cuda:N")
        return "cpu"

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
    """The predictor class registered under ``name``; ConfigError with a hint for unknown names."""
    target = PREDICTORS.get(TARGET_ALIASES.get(name, name))
    if target is None:
        raise ConfigError(f"Unknown prediction target '{name}' in [PREDICT] targets{did_you_mean(name, list(PREDICTORS))} "
                          f"Available: {', '.join(PREDICTORS)}")
    module, cls = target.split(":")
    return getattr(import_module(module), cls)
