"""Speech quality without a clean reference: TorchAudio's SQUIM models (``targets = ['pesq', 'stoi', 'sdr', 'mos_squim']``).

* ``squim`` (also asked for as ``pesq``, ``stoi`` or ``sdr``): ``SquimObjective`` (Kumar et al. 2023, trained on
  DNS 2020) estimates, from the degraded signal alone, what intrusive metrics would say against the clean original:
  ``est_pesq`` (wide-band PESQ, 1…4.64), ``est_stoi`` (0…1) and ``est_sdr`` (SI-SDR in dB).
* ``mos_squim``: ``SquimSubjective`` (NORESQA-MOS on wav2vec2 base, trained on BVCC and DAPS) estimates ``est_mos_squim``
  (1…5) by comparing the sample with a *non-matching* clean reference: any clean speech recording, not the sample's
  own text or speaker. There is no sensible built-in reference, so ``[PREDICT] mos_squim.reference`` must name one;
  it is cut (or repeated) to each sample's length, as the model does, and its content hash is part of the cache key.

Weights load as ``torchaudio.pipelines.SQUIM_OBJECTIVE`` / ``SQUIM_SUBJECTIVE`` load them: the state dict of
``squim_objective_base()`` / ``squim_subjective_base()`` read with ``torch.load(weights_only=True)`` from the torch hub
cache (``$TORCH_HOME/hub/torchaudio/models/<file>``), downloaded from download.pytorch.org when missing. A local
``.pth`` (``[PREDICT] squim.model`` / ``mos_squim.model``) or another URL can be given instead. Downloads go to a temp
name and are renamed when complete, so an interrupted one leaves nothing behind; when a download is impossible the
command stops with one line naming the key, the file and its URL.

Both models see zero padding (the objective model normalises by the whole row's RMS and pools over every frame; the
subjective one has no attention mask), so ``extract_batch`` batches only signals of equal length.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nkl.catalog.store import atomic_path
from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.hashing import stable_hash
from nkl.predict.registry import Predictor

URL_BASE = "https://download.pytorch.org/torchaudio/models/"
OBJECTIVE_FILE = "squim_objective_dns2020.pth"
SUBJECTIVE_FILE = "squim_subjective_bvcc_daps.pth"
OBJECTIVE_NAMES = ["est_pesq", "est_stoi", "est_sdr"]
SUBJECTIVE_NAMES = ["est_mos_squim"]
DOWNLOAD_TIMEOUT_S = 30


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import torchaudio.models
    except ImportError as exc:
        raise MissingExtraError("squim", exc.name.split(".")[0] if exc.name else "torchaudio") from exc
    return torch, torchaudio.models


def torch_hub_dir() -> Path:
    """torch's hub cache folder (``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``), where torchaudio keeps its weights."""
    torch, _ = _import_torch()
    return Path(torch.hub.get_dir())


def file_fingerprint(path: Path) -> str:
    """Name, size and mtime of a weight file: changes when the file is replaced, without reading 360 MB."""
    stat = path.stat()
    return stable_hash([path.name, stat.st_size, stat.st_mtime_ns])


