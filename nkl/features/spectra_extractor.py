"""Log-mel spectrograms of a fixed size (``type = ['spectra']``): the input of the ``cnn`` model.

nkululeko draws each spectrogram as a 256×256 JPEG and trains its CNN on the images; nkl keeps the numbers: a
``fft_nbands`` × ``frames`` log-mel matrix per sample (dB relative to the sample's peak, floor -80 dB), its time axis
resized to ``frames`` by linear interpolation as an image would be, stored row by row as columns ``mel<band>_f<frame>``
(band-major), so the rows are cached, queried and scaled like any other features and ``cnn`` reads the shape back from
the column names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError
from nkl.features.registry import Extractor

COLUMN = re.compile(r"^mel(\d+)_f(\d+)$")


@dataclass(frozen=True)
class SpectraSettings:
    """[FEATS] keys of ``spectra`` (nkululeko's bare fft_* spellings are aliases)."""

    fft_nbands: int = key(64, "Mel bands.", aliases=("fft_nbands",))
    fft_win_dur: float = key(25.0, "Window length in ms.", aliases=("fft_win_dur",))
    fft_hop_dur: float = key(10.0, "Hop in ms.", aliases=("fft_hop_dur",))
    frames: int = key(128, "Frames per spectrogram: the time axis of every sample is resized to this (nkululeko resizes its images).")


class SpectraExtractor(Extractor):
    """A fixed-size log-mel spectrogram per sample (see the module docstring)."""

    name = "spectra"
    Settings = SpectraSettings
    key_prefix = "spectra"
    sample_rate = 16000
    min_duration = 0.05
    source = "librosa log-mel spectrogram"

    def validate(self) -> None:
        s = self.settings
        if not 1 <= s.fft_nbands <= 512:
            raise ConfigError(f"[FEATS] fft_nbands = {s.fft_nbands}: mel bands must be between 1 and 512")
        if not 0 < s.fft_hop_dur <= s.fft_win_dur <= 200:
            raise ConfigError(f"[FEATS] fft_win_dur = {s.fft_win_dur:g} ms and fft_hop_dur = {s.fft_hop_dur:g} ms: "
                              "need 0 < hop <= window <= 200 ms")
        if not 1 <= s.frames <= 4096:
            raise ConfigError(f"[FEATS] spectra.frames = {s.frames}: must be between 1 and 4096")

    def versions(self) -> dict[str, str]:
        try:
            return {"librosa": version("librosa")}
        except PackageNotFoundError:
            raise MissingExtraError("spectra", "librosa") from None

    def setup(self) -> None:
        try:
            import librosa  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("spectra", "librosa") from exc

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        import librosa

        s = self.settings
        window = max(1, round(sample_rate * s.fft_win_dur / 1000))
        hop = max(1, round(sample_rate * s.fft_hop_dur / 1000))
        power = librosa.feature.melspectrogram(y=np.asarray(signal, dtype=np.float32), sr=sample_rate, n_fft=max(window, 2 * s.fft_nbands),
                                               win_length=window, hop_length=hop, n_mels=s.fft_nbands, center=True)
        db = librosa.power_to_db(power, ref=np.max, top_db=80.0)
        return column_names(s.fft_nbands, s.frames), resize_frames(db, s.frames).ravel()


def column_names(bands: int, frames: int) -> list[str]:
    return [f"mel{b:03d}_f{t:04d}" for b in range(bands) for t in range(frames)]


def resize_frames(matrix: np.ndarray, frames: int) -> np.ndarray:
    """Each row (band) linearly interpolated onto ``frames`` equally spaced points."""
    width = matrix.shape[1]
    if width == frames:
        return matrix.astype(np.float64)
    where = np.linspace(0, width - 1, frames)
    return np.stack([np.interp(where, np.arange(width), row) for row in matrix]).astype(np.float64)


def image_shape(columns: list[str]) -> tuple[int, int] | None:
    """(bands, frames) when ``columns`` are exactly one spectra extractor's, in order; else None."""
    names = [c.rsplit(".", 1)[-1] for c in columns]  # "spectra.mel000_f0000" when several extractors are joined
    found = [COLUMN.match(n) for n in names]
    if not columns or not all(found):
        return None
    bands = 1 + max(int(m.group(1)) for m in found)
    frames = 1 + max(int(m.group(2)) for m in found)
    if bands * frames != len(columns) or column_names(bands, frames) != names:
        return None
    return bands, frames


def cnn_design(columns: list[str]) -> dict[str, Any]:
    """The ``cnn`` model's input shape from the feature columns: a spectrogram, or one row of values."""
    shape = image_shape(columns)
    return {"image": list(shape) if shape else [1, len(columns)]}
