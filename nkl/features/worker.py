"""What one extraction process does: decode a file, check it, run the extractor."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from nkl.audio.decode import load_audio
from nkl.errors import AudioError
from nkl.features.registry import Extractor

# One extractor per worker process, set up once by ``init_worker`` (a process-local, not shared state).
_extractor: Extractor | None = None
_setup_error: Exception | None = None


@dataclass(frozen=True)
class Item:
    """One sample to extract: its content key and where its audio lies."""

    content_key: str
    file: str
    start: float
    end: float | None


def init_worker(extractor: Extractor, threads: int = 1) -> None:
    """Process-pool initializer: limit math-library threads, then load the extractor's libraries once.

    ``threads`` is each worker's share of the cores, so that N workers running torch or ONNX models do not start
    N × cores threads. Workers ignore Ctrl-C: the parent process handles it, writes what is done, and stops the
    pool. Library warnings about single files are not shown; those files' problems are recorded as rejects.
    """
    global _extractor, _setup_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    _extractor = extractor
    try:
        extractor.setup()
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    except Exception as exc:  # noqa: BLE001 - handed to the parent with the first chunk (a failing initializer kills the pool)
        _setup_error = exc


@dataclass(frozen=True)
class DecodeSpec:
    """What decoding needs from an extractor (small and picklable, for decoding processes)."""

    name: str
    sample_rate: int | None
    min_duration: float


def init_decoder() -> None:
    """Decoding-process initializer: one math thread each (the pool has one process per core), Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import scipy.signal  # noqa: F401 - the resampler's library, loaded before the first file rather than with it


def decode_items(spec: DecodeSpec | None, items: list[Item]) -> list[np.ndarray | str]:
    """Each item's signal, or the reason it has none (in a decoding thread or process)."""
    out: list[np.ndarray | str] = []
    for item in items if spec is not None else []:
        try:
            out.append(load_signal(spec, item)[0])
        except AudioError as exc:
            out.append(str(exc))
    return out


def load_signal(extractor: Extractor | DecodeSpec, item: Item) -> tuple[np.ndarray, int]:
    """The item's mono signal and rate (the extractor's, or the file's own); AudioError when too short, silent or not finite."""
    signal, rate = load_audio(item.file, item.start, item.end, extractor.sample_rate)
    duration = len(signal) / rate
    if duration < extractor.min_duration:
        raise AudioError(f"too short ({duration * 1000:.0f} ms; {extractor.name} needs at least {extractor.min_duration * 1000:.0f} ms)")
    if not np.any(signal):
        raise AudioError("silent (every sample is zero)")
    if not np.all(np.isfinite(signal)):
        raise AudioError("audio holds NaN or infinite samples")
    return signal, rate


def failure_reason(extractor: Extractor, exc: Exception) -> str:
    """One line saying why the extractor failed on a file."""
    message = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{extractor.name} failed: {type(exc).__name__}: {message}"


def extract_one(extractor: Extractor, item: Item) -> tuple[list[str], np.ndarray]:
    """Features of one item; AudioError with a reason when the audio cannot give any."""
    signal, rate = load_signal(extractor, item)
    try:
        names, values = extractor.extract(signal, rate)
    except Exception as exc:  # noqa: BLE001 - any library failure on one file is that file's reject reason
        raise AudioError(failure_reason(extractor, exc)) from None
    if values.size == 0 or not np.any(np.isfinite(values)):
        raise AudioError(f"{extractor.name} returned no finite values")
    return names, values


def extract_chunk(items: list[Item], extractor: Extractor | None = None) -> tuple[list[str], list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """Extract a chunk: feature names, (content_key, values) rows, and (content_key, reason) failures."""
    if extractor is None and _setup_error is not None:
        raise _setup_error
    ext = extractor if extractor is not None else _extractor
    assert ext is not None, "init_worker was not called"
    names: list[str] = []
    rows: list[tuple[str, np.ndarray]] = []
    failures: list[tuple[str, str]] = []
    for item in items:
        try:
            item_names, values = extract_one(ext, item)
        except AudioError as exc:
            failures.append((item.content_key, str(exc)))
            continue
        names = names or item_names
        rows.append((item.content_key, values))
    return names, rows, failures
