"""Speech quality (``targets = ['mos']``): Microsoft DNSMOS, the ONNX models shipped in the ``speechmos`` wheel.

Four estimates per sample, each on the 1–5 MOS scale: ``est_mos`` (the P.808 overall MOS) and the P.835
``est_dnsmos_sig`` (speech signal), ``est_dnsmos_bak`` (background noise) and ``est_dnsmos_ovrl`` (overall).

The reference (speechmos and Microsoft's ``dnsmos_local.py``) feeds the models 9.01 s windows: a shorter clip is
doubled (appended to itself) until one window fits, windows start 1 s apart, and their scores are averaged. A window
whose computed end (``int((hop + 9.01) * 16000)``) falls one sample short by float rounding is skipped there, and so
here: that is every hop from 7 to 23, so no clip gets more than 7 windows unless it lasts 33 s or more. A 2 s clip
thus becomes 16 s and 7 windows, a 1.2 s clip 9.6 s and 1 window. ``[PREDICT] mos.mode`` says which are scored:

* ``reference``: every one, so scores match speechmos's (to ~1e-6: windows run in batches here).
* ``fast`` (default): each distinct window once. The windows of a doubled clip are rotations of it (the window starting
  at s holds the samples of the one starting at s mod the clip's length), so windows of one rotation are identical:
  each is scored once and weighs as often as the reference scores it. A clip with more than ``FAST_ROTATIONS`` (3)
  distinct rotations keeps 3, spread evenly over the hops (first, middle, last); each still holds the whole clip, cut
  at another place. A clip that fills a window unaided (≥ 9.01 s) keeps all its windows: they hold different audio.
  So fast equals reference wherever a clip has at most 3 rotations, e.g. a clip of exactly 2 s (every file of the
  EmoDB copy here: 7 windows, 2 rotations 4 and 3 times over; 2 windows scored instead of 7, 4.1-4.7 files/s against
  1.4 on 2 cores). On EmoDB clips of random length (0.5–8.9 s) it scores 2.5 windows per clip instead of 4.1, and
  moves the scores by 0.007–0.017 on average, by 0.16 (BAK) at most; the shortest clips, doubled into a buzz, differ
  most between rotations (``tests/benchmarks/bench_dnsmos.py``).

Windows of several files share each model call (``batched``: the engine hands ``extract_batch`` a batch of files in its
main process, while threads decode the next ones). The runtime sessions are built here rather than by speechmos, whose
``DNSMOS`` class takes no session options: one thread per core the process may use, idle threads sleeping rather than
spinning; on 2 cores this ran 15% faster than two worker processes of one thread each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from nkl.config.sections import key
from nkl.errors import MissingExtraError
from nkl.predict.registry import Predictor

RATE = 16000  # the models' rate
WINDOW_S = 9.01  # the models' input length (speechmos.dnsmos.INPUT_LENGTH)
WINDOW = int(WINDOW_S * RATE)
HOP_S = 1.0
P835_MODEL = "dnsmos_models/sig_bak_ovr.onnx"  # SIG/BAK/OVRL, the non-personalised model
P808_MODEL = "dnsmos_models/model_v8.onnx"
PACKAGES = ("speechmos", "onnxruntime", "librosa")  # librosa computes the P.808 model's mel input
NAMES = ["est_mos", "est_dnsmos_sig", "est_dnsmos_bak", "est_dnsmos_ovrl"]
MODES = ("fast", "reference")
FAST_ROTATIONS = 3  # distinct rotations of a doubled clip that fast mode scores at most
RUN_WINDOWS = 16  # windows per model call (a batch of long files would otherwise be one large tensor)


def _missing(exc: ImportError) -> MissingExtraError:
    """The install hint for a failed import, naming the top-level package that is missing."""
    package = (exc.name or "speechmos").split(".")[0]
    return MissingExtraError("predict", package if package in PACKAGES else "speechmos")


@dataclass(frozen=True)
class DnsmosSettings:
    """[PREDICT] (or [FEATS]) keys of mos."""

    mode: str = key("fast", "fast: each distinct 9.01 s window once, at most 3 rotations of a doubled short clip (exact on 2 s "
                    "clips, ~3x faster there); reference: every window, as speechmos and Microsoft's dnsmos_local.py.", choices=MODES)


def tile(signal: np.ndarray) -> np.ndarray:
    """The reference's input: a clip shorter than one window appended to itself until it fills one."""
    while len(signal) < WINDOW:
        signal = np.append(signal, signal)
    return signal


