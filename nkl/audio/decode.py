"""Decode any libsndfile format (WAV, FLAC, OGG, MP3) to mono float32 at a target rate."""

from __future__ import annotations

from functools import cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from nkl.errors import AudioError


def to_mono(signal: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array."""
    return signal if signal.ndim == 1 else signal.mean(axis=1)


@cache
def _lowpass(up: int, down: int, dtype: str) -> np.ndarray:
    """The anti-aliasing filter ``resample_poly`` designs for these factors (Kaiser window, beta 5), designed once:
    designing it takes longer than filtering a short file, and holds the GIL while decoding threads wait."""
    from scipy.signal import firwin  # imported here: scipy.signal costs ~1 s at start-up

    half_len = 10 * max(up, down)
    taps = firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0)).astype(dtype)
    taps.flags.writeable = False
    return taps


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling from ``rate`` to ``target`` Hz (scipy's ``resample_poly`` with its default filter)."""
    if rate == target:
        return signal
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    up, down = target // g, rate // g
    return resample_poly(signal, up, down, window=_lowpass(up, down, signal.dtype.str)).astype(np.float32)


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