def download(url: str, target: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch ``url`` to ``target`` through a temp name: an interrupted or short download leaves no file behind."""
    # connect first, so that an unreachable host does not even create the cache folder
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(target) as tmp:
        with tmp.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        expected = (getattr(response, "headers", None) or {}).get("Content-Length")
        if expected is not None and tmp.stat().st_size != int(expected):
            raise OSError(f"download ended after {tmp.stat().st_size} of {expected} bytes")
    return target


@dataclass(frozen=True)
class SquimSettings:
    """[PREDICT] (or [FEATS]) keys of squim."""

    model: str = key("", "Local squim_objective_dns2020.pth or a URL (default: torchaudio's SQUIM_OBJECTIVE weights, from the torch hub "
                     "cache or downloaded once).", path=True)


@dataclass(frozen=True)
class SquimSubjectiveSettings:
    """[PREDICT] keys of mos_squim."""

    model: str = key("", "Local squim_subjective_bvcc_daps.pth or a URL (default: torchaudio's SQUIM_SUBJECTIVE weights, from the torch "
                     "hub cache or downloaded once).", aliases=("squim_subjective.model",), path=True)
    reference: str = key("", "A clean speech recording (another speaker and text) that every sample is compared with; required.",
                         aliases=("squim_subjective.reference",), path=True)


class _SquimPredictor(Predictor):
    """Shared weight resolution, loading and equal-length batching; subclasses build the model and run it."""

    sample_rate = 16000
    deterministic = True
    batched = True  # the engine calls extract_batch with [PREDICT] batch_size signals, on [PREDICT] device
    min_duration = 0.05
    default_file: ClassVar[str]
    names: ClassVar[list[str]]
    pipeline: ClassVar[str]  # torchaudio's name for the same weights

    Settings = SquimSettings

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._model: Any = None
        self._device = "cpu"

    # -- where the weights are ------------------------------------------------------------------
    @property
    def model_value(self) -> str:
        return str(self.options.get("model") or "").strip()

    @property
    def key(self) -> str:
        return f"[PREDICT] {self.target}.model"

    def _url(self) -> str | None:
        """The URL to fetch the weights from, or None for a local file."""
        value = self.model_value
        if not value or value.upper() == self.pipeline:
            return URL_BASE + self.default_file
        return value if value.startswith(("http://", "https://")) else None

    def weights_path(self) -> Path:
        """The local ``.pth`` file: the given path, or the torch hub cache's copy of the URL (maybe not there yet)."""
        url = self._url()
        if url is None:
            return Path(self.model_value).expanduser().resolve()
        name = url.rsplit("/", 1)[-1]
        if url == URL_BASE + self.default_file:
            return torch_hub_dir() / "torchaudio" / "models" / name  # where torchaudio's own pipeline caches it
        return torch_hub_dir() / "checkpoints" / f"{stable_hash(url)[:8]}-{name}"  # torch.hub's folder; URL hash avoids clashes

    def _cannot_load(self, why: str) -> ModelError:
        return ModelError(f"Cannot load the {self.target} model ({why}); download {URL_BASE}{self.default_file} on a machine "
                          f"with internet and set {self.key} = /path/to/{self.default_file}")

    def _fetch(self) -> Path:
        path = self.weights_path()
        url = self._url()
        if path.is_file():
            return path
        if url is None:
            raise self._cannot_load(f"no file {path}")
        try:
            return download(url, path)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise self._cannot_load(f"{url} could not be downloaded: {str(reason).splitlines()[0][:100]}") from None

    # -- spec -------------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        url = self._url()
        if url is not None:  # a URL names fixed weights; the file may not be downloaded yet
            return {"model": url}
        path = self.weights_path()
        return {"model": str(path), "model_hash": file_fingerprint(path) if path.is_file() else None}

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in ("torch", "torchaudio")}
        except PackageNotFoundError as exc:
            raise MissingExtraError("squim", exc.name or "torchaudio") from None

    # -- loading --------------------------------------------------------------------------------
    def _build(self, models: Any) -> Any:
        raise NotImplementedError

    def setup(self) -> None:
        """Load the weights once per process (downloading the default ones if needed); one-line ModelError when impossible."""
        if self._model is not None:
            return
        torch, models = _import_torch()
        path = self._fetch()
        model = self._build(models)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except (RuntimeError, ValueError, TypeError, AttributeError, OSError, EOFError) as exc:
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            again = "delete it to download it again, or " if self._url() is not None else ""
            raise ModelError(f"{path} is not a {self.pipeline} state dict ({first}); {again}set {self.key} to {self.default_file} "
                             f"from {URL_BASE}{self.default_file}") from None
        self._device = self.torch_device()
        self._model = model.to(self._device).eval()

    # -- inference ------------------------------------------------------------------------------
    def _run(self, batch: Any) -> Any:
        """Estimates (rows × len(names)) for a (batch, time) tensor of equal-length signals on the device."""
        raise NotImplementedError

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """Estimates for several 16 kHz mono signals, rows in input order; signals of equal length run as one batch."""
        if not signals:
            return np.zeros((0, len(self.names)))
        shortest = min(len(s) for s in signals)
        if shortest < self.min_duration * self.sample_rate:
            raise ValueError(f"{self.target} needs at least {self.min_duration} s of audio, got {shortest / self.sample_rate:.3f} s")
        self.setup()
        torch, _ = _import_torch()
        out = np.zeros((len(signals), len(self.names)))
        by_length: dict[int, list[int]] = {}
        for row, signal in enumerate(signals):
            by_length.setdefault(len(signal), []).append(row)
        with torch.inference_mode():
            for rows in by_length.values():
                batch = torch.from_numpy(np.stack([np.asarray(signals[r], dtype=np.float32) for r in rows])).to(self._device)
                out[rows] = self._run(batch).to("cpu", torch.float64).numpy()
        return out



