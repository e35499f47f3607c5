"""Speaker age/gender (``targets = ['agender']``) and dimensional emotion (``targets = ['emotion_dims']``).

Both targets run audEERING's public wav2vec2 models: a ``Wav2Vec2Model`` whose last hidden state is mean-pooled over
time and fed to small heads (dropout → dense → tanh → dropout → out_proj):

* ``audeering/wav2vec2-large-robust-24-ft-age-gender``: head ``age`` (1 value, ×100 = years) and head ``gender``
  (3 logits, softmax: female, male, child) → ``est_age``, ``est_p_female``, ``est_p_male``, ``est_p_child``.
* ``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``: head ``classifier`` (3 values ≈ 0..1: arousal,
  dominance, valence) → ``est_arousal``, ``est_dominance``, ``est_valence``.

The model is ``[PREDICT] <target>.model`` (``options["model"]``): a hub id (read from the local Hugging Face cache
when ``HF_HUB_OFFLINE=1``) or a local folder as written by ``save_pretrained``. No processor is loaded: each waveform
is normalised to zero mean and unit variance here, as ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does. Batches
are zero-padded with an attention mask and pooled over the valid frames only, so a padded batch gives the same
estimates as one clip at a time (this needs ``feat_extract_norm="layer"``, as in the large-robust models). torch and
transformers are imported in ``setup()`` only; the model classes are built on first use by ``model_classes()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nkl.config.sections import key
from nkl.errors import MissingExtraError, ModelError
from nkl.hashing import local_model_hash
from nkl.predict.registry import Predictor

AGENDER_MODEL = "audeering/wav2vec2-large-robust-24-ft-age-gender"
EMOTION_DIMS_MODEL = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
AGENDER_NAMES = ["est_age", "est_p_female", "est_p_male", "est_p_child"]
EMOTION_DIMS_NAMES = ["est_arousal", "est_dominance", "est_valence"]
NORM_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm adds this to the variance


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtraError("transformers", "transformers") from exc
    return torch, transformers


@lru_cache(maxsize=1)
def model_classes() -> tuple[type, type]:
    """``(AgeGenderModel, EmotionDimsModel)``: ``Wav2Vec2PreTrainedModel`` subclasses that load audEERING checkpoints.

    Built on first call so that importing this module never imports torch or transformers.
    """
    torch, _ = _import_torch_transformers()
    from torch import nn
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class PooledHead(nn.Module):
        """dropout → dense → tanh → dropout → out_proj, on one pooled vector per clip."""

        def __init__(self, config: Any, outputs: int) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = nn.Dropout(config.final_dropout)
            self.out_proj = nn.Linear(config.hidden_size, outputs)

        def forward(self, pooled: Any) -> Any:
            hidden = torch.tanh(self.dense(self.dropout(pooled)))
            return self.out_proj(self.dropout(hidden))

    class _PooledWav2Vec2(Wav2Vec2PreTrainedModel):
        def _pooled(self, input_values: Any, attention_mask: Any = None) -> Any:
            hidden = self.wav2vec2(input_values, attention_mask=attention_mask).last_hidden_state
            if attention_mask is None:
                return hidden.mean(dim=1)
            frames = self._get_feature_vector_attention_mask(hidden.shape[1], attention_mask).to(hidden.dtype)
            return (hidden * frames.unsqueeze(-1)).sum(dim=1) / frames.sum(dim=1, keepdim=True).clamp(min=1.0)

    class AgeGenderModel(_PooledWav2Vec2):
        """Mean-pooled wav2vec2 + ``age`` (1 value, years / 100) and ``gender`` (softmax over female, male, child)."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.age = PooledHead(config, 1)
            self.gender = PooledHead(config, 3)
            self.post_init()

        def forward(self, input_values: Any, attention_mask: Any = None) -> tuple[Any, Any]:
            pooled = self._pooled(input_values, attention_mask)
            return self.age(pooled), torch.softmax(self.gender(pooled), dim=1)

    class EmotionDimsModel(_PooledWav2Vec2):
        """Mean-pooled wav2vec2 + ``classifier`` (``config.num_labels`` values: arousal, dominance, valence)."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = PooledHead(config, config.num_labels)
            self.post_init()

        def forward(self, input_values: Any, attention_mask: Any = None) -> Any:
            return self.classifier(self._pooled(input_values, attention_mask))

    return AgeGenderModel, EmotionDimsModel


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HeadModelSettings:
    """Keys of agender and emotion_dims ([PREDICT], or [FEATS] for agender_agender and auddim)."""

    model: str = key("", "Hub id or local folder of the model (default: the audEERING model named in the module docstring).", path=True)


class _Wav2Vec2HeadPredictor(Predictor):
    """Shared loading, normalisation, padding and batching; subclasses choose the model class and the outputs."""

    sample_rate = 16000
    deterministic = True
    batched = True
    min_duration = 0.03  # the conv stack needs 400 samples (25 ms) for one frame
    default_model: ClassVar[str]
    names: ClassVar[list[str]]
    model_index: ClassVar[int]  # position in model_classes()

    Settings = HeadModelSettings

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._model: Any = None
        self._device: str = "cpu"

    @property
    def model_id(self) -> str:
        return str(self.options.get("model") or self.default_model)

    def _local_folder(self) -> Path | None:
        path = Path(self.model_id).expanduser()
        return path.resolve() if path.is_dir() else None

    def params(self) -> dict[str, Any]:
        folder = self._local_folder()
        params: dict[str, Any] = {"model": self.model_id, "pooling": "mean", "normalize": True}
        if folder is not None:
            params["model_hash"] = local_model_hash(folder)
        return params

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in ("torch", "transformers")}
        except PackageNotFoundError:
            raise MissingExtraError("transformers", "transformers") from None

    def setup(self) -> None:
        """Load the model once per process (read only: nothing is written); ModelError in one line when it cannot."""
        if self._model is not None:
            return
        _import_torch_transformers()
        model_class = model_classes()[self.model_index]
        folder = self._local_folder()
        source = str(folder) if folder is not None else self.model_id
        self._device = self.torch_device()
        try:
            model, info = model_class.from_pretrained(source, local_files_only=folder is None and _offline(), output_loading_info=True)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            where = "no local copy in the Hugging Face cache (HF_HUB_OFFLINE is set)" if _offline() and folder is None else type(exc).__name__
            raise ModelError(
                f"Cannot load the {self.target} model '{self.model_id}' ({where}); set [PREDICT] {self.target}.model = "
                f"/path/to/local/folder after downloading the model folder from the Hugging Face hub "
                f"(https://huggingface.co/{self.default_model}) on a machine with internet"
            ) from exc
        missing = sorted(info.get("missing_keys") or [])
        if missing:  # e.g. an emotion checkpoint given as the age-gender model: its heads would be random
            raise ModelError(f"The {self.target} model '{self.model_id}' lacks {len(missing)} weights of this target's heads "
                             f"(e.g. {missing[0]}); set [PREDICT] {self.target}.model to a {self.default_model} folder")
        outputs = getattr(model.config, "num_labels", None) if self.model_index == 1 else 3
        if outputs != 3:
            raise ModelError(f"The {self.target} model '{self.model_id}' has {outputs} outputs, expected 3 (arousal, dominance, valence)")
        self._model = model.to(self._device).eval()

    def _outputs(self, model_output: Any) -> Any:
        raise NotImplementedError

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """Estimates for several 16 kHz mono signals, rows in input order: zero-padded, with an attention mask."""
        if not signals:
            return np.zeros((0, len(self.names)))
        self.setup()
        torch, _ = _import_torch_transformers()
        lengths = [len(s) for s in signals]
        if min(lengths) < self.min_duration * self.sample_rate:
            raise ValueError(f"{self.target} needs at least {self.min_duration} s of audio, got {min(lengths) / self.sample_rate:.3f} s")
        batch = np.zeros((len(signals), max(lengths)), dtype=np.float32)
        mask = np.zeros_like(batch, dtype=np.int64)
        for row, signal in enumerate(signals):
            samples = np.asarray(signal, dtype=np.float64)
            batch[row, : len(samples)] = (samples - samples.mean()) / np.sqrt(samples.var() + NORM_EPS)
            mask[row, : len(samples)] = 1
        with torch.inference_mode():
            output = self._model(torch.from_numpy(batch).to(self._device), attention_mask=torch.from_numpy(mask).to(self._device))
            values = self._outputs(output)
        return values.detach().to("cpu", torch.float64).numpy()



class AgeGenderPredictor(_Wav2Vec2HeadPredictor):
    """``est_age`` (years) and ``est_p_female``/``est_p_male``/``est_p_child`` (sum to 1): audEERING's age-gender model."""

    target = "agender"
    source = f"Hugging Face hub: {AGENDER_MODEL} (or a local folder in [PREDICT] agender.model)"
    default_model = AGENDER_MODEL
    names = AGENDER_NAMES
    model_index = 0

    def _outputs(self, model_output: Any) -> Any:
        age, gender = model_output
        import torch

        return torch.cat([age * 100.0, gender], dim=1)


class EmotionDimsPredictor(_Wav2Vec2HeadPredictor):
    """``est_arousal``, ``est_dominance``, ``est_valence`` (≈ 0..1): audEERING's MSP-Podcast dimensional model."""

    target = "emotion_dims"
    source = f"Hugging Face hub: {EMOTION_DIMS_MODEL} (or a local folder in [PREDICT] emotion_dims.model)"
    default_model = EMOTION_DIMS_MODEL
    names = EMOTION_DIMS_NAMES
    model_index = 1

    def _outputs(self, model_output: Any) -> Any:
        return model_output
