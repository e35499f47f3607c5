"""Praat voice features (``type = ['praat']``): pitch, voice quality, formants, speech rate, pauses, vocal tract.

Per file, in the worker pool, through parselmouth (``nkl/features/praat_voice.py`` holds the measurements).
Nothing is fitted over the database: nkululeko's z-scores and PCAs over train and test together are left out.
A feature Praat cannot measure on a file is NaN ([FEATS] nan_strategy fills it from training data); a file with
no voiced frame is recorded in ``rejects``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from nkl.choices import unknown_choice
from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError
from nkl.features.praat_voice import GROUPS, PRAAT_FEATURES, praat_features
from nkl.features.registry import Extractor


@dataclass(frozen=True)
class PraatSettings:
    """[FEATS] keys of ``praat``."""

    features: list = key([], "Keep only these groups (pitch, voice_quality, formants, speech_rate, pauses, vocal_tract) or feature "
                         "names (default: all 42).")
    f0_min: float = key(75.0, "Lowest pitch searched (Hz).")
    f0_max: float = key(600.0, "Highest pitch searched (Hz).")


class PraatExtractor(Extractor):
    """42 Praat measurements per file (see ``nkl.features.praat_voice`` for each one's definition)."""

    name = "praat"
    Settings = PraatSettings
    key_prefix = "praat"
    sample_rate = None  # Praat works at the file's own rate
    min_duration = 0.1
    source = "Praat through praat-parselmouth"

    def columns(self) -> list[str]:
        """The feature names this extractor gives, in order."""
        wanted = [str(f) for f in self.settings.features]
        if not wanted:
            return list(PRAAT_FEATURES)
        out: list[str] = []
        for item in wanted:
            names = GROUPS.get(item, (item,) if item in PRAAT_FEATURES else None)
            if names is None:
                raise ConfigError(unknown_choice("praat feature or group", item, "[FEATS] praat.features", [*GROUPS, *PRAAT_FEATURES]))
            out += [n for n in names if n not in out]
        return out

    def validate(self) -> None:
        self.columns()
        if not 0 < self.settings.f0_min < self.settings.f0_max:
            raise ConfigError(f"[FEATS] praat.f0_min ({self.settings.f0_min}) must be above 0 and below praat.f0_max ({self.settings.f0_max})")

    def params(self) -> dict[str, Any]:
        return {"f0_min": self.settings.f0_min, "f0_max": self.settings.f0_max, "features": self.columns(), "definitions": 1}

    @property
    def table(self) -> str:
        return "features_praat"

    def versions(self) -> dict[str, str]:
        try:
            return {"praat-parselmouth": version("praat-parselmouth")}
        except PackageNotFoundError:
            raise MissingExtraError("praat", "praat-parselmouth") from None

    def setup(self) -> None:
        self.versions()

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        values = praat_features(signal, sample_rate, f0_min=self.settings.f0_min, f0_max=self.settings.f0_max)
        columns = self.columns()
        if len(columns) == len(PRAAT_FEATURES):
            return columns, values
        index = {n: i for i, n in enumerate(PRAAT_FEATURES)}
        return columns, values[[index[c] for c in columns]]
