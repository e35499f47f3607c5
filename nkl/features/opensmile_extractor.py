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
    worker_modules = ("opensmile",)

    def __init__(self, settings: OpenSmileSettings | None = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._smile: Any = None
        self._engines: dict[int, _ReusedEngine | None] = {}

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
        self._engines = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_smile": None, "_engines": {}}

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        if self._smile is None:
            self.setup()
        values = self._run(signal, sample_rate)
        names = list(self._smile.feature_names)
        if self.level == "functionals":
            return names, values[0]
        pooled = np.concatenate([np.nanmean(values, axis=0), np.nanstd(values, axis=0)])
        return [f"{n}_mean" for n in names] + [f"{n}_std" for n in names], pooled

    def _run(self, signal: np.ndarray, sample_rate: int) -> np.ndarray:
        """A frames × features matrix: on a reused openSMILE engine when one can be had, else ``Smile.__call__``."""
        engine = self._engine(sample_rate)
        if engine is None:
            return np.asfortranarray(self._smile(signal, sample_rate)[0].T, dtype=np.float64)
        try:
            return engine.process(signal, self._smile.num_features)
        except Exception:
            self._engines[sample_rate] = None  # a failed run leaves the engine in an unknown state: this rate goes the public way
            engine.free()
            raise

    def _engine(self, sample_rate: int) -> _ReusedEngine | None:
        if sample_rate not in self._engines:
            if len(self._engines) >= 4:  # a corpus of many rates: keep a few engines, not one per rate
                for old in self._engines.values():
                    if old is not None:
                        old.free()
                self._engines.clear()
            try:
                self._engines[sample_rate] = _ReusedEngine(self._smile, sample_rate)
            except Exception:  # noqa: BLE001 - opensmile's internals moved: the public path gives the same values
                self._engines[sample_rate] = None
        return self._engines[sample_rate]


class _ReusedEngine:
    """One initialised openSMILE instance run once per signal, reset in between.

    ``Smile`` parses the feature set's config files and builds a new openSMILE instance for every signal (4.2 ms
    parse + 1.3 ms free of the ~32 ms a 2 s EmoDB file costs); openSMILE's own API (``smile_reset``) resets an
    instance after a run so that it can run again. The values are bitwise those of ``Smile.process_signal``
    (tests/features/test_opensmile_engine.py holds them equal on EmoDB files, functionals and LLDs). It uses
    ``Smile``'s option builder and config constants, so a later opensmile that moves them falls back to ``Smile``.
    """

    def __init__(self, smile: Any, sample_rate: int) -> None:
        import os

        from opensmile import config
        from opensmile.core.lib import OpenSMILE

        self._source, self._sink = config.EXTERNAL_SOURCE_COMPONENT, config.EXTERNAL_OUTPUT_COMPONENT
        options = smile._options()  # the options Smile builds for its own runs (sink, level, buffers)
        options.update(source=os.path.join(smile.default_config_root, config.EXTERNAL_INPUT_CONFIG), sampleRate=sample_rate, nBits=16)
        self._smile = OpenSMILE()
        self._smile.initialize(config_file=smile.config_path, options=options, loglevel=smile.loglevel, log_file=smile.logfile,
                               debug=smile.verbose)

    def process(self, signal: np.ndarray, num_features: int) -> np.ndarray:
        """Frames × features of one mono signal (scaled to 16-bit integers exactly as ``Smile`` does)."""
        frames: list[np.ndarray] = []
        self._smile.external_sink_set_callback_ex(self._sink, lambda data, meta: frames.append(data.copy()))
        self._smile.external_audio_source_write_data(self._source, bytes((signal * 32768).astype(np.int16)))
        self._smile.external_audio_source_set_eoi(self._source)
        try:
            self._smile.run()
        finally:
            self._smile.reset()
        if not frames:  # too short for one frame: as Smile does, a row of NaN
            return np.full((1, num_features), np.nan)
        return np.asfortranarray(np.vstack(frames), dtype=np.float64)  # the layout of Smile's frame: LLD pooling sums alike

    def free(self) -> None:
        self._smile.free()