def plan_windows(n_samples: int, mode: str = "fast") -> list[tuple[int, int]]:
    """``(start, weight)`` of the windows to score in the tiled clip of a ``n_samples`` clip; the scores' weighted mean
    is the clip's score.

    >>> plan_windows(32000, "reference")  # 2 s: tiled to 16 s, 7 windows
    [(0, 1), (16000, 1), (32000, 1), (48000, 1), (64000, 1), (80000, 1), (96000, 1)]
    >>> plan_windows(32000)  # ... which are 2 rotations of the clip, 4 and 3 times over
    [(0, 4), (16000, 3)]
    >>> plan_windows(8320)  # 0.52 s: tiled to 16.6 s, 7 windows, all different rotations; 3 are scored
    [(0, 1), (48000, 1), (96000, 1)]
    """
    length = len(tile(np.zeros(n_samples, dtype=np.int8)))
    hops = int(np.floor(length / RATE) - WINDOW_S) + 1
    # the reference's bounds, float rounding included: a window that comes out one sample short is skipped there
    starts = [int(i * RATE) for i in range(hops) if int((i + WINDOW_S) * RATE) - int(i * RATE) == WINDOW]
    if mode == "reference":
        return [(start, 1) for start in starts]
    rotations: dict[int, list[int]] = {}  # rotation in the clip → its starts; a long clip's windows are all distinct
    for start in starts:
        rotations.setdefault(start % n_samples if n_samples < WINDOW else start, []).append(start)
    distinct = list(rotations.values())
    if len(distinct) > FAST_ROTATIONS and n_samples < WINDOW:  # the first, the last, and between them evenly in hop order
        distinct = [distinct[i] for i in np.linspace(0, len(distinct) - 1, FAST_ROTATIONS).round().astype(int)]
    return [(same[0], len(same)) for same in distinct]


def session_threads() -> int:
    """Threads for each runtime session: the process's share of the cores (worker processes get OMP_NUM_THREADS)."""
    from nkl.features.cache import default_workers

    share = os.environ.get("OMP_NUM_THREADS", "")
    return int(share) if share.isdigit() and int(share) > 0 else default_workers()


class DnsmosPredictor(Predictor):
    """``est_mos`` and ``est_dnsmos_{sig,bak,ovrl}``: DNSMOS P.808 and P.835 (see the module docstring)."""

    target = "mos"
    sample_rate = RATE
    deterministic = True
    batched = True  # windows of a batch of files share each model call
    names = NAMES
    source = "DNSMOS P.835/P.808 ONNX models shipped in the speechmos wheel"
    # Any clip fits after doubling, but one under 0.5 s is repeated 18+ times into a buzz the models were not trained on
    min_duration = 0.5

    Settings = DnsmosSettings

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._scorer: Any = None

    @property
    def mode(self) -> str:
        return self.settings.mode

    def params(self) -> dict[str, Any]:
        shared = {"window_s": WINDOW_S, "hop_s": HOP_S, "short_clips": "doubled", "p835_model": P835_MODEL, "p808_model": P808_MODEL}
        return {**shared, "mode": self.mode, **({"rotations": FAST_ROTATIONS} if self.mode == "fast" else {})}

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in PACKAGES}
        except PackageNotFoundError as exc:
            raise MissingExtraError("predict", exc.name or "speechmos") from None

    def setup(self) -> None:
        """Load both models once per process, in sessions with the process's share of the cores."""
        if self._scorer is not None:
            return
        try:
            import librosa  # noqa: F401 - imported by speechmos.dnsmos; checked first for a precise message
            import onnxruntime
            from speechmos import dnsmos
        except ImportError as exc:
            raise _missing(exc) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = session_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads sleep: decoding threads share the cores
        models = Path(dnsmos.__file__).parent
        # speechmos's DNSMOS.__init__ would build sessions without options; the instance gets the same two models in
        # our sessions and lends its mel spectrogram and its polynomial maps from raw P.835 outputs to MOS
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        scorer.primary_model_path = str(models / P835_MODEL)
        scorer.onnx_sess = onnxruntime.InferenceSession(scorer.primary_model_path, sess_options=options, providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = onnxruntime.InferenceSession(str(models / P808_MODEL), sess_options=options, providers=["CPUExecutionProvider"])
        self._scorer = scorer

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_scorer": None}

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        if sample_rate != self.sample_rate:
            raise ValueError(f"DNSMOS needs {self.sample_rate} Hz audio, got {sample_rate} Hz")
        return list(NAMES), self.extract_batch([signal])[0]

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """Rows of ``NAMES`` for several 16 kHz signals: their planned windows, ``RUN_WINDOWS`` per model call."""
        for signal in signals:
            if len(signal) < self.min_duration * RATE:
                raise ValueError(f"DNSMOS needs at least {self.min_duration} s, got {len(signal) / RATE:.3f} s")
        self.setup()
        scorer = self._scorer
        windows, weights, owners = [], [], []
        for row, signal in enumerate(signals):
            # speechmos rejects samples outside [-1, 1]; resampling a peak-normalised file overshoots by ~0.1 %
            tiled = tile(np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0))
            for start, weight in plan_windows(len(signal), self.mode):
                windows.append(tiled[start:start + WINDOW])
                weights.append(weight)
                owners.append(row)
        scores = np.empty((len(windows), 4))  # P.808, SIG, BAK, OVRL of each window
        for first in range(0, len(windows), RUN_WINDOWS):
            stack = np.stack(windows[first:first + RUN_WINDOWS])
            mel = np.stack([scorer.audio_melspec(audio=window[:-160]) for window in stack]).astype(np.float32)
            raw = scorer.onnx_sess.run(None, {"input_1": stack})[0]
            part = slice(first, first + len(stack))
            scores[part, 0] = scorer.p808_onnx_sess.run(None, {"input_1": mel})[0][:, 0]
            scores[part, 1:] = np.column_stack(scorer.get_polyfit_val(raw[:, 0], raw[:, 1], raw[:, 2], False))  # False: not personalised
        owners_array, weights_array = np.array(owners), np.array(weights, dtype=np.float64)
        return np.array([np.average(scores[owners_array == row], axis=0, weights=weights_array[owners_array == row])
                         for row in range(len(signals))])
