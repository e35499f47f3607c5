"""Speech quality (``targets = ['mos']``): Microsoft DNSMOS, the ONNX models shipped in the ``speechmos`` wheel.

Four estimates per sample, each on the 1–5 MOS scale: ``est_mos`` (the P.808 overall MOS) and the P.835
``est_dnsmos_sig`` (speech signal), ``est_dnsmos_bak`` (background noise) and ``est_dnsmos_ovrl`` (overall).

Windowing follows the reference (speechmos and Microsoft's ``dnsmos_local.py``, so scores match theirs): the models
read 9.01 s windows; a shorter clip is doubled (appended to itself) until one window fits, and the scores of all
windows, 1 s apart, are averaged. A 2 s clip thus becomes 16 s and 7 windows (about 0.5 s of CPU each), while a
1.2 s clip becomes 9.6 s and 1 window. The runtime sessions are built here rather than by speechmos, whose
``DNSMOS`` class takes no session options, so that each worker process uses one thread.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from nkl.errors import MissingExtraError
from nkl.predict.registry import Predictor

WINDOW_S = 9.01  # the models' input length (speechmos.dnsmos.INPUT_LENGTH)
HOP_S = 1.0
P835_MODEL = "dnsmos_models/sig_bak_ovr.onnx"  # SIG/BAK/OVRL, the non-personalised model
P808_MODEL = "dnsmos_models/model_v8.onnx"
PACKAGES = ("speechmos", "onnxruntime", "librosa")  # librosa computes the P.808 model's mel input
NAMES = ["est_mos", "est_dnsmos_sig", "est_dnsmos_bak", "est_dnsmos_ovrl"]


def _missing(exc: ImportError) -> MissingExtraError:
    """The install hint for a failed import, naming the top-level package that is missing."""
    package = (exc.name or "speechmos").split(".")[0]
    return MissingExtraError("predict", package if package in PACKAGES else "speechmos")


class DnsmosPredictor(Predictor):
    """``est_mos`` and ``est_dnsmos_{sig,bak,ovrl}``: DNSMOS P.808 and P.835 (see the module docstring)."""

    target = "mos"
    sample_rate = 16000  # the models' rate
    deterministic = True
    source = "DNSMOS P.835/P.808 ONNX models shipped in the speechmos wheel"
    # Any clip fits after doubling, but one under 0.5 s is repeated 18+ times into a buzz the models were not trained on
    min_duration = 0.5

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._scorer: Any = None

    def params(self) -> dict[str, Any]:
        return {"window_s": WINDOW_S, "hop_s": HOP_S, "short_clips": "doubled", "p835_model": P835_MODEL, "p808_model": P808_MODEL}

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in PACKAGES}
        except PackageNotFoundError as exc:
            raise MissingExtraError("predict", exc.name or "speechmos") from None

    def setup(self) -> None:
        """Load both models once per process, each in a one-thread runtime session (the engine runs one process per core)."""
        if self._scorer is not None:
            return
        try:
            import librosa  # noqa: F401 - imported by speechmos.dnsmos; checked first for a precise message
            import onnxruntime
            from speechmos import dnsmos
        except ImportError as exc:
            raise _missing(exc) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        models = Path(dnsmos.__file__).parent
        # speechmos's DNSMOS.__init__ would build sessions without options (one thread per core in every worker);
        # the instance gets the same two models in our sessions and keeps its own scoring and windowing
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        scorer.primary_model_path = str(models / P835_MODEL)
        scorer.onnx_sess = onnxruntime.InferenceSession(scorer.primary_model_path, sess_options=options, providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = onnxruntime.InferenceSession(str(models / P808_MODEL), sess_options=options, providers=["CPUExecutionProvider"])
        self._scorer = scorer

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_scorer": None}

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        if sample_rate != self.sample_rate:
            raise ValueError(f"DNSMOS needs {self.sample_rate} Hz audio, got {sample_rate} Hz")
        if len(signal) < self.min_duration * sample_rate:
            raise ValueError(f"DNSMOS needs at least {self.min_duration} s, got {len(signal) / sample_rate:.3f} s")
        self.setup()
        # speechmos rejects samples outside [-1, 1]; resampling a peak-normalised file overshoots by ~0.1 %
        audio = np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0)
        scores = self._scorer(audio, sample_rate, False)  # False: the standard, not the personalised, P.835 model
        return list(NAMES), np.array([scores["p808_mos"], scores["sig_mos"], scores["bak_mos"], scores["ovrl_mos"]], dtype=np.float64)
