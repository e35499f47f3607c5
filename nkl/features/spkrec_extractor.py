"""SpeechBrain speaker embeddings as features: nkululeko's ``spkrec-*`` types (``spkrec-ecapa-voxceleb``,
``spkrec-xvect-voxceleb``, ...).

The type names the default model (``speechbrain/<type>``; plain ``spkrec`` is ``speechbrain/spkrec-ecapa-voxceleb``);
``spkrec.model`` replaces it by a local folder as SpeechBrain writes it (``hyperparams.yaml`` and its ``.ckpt`` files)
or a hub id, which is read from the local Hugging Face cache only: nothing is downloaded. Each file gives one
``EncoderClassifier.encode_batch`` embedding of the whole signal, as nkululeko computes it. Only signals of the same
length share a forward pass: padding changes SpeechBrain's filterbank edges and convolutions even with relative
lengths, so a padded batch would not give what one file at a time gives. The cache key holds the model's identity (a
hash of a folder's hyperparams and checkpoints, or the cached snapshot's commit), so replaced weights are never reused.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.features.model_source import cached_snapshot, local_folder, model_identity, offline
from nkl.features.registry import Extractor

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "speechbrain/spkrec-ecapa-voxceleb"
HPARAMS = "hyperparams.yaml"
NEEDED_MODULES = ("compute_features", "mean_var_norm", "embedding_model")  # what encode_batch runs


@dataclass(frozen=True)
class SpkrecSettings:
    """[FEATS] keys of the SpeechBrain speaker embeddings (written ``spkrec.<key>``)."""

    model: str = key("", "Local SpeechBrain model folder (hyperparams.yaml + .ckpt files) or a hub id in the local Hugging Face "
                         "cache (default: named after the type, e.g. speechbrain/spkrec-ecapa-voxceleb).", path=True)


class SpkrecExtractor(Extractor):
    """One SpeechBrain speaker embedding (ECAPA-TDNN, x-vector, ...) per file."""

    name = "spkrec"
    key_prefix = "spkrec"
    Settings = SpkrecSettings
    sample_rate = 16000
    min_duration = 0.1  # the TDNN's reflect-padded convolutions need a few filterbank frames
    batched = True
    cpu_batch_seconds = 32.0  # audio per forward pass on the CPU (bounds memory whatever the batch size)
    cuda_batch_seconds = 320.0

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self.names: list[str] = []
        self._encoder: Any = None
        self._device = "cpu"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_encoder": None}

    @property
    def model_id(self) -> str:
        """The model: ``spkrec.model``, else the hub id the type names (nkululeko's default)."""
        if self.settings.model:
            return str(self.settings.model)
        return f"speechbrain/{self.kind}" if self.kind.startswith("spkrec-") else DEFAULT_MODEL

    @property
    def source(self) -> str:  # type: ignore[override]
        return f"{self.model_id} (speechbrain)"

    def _local_folder(self) -> Path | None:
        """The model folder when ``model_id`` names one; None for a hub id; ConfigError for a path that is not there."""
        try:
            return local_folder(self.model_id, f"{self.key_prefix}.model")
        except ModelError as exc:
            raise ConfigError(f"[FEATS] {self.key_prefix}.model: {exc} (a SpeechBrain folder: {HPARAMS} and its .ckpt files)") from None

    def _source(self) -> Path:
        """The folder to load: the model folder, or the cached hub snapshot (ModelError when there is none)."""
        folder = self._local_folder()
        source = folder if folder is not None else cached_snapshot(self.model_id, HPARAMS)
        if source is None:
            where = "no copy in the local Hugging Face cache" + (" and HF_HUB_OFFLINE is set" if offline() else "; nkl downloads nothing")
            raise ModelError(f"Cannot load the spkrec model '{self.model_id}' ({where}); set {self.key_prefix}.model = /local/folder "
                             f"after downloading https://huggingface.co/{self.model_id} on a machine with internet "
                             f"(e.g. `hf download {self.model_id} --local-dir FOLDER`)")
        return source

    def validate(self) -> None:
        """A model folder that does not exist or holds no hyperparams.yaml, or a hub id not in the local cache, fails
        before any extraction."""
        try:
            source = self._source()
        except ModelError as exc:
            raise ConfigError(f"[FEATS] {self.key_prefix}.model: {exc}") from None
        if not (source / HPARAMS).is_file():
            raise ConfigError(f"[FEATS] {self.key_prefix}.model: '{source}' holds no {HPARAMS}; set it to a SpeechBrain model "
                              f"folder ({HPARAMS} and its .ckpt files)")

    def params(self) -> dict[str, Any]:
        self._local_folder()  # ConfigError for a folder that is not there
        return model_identity(self.model_id, f"{self.key_prefix}.model", HPARAMS)

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in ("torch", "speechbrain")}
        except PackageNotFoundError:
            raise MissingExtraError("speaker", "speechbrain") from None

    @property
    def table(self) -> str:
        return re.sub(r"[^a-z0-9_]+", "_", f"features_{self.kind}".lower()).strip("_")

    def describe(self) -> str:
        return f"{self.kind}: SpeechBrain speaker embeddings, model {self.model_id}, device {self.device}"

    def setup(self) -> None:
        """Load the model once, from a folder or the local hub cache (never downloaded); ModelError in one line."""
        if self._encoder is not None:
            return
        try:
            with warnings.catch_warnings():  # requests, imported by speechbrain, warns that SOCKS proxies need PySocks
                warnings.filterwarnings("ignore", message="SOCKS support in urllib3")
                from speechbrain.inference.speaker import EncoderClassifier
                from speechbrain.utils.fetching import FetchConfig
        except ImportError as exc:
            raise MissingExtraError("speaker", "speechbrain") from exc
        source = self._source()
        self._device = self.torch_device()
        try:  # the hub's hyperparams point their checkpoints at <pretrained_path>: read them from this folder instead
            encoder = EncoderClassifier.from_hparams(source=str(source), savedir=None, overrides={"pretrained_path": str(source)},
                                                     overrides_must_match=False, run_opts={"device": self._device},
                                                     fetch_config=FetchConfig(allow_network=False))
        except Exception as exc:  # noqa: BLE001 - hyperparams.yaml runs arbitrary constructors: any failure is a load error
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ModelError(f"Cannot load the spkrec model from '{source}' ({type(exc).__name__}: {detail}); set "
                             f"{self.key_prefix}.model to a SpeechBrain model folder ({HPARAMS} and its .ckpt files)") from None
        missing = [m for m in NEEDED_MODULES if m not in encoder.mods]
        if missing:
            raise ModelError(f"The spkrec model '{self.model_id}' has no {', '.join(missing)} in the modules of its {HPARAMS}; "
                             f"it is not a SpeechBrain speaker embedding model")
        rate = int(getattr(encoder.audio_normalizer, "sample_rate", self.sample_rate))
        if rate != self.sample_rate:
            raise ModelError(f"The spkrec model '{self.model_id}' works at {rate} Hz; nkl feeds spkrec models 16 kHz audio")
        self._encoder = encoder
        probe = np.random.default_rng(0).standard_normal((1, self.sample_rate)).astype(np.float32) * 0.1  # one second
        self.names = [f"spk_{i}" for i in range(self._encode(probe).shape[1])]

    def _encode(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings of equal-length signals (rows of ``batch``)."""
        import torch

        with torch.inference_mode():
            wavs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            embeddings = self._encoder.encode_batch(wavs, torch.ones(len(batch)))
        return embeddings.reshape(len(batch), -1).to(torch.float64).cpu().numpy()

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """One embedding per signal, in input order; only signals of the same length share a forward pass."""
        self.setup()
        out = np.empty((len(signals), len(self.names)), dtype=np.float64)
        by_length: dict[int, list[int]] = {}
        for index, signal in enumerate(signals):
            if np.ndim(signal) != 1:
                raise ValueError(f"signal {index} has shape {np.shape(signal)}; spkrec needs mono 1-D signals")
            by_length.setdefault(len(signal), []).append(index)
        seconds = self.cuda_batch_seconds if self._device.startswith("cuda") else self.cpu_batch_seconds
        for length, rows in by_length.items():
            per_pass = max(1, int(seconds * self.sample_rate) // max(length, 1))
            for start in range(0, len(rows), per_pass):
                chunk = rows[start:start + per_pass]
                out[chunk] = self._encode(np.stack([signals[i] for i in chunk]))
        return out

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        self.setup()
        return list(self.names), self.extract_batch([signal])[0]
