"""openSMILE features (``type = ['os']``): eGeMAPS, ComParE and friends, functionals or pooled LLDs."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np

from nkl.config.sections import FeatsSection
from nkl.features.registry import Extractor


class OpenSmileExtractor(Extractor):
    """openSMILE through the ``opensmile`` package; ``level = lld`` pools frames to mean and std."""

    name = "os"
    sample_rate = None  # openSMILE's sets work at any rate; the native rate matches nkululeko's features
    min_duration = 0.02

    def __init__(self, feats: FeatsSection) -> None:
        self.feature_set = feats.set
        self.level = feats.level
        self._smile: Any = None

    def params(self) -> dict[str, Any]:
        return {"set": self.feature_set, "level": self.level}

    def versions(self) -> dict[str, str]:
        return {"opensmile": version("opensmile")}

    def setup(self) -> None:
        import opensmile

        level = opensmile.FeatureLevel.Functionals if self.level == "functionals" else opensmile.FeatureLevel.LowLevelDescriptors
        self._smile = opensmile.Smile(feature_set=opensmile.FeatureSet[self.feature_set], feature_level=level)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_smile": None}

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        if self._smile is None:
            self.setup()
        frame = self._smile.process_signal(signal, sample_rate)
        values = frame.to_numpy(dtype=np.float64)
        names = [str(c) for c in frame.columns]
        if self.level == "functionals":
            return names, values[0]
        pooled = np.concatenate([np.nanmean(values, axis=0), np.nanstd(values, axis=0)])
        return [f"{n}_mean" for n in names] + [f"{n}_std" for n in names], pooled
