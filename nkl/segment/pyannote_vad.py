"""Speech segments of one signal with pyannote.audio (``[SEGMENT] method = pyannote``).

``[SEGMENT] pyannote.model`` is either

* a segmentation model (a local folder with ``pytorch_model.bin``, the checkpoint file, or a hub id such as
  ``pyannote/segmentation-3.0`` with ``[MODEL] hf_token``): pyannote's ``VoiceActivityDetection`` pipeline gives
  speech regions, without speakers; or
* a speaker-diarization pipeline (a folder with ``config.yaml``, the ``.yaml`` file, or a hub id with "diarization" in
  its name): each speech turn becomes a segment with its speaker label (``SPEAKER_00`` ..., per file).

Signals are passed in memory (``{"waveform", "sample_rate"}``), so no file is decoded by torchcodec. Segments are
clipped to the signal (pyannote pads the last chunk). Nothing is written when loading fails: one ModelError line.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from nkl.pretrained.pyannote import hf_token, import_pyannote, load_pyannote, source_hash
from nkl.pretrained.torch_threads import one_torch_thread

DEFAULT_MODEL = "pyannote/segmentation-3.0"
KEY = "[SEGMENT] pyannote.model"
RATE = 16000

Segment = tuple[float, float] | tuple[float, float, str]


def is_pipeline(source: str) -> bool:
    """True when ``source`` names a diarization pipeline (config.yaml) rather than a segmentation model."""
    path = Path(source).expanduser()
    if path.is_dir():
        return (path / "config.yaml").is_file()
    if path.suffix.lower() in (".yaml", ".yml"):
        return True
    return not path.exists() and "diarization" in source.lower()


def pyannote_spec(source: str, threshold: float) -> dict[str, Any]:
    """Everything that determines the raw segments (the cache key's method half)."""
    return {"method": "pyannote", "model": source, "model_hash": source_hash(source), "diarization": is_pipeline(source),
            "threshold": threshold, "versions": {"pyannote.audio": version("pyannote.audio")}}


def load_segmenter(source: str, *, threshold: float, token: str | None) -> Callable[[np.ndarray, int], list[Segment]]:
    """A function ``(mono 16 kHz signal, rate) → segments`` for this model or pipeline; ModelError when it cannot load."""
    source = source or DEFAULT_MODEL
    torch, _ = import_pyannote()
    if is_pipeline(source):
        pipeline = load_pyannote(source, kind="pipeline", key=KEY, default="pyannote/speaker-diarization-community-1", token=token)
        diarize = True
    else:
        from pyannote.audio.pipelines import VoiceActivityDetection

        model = load_pyannote(source, kind="model", key=KEY, default=DEFAULT_MODEL, token=token)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline = VoiceActivityDetection(segmentation=model)
        params: dict[str, float] = {"min_duration_on": 0.0, "min_duration_off": 0.0}
        if not model.specifications.powerset:
            params.update(onset=threshold, offset=threshold)
        pipeline.instantiate(params)
        diarize = False

    def segments(signal: np.ndarray, sample_rate: int) -> list[Segment]:
        if sample_rate != RATE:
            raise ValueError(f"pyannote segmentation needs {RATE} Hz audio, got {sample_rate} Hz")
        duration = len(signal) / sample_rate
        waveform = torch.from_numpy(np.asarray(signal, dtype=np.float32)[None])
        with one_torch_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = pipeline({"waveform": waveform, "sample_rate": sample_rate})
        annotation = getattr(output, "speaker_diarization", output)
        found: list[Segment] = []
        if diarize:
            for turn, _, speaker in annotation.itertracks(yield_label=True):
                start, end = max(0.0, turn.start), min(duration, turn.end)
                if end > start:
                    found.append((start, end, str(speaker)))
        else:
            for region in annotation.get_timeline().support():
                start, end = max(0.0, region.start), min(duration, region.end)
                if end > start:
                    found.append((start, end))
        return sorted(found)

    return segments


def segmenter_for(config: Any) -> Callable[[np.ndarray, int], list[Segment]]:
    """The segmenter of a config's ``[SEGMENT] pyannote.model`` with ``[MODEL] hf_token`` (or $HF_TOKEN)."""
    return load_segmenter(config.segment.pyannote_model, threshold=config.segment.threshold, token=hf_token({"hf_token": config.model.hf_token}))
