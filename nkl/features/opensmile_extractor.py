"""openSMILE features (``type = ['os']``): eGeMAPS, ComParE and friends, functionals or pooled LLDs."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np

from nkl.config.sections import key
from nkl.features.registry import Extractor

OPENSMILE_SETS = ("eGeMAPSv02", "ComParE_2016", "GeMAPSv01b", "eGeMAPSv01b", "GeMAPSv01a", "eGeMAPSv01a", "emobase")


@dataclass(frozen=True)
class OpenSmileSettings:
    """[FEATS] keys of ``os``."""

    set: str = key("eGeMAPSv02", "openSMILE feature set.", aliases=("set",), choices=OPENSMILE_SETS)
    level: str = key("functionals", "functionals, or lld (frame values pooled to mean and std per sample).", aliases=("level",),
                     choices=("functionals", "lld"))


class OpenSmileExtractor(Extractor):
    """openSMILE through the ``opensmile`` package; ``level = lld`` pools frames to mean and std."""

    name = "os"
    Settings = OpenSmileSettings
    key_prefix = "os"
    sample_rate = None  # openSMILE's sets work at any rate; the native rate matches nkululeko's features
    min_duration = 0.02
    source = "openSMILE (in the opensmile wheel)"

    def __init__(self, settings: OpenSmileSettings | None = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._smile: Any = None

    @property
    def feature_set(self) -> str:
        return self.settings.set

    @property
    def level(self) -> str:
        return self.settings.level

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
