"""Self-supervised speech embeddings as features: ``wav2vec2-*``, ``hubert-*``, ``wavlm-*``, ``whisper-*``, ``ast``,
``data2vec-*``, and the hidden states of audEERING's models (``audwav2vec2``, ``agender``).

The names are nkululeko's. A ``[FEATS] type`` such as ``wav2vec2-large-robust-ft-swbd-300h`` names the default model
(``facebook/wav2vec2-large-robust-ft-swbd-300h``); ``<family>.model`` replaces it by a hub id or a local folder.
``nkl.features.ssl_embedder`` does the work: batched, length-sorted, padded with attention masks where the model
allows it, long files windowed and pooled (never truncated). The cache key holds the model's identity (a hash of a
local folder's config and weight files, or the hub snapshot's commit), so replacing the weights never returns stale
features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.features.registry import Extractor
from nkl.features.ssl_embedder import SslEmbedder


@dataclass(frozen=True)
class SslSettings:
    """[FEATS] keys of the self-supervised embedding extractors (written ``<family>.<key>``, e.g. ``wav2vec2.layer``)."""

    model: str = key("", "Hub id or local folder of the model (default: named after the type, e.g. facebook/wav2vec2-large-robust-ft-swbd-300h).",
                     path=True)
    layer: int = key(0, "nkululeko's meaning: the number of top transformer layers removed; 0 = the last layer's output, "
                        "2 = the output of the third layer from the top.")
    pooling: str = key("mean", "Pooling over time: mean, or mean+std (twice the dimensions).", choices=("mean", "mean+std"))
    max_duration: float = key(20.0, "Files longer than this (seconds) are cut into windows, each embedded, and the windows pooled "
                                    "(weighted by frames); never truncated.")
    dtype: str = key("auto", "auto (bf16 or fp16 on cuda, fp32 on cpu), float32, float16 or bfloat16.",
                     choices=("auto", "float32", "float16", "bfloat16"))


class SslExtractor(Extractor):
    """A pooled hidden state of one transformer layer per file; subclasses name the family and its default models."""

    Settings = SslSettings
    family: ClassVar[str]
    hub_org: ClassVar[str] = "facebook"
    default_model: ClassVar[str]
    sample_rate = 16000
    min_duration = 0.03
    batched = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A family's keys are ``<name>.<key>``; its model family is its name unless it says otherwise."""
        super().__init_subclass__(**kwargs)
        cls.key_prefix = cls.name
        if "family" not in cls.__dict__:
            cls.family = cls.name

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self.names: list[str] = []
        self._embedder: SslEmbedder | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_embedder": None}

    @property
    def model_id(self) -> str:
        """The model: ``<family>.model``, else the hub id the type names (nkululeko's default), else the family's default."""
        if self.settings.model:
            return str(self.settings.model)
        if self.kind not in (self.name, self.family) and self.kind.startswith(self.family):
            return f"{self.hub_org}/{self.kind}"
        return self.default_model

    @property
    def source(self) -> str:  # type: ignore[override]
        return f"{self.model_id} (transformers)"

    def embedder(self) -> SslEmbedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = SslEmbedder(self.model_id, family=self.family, layer=s.layer, pooling=s.pooling, max_duration=s.max_duration,
                                         device=self.device, dtype=s.dtype)
        return self._embedder

    def validate(self) -> None:
        """A model folder that does not exist, or a layer the model does not have, fails before any extraction."""
        embedder = self.embedder()
        try:
            folder = embedder._local_folder()
        except ModelError as exc:  # a path that is not there: the key's one-line error
            raise ConfigError(f"[FEATS] {self.key_prefix}.model: {exc}") from None
        config = folder / "config.json" if folder is not None else None
        if config is not None and config.is_file():
            import json

            data = json.loads(config.read_text(encoding="utf-8"))
            layers = data.get("num_hidden_layers") or data.get("encoder_layers")
            if layers:
                embedder.check_layer(int(layers))

    def params(self) -> dict[str, Any]:
        s = self.settings
        return {**self.embedder().identity(), "family": self.family, "layer": s.layer, "pooling": s.pooling,
                "max_duration": s.max_duration, "dtype": s.dtype}

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in ("torch", "transformers")}
        except PackageNotFoundError:
            raise MissingExtraError("transformers", "transformers") from None

    @property
    def table(self) -> str:
        return re.sub(r"[^a-z0-9_]+", "_", f"features_{self.kind}".lower()).strip("_")

    def describe(self) -> str:
        s = self.settings
        return f"{self.kind}: model {self.model_id}, layer {s.layer} (top layers removed), pooling {s.pooling}, device {self.device}"

    def setup(self) -> None:
        embedder = self.embedder()
        embedder.setup()
        embedder.check_layer()
        if embedder.sample_rate != self.sample_rate:
            raise ConfigError(f"{self.model_id} works at {embedder.sample_rate} Hz; nkl feeds {self.family} models 16 kHz audio")
        if self.settings.pooling == "mean+std":
            half = embedder.dim // 2
            self.names = [f"mean_{i}" for i in range(half)] + [f"std_{i}" for i in range(half)]
        else:
            self.names = [f"emb_{i}" for i in range(embedder.dim)]

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        return self.embedder().embed(signals)

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        self.setup()
        return list(self.names), self.embedder().embed([signal])[0]


class Wav2Vec2Extractor(SslExtractor):
    name = "wav2vec2"
    default_model = "facebook/wav2vec2-large-robust-ft-swbd-300h"


class HubertExtractor(SslExtractor):
    name = "hubert"
    default_model = "facebook/hubert-large-ll60k"


class WavLMExtractor(SslExtractor):
    name = "wavlm"
    hub_org = "microsoft"
    default_model = "microsoft/wavlm-large"


class Data2VecExtractor(SslExtractor):
    name = "data2vec"
    default_model = "facebook/data2vec-audio-large"


class WhisperExtractor(SslExtractor):
    """The Whisper encoder's hidden states over the frames that cover the signal (30 s at most per window)."""

    name = "whisper"
    hub_org = "openai"
    default_model = "openai/whisper-base"


class AstExtractor(SslExtractor):
    """Audio Spectrogram Transformer (fixed 10.24 s input; longer files are windowed)."""

    name = "ast"
    hub_org = "MIT"
    default_model = "MIT/ast-finetuned-audioset-10-10-0.4593"


class AudWav2Vec2Extractor(SslExtractor):
    """Hidden states of audEERING's wav2vec2-large-robust-12 MSP-Podcast emotion model (nkululeko's ``audwav2vec2``)."""

    name = "audwav2vec2"
    family = "wav2vec2"
    default_model = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"


class AgenderExtractor(SslExtractor):
    """Hidden states of audEERING's wav2vec2-large-robust-24 age/gender model (nkululeko's ``agender``)."""

    name = "agender"
    family = "wav2vec2"
    default_model = "audeering/wav2vec2-large-robust-24-ft-age-gender"
