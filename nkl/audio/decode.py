"""Decode any libsndfile format (WAV, FLAC, OGG, MP3) to mono float32 at a target rate."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from nkl.errors import AudioError


def to_mono(signal: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array."""
    return signal if signal.ndim == 1 else signal.mean(axis=1)


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling from ``rate`` to ``target`` Hz."""
    if rate == target:
        return signal
    from scipy.signal import resample_poly  # imported here: scipy.signal costs ~1 s at start-up
    g = gcd(rate, target)
    return resample_poly(signal, target // g, rate // g).astype(np.float32)


def load_audio(path: str | Path, start: float = 0.0, end: float | None = None,
               sample_rate: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read ``[start, end)`` seconds of a file as mono float32, resampled to ``sample_rate``.

    ``sample_rate=None`` keeps the file's own rate. Raises AudioError for unreadable files.
    """
    try:
        with sf.SoundFile(str(path)) as fh:
            rate = fh.samplerate
            first = int(round(start * rate))
            last = fh.frames if end is None else min(fh.frames, int(round(end * rate)))
            if first >= last:
                raise AudioError(f"segment {start}-{end} s is empty or outside the file")
            fh.seek(first)
            signal = fh.read(last - first, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"cannot decode audio ({str(exc).splitlines()[0][:120]})") from None
    mono = to_mono(signal)
    if sample_rate is not None:
        mono = resample(mono, rate, sample_rate)
        rate = sample_rate
    return np.ascontiguousarray(mono, dtype=np.float32), rate