class SquimObjectivePredictor(_SquimPredictor):
    """``est_pesq``, ``est_stoi``, ``est_sdr`` (SI-SDR, dB): TorchAudio's SQUIM objective model, no reference needed."""

    target = "squim"
    source = f"TorchAudio SQUIM_OBJECTIVE weights ({URL_BASE}{OBJECTIVE_FILE}, or a local file in [PREDICT] squim.model)"
    default_file = OBJECTIVE_FILE
    names = OBJECTIVE_NAMES
    pipeline = "SQUIM_OBJECTIVE"

    def _build(self, models: Any) -> Any:
        return models.squim_objective_base()

    def _run(self, batch: Any) -> Any:
        import torch

        stoi, pesq, sdr = self._model(batch)  # the model's branch order
        return torch.stack([pesq, stoi, sdr], dim=1)


class SquimSubjectivePredictor(_SquimPredictor):
    """``est_mos_squim`` (1…5): TorchAudio's SQUIM subjective model against a clean non-matching reference recording."""

    target = "mos_squim"
    source = f"TorchAudio SQUIM_SUBJECTIVE weights ({URL_BASE}{SUBJECTIVE_FILE}, or a local file in [PREDICT] mos_squim.model)"
    default_file = SUBJECTIVE_FILE
    names = SUBJECTIVE_NAMES
    pipeline = "SQUIM_SUBJECTIVE"
    min_duration = 0.05  # wav2vec2's conv stack needs 400 samples (25 ms) for one frame
    reference_cache = 8  # reference features kept per sample length (a database often has many equal lengths)

    Settings = SquimSubjectiveSettings

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._reference: np.ndarray | None = None
        self._reference_features: OrderedDict[int, Any] = OrderedDict()

    def reference_path(self) -> Path:
        """The clean reference recording; ConfigError (before any work) when it is not set or not there."""
        value = str(self.options.get("reference") or "").strip()
        if not value:
            raise ConfigError("mos_squim compares each sample with a clean speech recording of another text and speaker: set "
                              "[PREDICT] mos_squim.reference = /path/to/clean.wav (a few seconds of studio-quality speech)")
        path = Path(value).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"[PREDICT] mos_squim.reference: no file {path}")
        return path

    def params(self) -> dict[str, Any]:
        from nkl.audio.probe import hash_file

        return {**super().params(), "reference": hash_file(self.reference_path())}

    def setup(self) -> None:
        if self._model is not None:
            return
        from nkl.audio.decode import load_audio

        reference, _ = load_audio(self.reference_path(), sample_rate=self.sample_rate)
        if len(reference) < self.min_duration * self.sample_rate:
            raise ConfigError(f"[PREDICT] mos_squim.reference is shorter than {self.min_duration} s")
        super().setup()
        self._reference = reference
        self._reference_features.clear()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_reference": None, "_reference_features": OrderedDict()}

    def _build(self, models: Any) -> Any:
        return models.squim_subjective_base()

    def _features(self, waveforms: Any) -> Any:
        return self._model.projector(self._model.ssl_model.extract_features(waveforms)[0][-1])

    def _run(self, batch: Any) -> Any:
        """``SquimSubjective.forward`` with the reference's features computed once per length instead of once per row."""
        import torch

        length = batch.shape[1]
        reference = self._reference_features.get(length)
        if reference is None:
            tiled = torch.from_numpy(self._reference).to(self._device)[None, :]
            _, tiled = self._model._align_shapes(batch[:1], tiled)  # cut to the sample's length, or repeated up to it
            reference = self._features(tiled)
            self._reference_features[length] = reference
            if len(self._reference_features) > self.reference_cache:
                self._reference_features.popitem(last=False)
        concat = torch.cat((reference.expand(batch.shape[0], -1, -1), self._features(batch)), dim=2)
        return (5 - self._model.predictor(concat))[:, None]
