"""Speech segments of one signal with silero VAD (the ``silero-vad`` wheel, which ships its model).

torch and silero_vad are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from nkl.audio.decode import resample, to_mono
from nkl.errors import ConfigError, MissingExtraError
from nkl.pretrained.torch_threads import one_torch_thread

VAD_RATE = 16000  # silero works on 16 kHz (or 8 kHz); other rates are resampled to this one


def speech_segments(
    signal: np.ndarray, sample_rate: int, *, model: Any = None, threshold: float = 0.5, min_speech: float = 0.25, min_silence: float = 0.1
) -> list[tuple[float, float]]:
    """Speech ``(start, end)`` in seconds, in time order, found by silero VAD.

    ``signal`` is mono (or ``(frames, channels)``, averaged) at ``sample_rate`` Hz; it is resampled to
    16 kHz when needed. ``threshold`` is silero's speech probability above which a 32 ms frame is
    speech; speech shorter than ``min_speech`` seconds is dropped, and a segment only ends after
    ``min_silence`` seconds of non-speech. Segments carry silero's 30 ms padding on each side
    (clipped to the signal). ``model`` defaults to ``load_vad_model()``; the model keeps state while it
    runs, so threads that segment at the same time each need their own.
    """
    if not 0 < threshold < 1:
        raise ConfigError(f"VAD threshold must lie between 0 and 1, got {threshold}")
    if min_speech < 0 or min_silence < 0:
        raise ConfigError(f"min_speech and min_silence must be 0 or more seconds, got {min_speech} and {min_silence}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim not in (1, 2):
        raise ValueError(f"expected a mono or (frames, channels) signal, got shape {signal.shape}")
    if signal.size == 0:
        return []
    mono = np.ascontiguousarray(resample(to_mono(signal), sample_rate, VAD_RATE), dtype=np.float32)
    torch, silero_vad = _import_silero()
    model = load_vad_model() if model is None else model
    with one_torch_thread():
        timestamps = silero_vad.get_speech_timestamps(
            torch.from_numpy(mono),
            model,
            threshold=threshold,
            sampling_rate=VAD_RATE,
            min_speech_duration_ms=round(min_speech * 1000),
            min_silence_duration_ms=round(min_silence * 1000),
        )
    return [(stamp["start"] / VAD_RATE, stamp["end"] / VAD_RATE) for stamp in timestamps]


@cache
def load_vad_model() -> Any:
    """The silero VAD model (TorchScript, from the silero-vad wheel), loaded once per process.

    Raises MissingExtraError when silero-vad (or torch) is not installed.
    """
    _, silero_vad = _import_silero()
    return silero_vad.load_silero_vad()


def _import_silero() -> tuple[Any, Any]:
    """``(torch, silero_vad)``, undoing the process-wide ``torch.set_num_threads(1)`` silero runs on import."""
    try:
        import torch
    except ImportError as error:
        raise MissingExtraError("segment", "torch") from error
    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError as error:
        raise MissingExtraError("segment", "silero-vad") from error
    finally:
        # silero_vad.model sets torch's thread count to 1 for the whole process at import; put it back
        # so that other torch work in this process (the MLP, feature extractors) keeps its threads.
        torch.set_num_threads(threads)
    return torch, silero_vad
