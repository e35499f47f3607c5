"""Utterance embeddings from self-supervised speech encoders (wav2vec2, HuBERT, WavLM, data2vec-audio, Whisper, AST).

``SslEmbedder(model, family=...)`` turns mono signals at ``sample_rate`` (16 kHz for every supported family) into one
vector each: the hidden states of one transformer layer, pooled over time (``mean``, or ``mean+std``: the mean and the
population standard deviation, concatenated). ``model`` is a local folder written by ``save_pretrained`` (the usual
case offline) or a Hugging Face hub id read from the local cache (``HF_HUB_OFFLINE=1``: nothing is downloaded).

``layer`` keeps nkululeko's meaning: the number of *top* transformer layers dropped. 0 is the last hidden state;
``layer = k`` is ``hidden_states[-1 - k]`` of a forward pass with ``output_hidden_states=True``; ``0 <= layer < n_layers``.

How each family is run:

* wav2vec2, hubert, wavlm, data2vec (raw waveform in): each signal (window) is normalised to zero mean and unit variance
  as ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does (when its ``do_normalize`` is set), then zero-padded to the
  longest in the batch with an attention mask, and pooled over its valid frames only, so a batch gives what one signal
  at a time gives. That holds only for wav2vec2, HuBERT and WavLM models whose feature encoder normalises per frame
  (``feat_extract_norm = "layer"``, as in the large/robust models). Base models with ``feat_extract_norm = "group"``
  (wav2vec2-base, hubert-base, wavlm-base) normalise each conv channel over the whole time axis, and data2vec-audio's
  five-layer positional convolution carries the padding into the last valid frames: with these, padding would change
  the result, so they are only batched with signals of exactly the same length (other lengths run one at a time).
  Correctness first.
* whisper: the encoder only (the decoder is dropped after loading). ``WhisperFeatureExtractor`` pads every signal to
  30 s of log-mel; only the encoder frames that cover the actual signal, ``ceil(len / hop_length / 2)``, are pooled.
  Whisper cannot look at more than 30 s, so ``max_duration`` is capped at 30 s.
* ast: ``ASTFeatureExtractor`` fbank frames padded/cut to the model's fixed ``max_length`` (1024 frames = 10.24 s for
  the public models); the hidden state is pooled over all tokens (CLS, distillation and every patch, padding
  included): AST is a fixed-length model. ``max_duration`` is capped at what fits in ``max_length`` frames.

Long signals are never truncated: a signal longer than ``max_duration`` seconds is cut into consecutive windows of
``max_duration`` (a last piece shorter than 1 s is merged into the window before it; where that would exceed the
model's hard limit, those two pieces are split into two equal halves). Each window is embedded on its own and the
window statistics are combined, weighted by their frame counts (``n_frames``): the mean of the window means, and for
``mean+std`` the variance by the law of total variance. For AST the weight is the count of real (unpadded) fbank
frames. Forward passes hold at most ``cpu_batch_seconds`` (``cuda_batch_seconds`` on a GPU) of padded audio, which
bounds memory whatever the signal lengths and the caller's batch size.

torch and transformers are imported in ``setup()`` only; the constructor just stores its arguments (cheap, picklable:
a pickled embedder leaves its loaded model behind and loads it again on first use).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.features.model_source import hub_load_error, local_folder, model_identity, offline
from nkl.features.windows import combine_windows, split_windows

log = logging.getLogger(__name__)

FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper", "ast", "data2vec")
POOLINGS = ("mean", "mean+std")
DTYPES = {"auto": "auto", "float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
          "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}
NORM_EPS = 1e-7  # Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm adds this to the variance
MIN_TAIL_SECONDS = 1.0  # a last window shorter than this is merged into the previous one
WHISPER_MAX_SECONDS = 30.0
# encoders whose valid frames do not see zero padding once the attention mask is given (with feat_extract_norm = "layer"):
# the padded frames are zeroed before the one positional convolution. data2vec-audio stacks five positional conv layers
# with layer norms, which turn the zeroed padding into values that reach the last valid frames: not maskable.
MASKABLE_TYPES = ("wav2vec2", "hubert", "wavlm")
MODEL_TYPES = {"whisper": ("whisper",), "ast": ("audio-spectrogram-transformer",)}


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtraError("transformers", "transformers") from exc
    return torch, transformers


class SslEmbedder:
    """One pooled hidden-state vector per signal from a self-supervised speech encoder (see the module docstring)."""

    cpu_batch_seconds = 32.0  # padded audio per forward pass on the CPU (bounds peak memory)
    cuda_batch_seconds = 320.0  # the same on a GPU (128 clips of 2.5 s in one pass)

    def __init__(self, model: str, *, family: str, layer: int = 0, pooling: str = "mean", max_duration: float = 20.0,
                 device: str = "cpu", dtype: str = "auto") -> None:
        if family not in FAMILIES:
            raise ConfigError(f"Unknown embedding family '{family}'; use one of {', '.join(FAMILIES)}")
        if pooling not in POOLINGS:
            raise ConfigError(f"Unknown {family}.pooling '{pooling}'; use one of {', '.join(POOLINGS)}")
        if str(dtype).lower() not in DTYPES:
            raise ConfigError(f"Unknown {family}.dtype '{dtype}'; use one of auto, float32, float16, bfloat16")
        if isinstance(layer, bool) or int(layer) != layer or layer < 0:
            raise ConfigError(f"{family}.layer must be a whole number >= 0 (top transformer layers dropped), got {layer!r}")
        if not max_duration > 0:
            raise ConfigError(f"{family}.max_duration must be > 0 seconds, got {max_duration!r}")
        self.model = str(model)
        self.family = family
        self.layer = int(layer)
        self.pooling = pooling
        self.max_duration = float(max_duration)
        self.device = str(device)
        self.dtype = DTYPES[str(dtype).lower()]
        self._reset()

    def _reset(self) -> None:
        self._model: Any = None
        self._extractor: Any = None
        self._config: Any = None
        self._kind = ""  # "waveform", "whisper" or "ast"
        self._masked = False
        self._device = "cpu"
        self._torch_dtype: Any = None
        self._min_samples = 1

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def __repr__(self) -> str:
        return (f"SslEmbedder({self.model!r}, family={self.family!r}, layer={self.layer}, pooling={self.pooling!r}, "
                f"max_duration={self.max_duration}, device={self.device!r}, dtype={self.dtype!r})")

    # ---- identity -----------------------------------------------------------------------------------------------

    def _local_folder(self) -> Path | None:
        return local_folder(self.model, f"{self.family}.model")

    def identity(self) -> dict[str, str]:
        """What the embeddings depend on in the model (see ``model_source.model_identity``)."""
        return model_identity(self.model, f"{self.family}.model")

    # ---- loading ------------------------------------------------------------------------------------------------

    def _resolve_device(self, torch: Any) -> str:
        device = self.device.lower()
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            log.warning("%s embeddings: device '%s' requested but CUDA is not available; running on the CPU", self.family, self.device)
            return "cpu"
        return self.device

    def _resolve_dtype(self, torch: Any) -> Any:
        if self.dtype == "auto":
            if self._device.startswith("cuda"):
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.float32
        return getattr(torch, self.dtype)

    def _load_error(self, folder: Path | None, exc: BaseException) -> ModelError:
        if folder is not None:
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            return ModelError(f"Cannot load the {self.family} model from '{folder}' ({type(exc).__name__}: {detail}); set "
                              f"{self.family}.model to a folder written by save_pretrained")
        return hub_load_error(self.model, f"{self.family}.model")

    def setup(self) -> None:
        """Load the feature extractor and the model once (read only); ModelError in one line when they cannot load."""
        if self._model is not None:
            return
        torch, transformers = _import_torch_transformers()
        folder = self._local_folder()
        source = str(folder) if folder is not None else self.model
        local_only = folder is not None or offline()
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on stderr under nkl's own progress
        try:
            config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
            model, info = transformers.AutoModel.from_pretrained(source, local_files_only=local_only, output_loading_info=True)
        except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
            raise self._load_error(folder, exc) from exc
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()
        model_type = str(getattr(config, "model_type", ""))
        kind = next((k for k, types in MODEL_TYPES.items() if model_type in types), "waveform")
        if (kind != "waveform" or self.family in MODEL_TYPES) and kind != self.family:
            raise ModelError(f"The {self.family} model '{self.model}' is a '{model_type}' model, not a {self.family} model; "
                             f"use the family that matches it")
        if kind == "whisper":
            model = model.get_encoder()  # the decoder is not needed (and is freed with the full model)
        elif kind == "waveform" and not hasattr(model, "_get_feat_extract_output_lengths"):
            raise ModelError(f"The {self.family} model '{self.model}' ('{model_type}', {type(model).__name__}) is not a raw-waveform "
                             f"speech encoder; use a wav2vec2, hubert, wavlm or data2vec-audio model")
        missing = [k for k in (info.get("missing_keys") or []) if "masked_spec_embed" not in k and not k.startswith("decoder.")]
        if missing:
            log.warning("%s model '%s': %d weights missing from the checkpoint (randomly initialised), e.g. %s",
                        self.family, self.model, len(missing), sorted(missing)[0])
        self._config, self._kind = config, kind
        self.check_layer(self._count_layers(config))
        self._extractor = self._load_extractor(transformers, folder, source, local_only)
        self._device = self._resolve_device(torch)
        self._torch_dtype = self._resolve_dtype(torch)
        self._masked = model_type in MASKABLE_TYPES and getattr(config, "feat_extract_norm", "group") == "layer"
        if kind == "waveform":
            self._min_samples = self._receptive_field(config)
        elif kind == "ast":
            self._min_samples = 400  # one 25 ms fbank frame
        self._model = model.to(device=self._device, dtype=self._torch_dtype).eval()

    def _load_extractor(self, transformers: Any, folder: Path | None, source: str, local_only: bool) -> Any:
        if folder is None or (folder / "preprocessor_config.json").is_file():
            try:
                return transformers.AutoFeatureExtractor.from_pretrained(source, local_files_only=local_only)
            except (OSError, ValueError, KeyError) as exc:
                if folder is not None:
                    raise self._load_error(folder, exc) from exc
        config = self._config
        if self._kind == "whisper":
            return transformers.WhisperFeatureExtractor(feature_size=config.num_mel_bins)
        if self._kind == "ast":
            return transformers.ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length)
        layer_norm = getattr(config, "feat_extract_norm", "layer") == "layer"
        return transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                                     return_attention_mask=layer_norm)

    @staticmethod
    def _count_layers(config: Any) -> int:
        layers = getattr(config, "encoder_layers", None) if getattr(config, "model_type", "") == "whisper" else None
        return int(layers if layers is not None else config.num_hidden_layers)

    @staticmethod
    def _receptive_field(config: Any) -> int:
        """Fewest samples that give one frame through the conv feature encoder (400 = 25 ms for the usual stack)."""
        samples = 1
        for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=True))):
            samples = kernel + (samples - 1) * stride
        return samples

    def check_layer(self, n_layers: int | None = None) -> None:
        """ConfigError unless ``0 <= layer < n_layers`` (default: the loaded model's count)."""
        n_layers = self.n_layers if n_layers is None else int(n_layers)
        if not 0 <= self.layer < n_layers:
            raise ConfigError(f"{self.family}.layer = {self.layer} is out of range for '{self.model}' with {n_layers} transformer "
                              f"layers; use 0..{n_layers - 1} (the number of top layers dropped; 0 = last hidden state)")

    # ---- properties ---------------------------------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """The model's sampling rate: the feature extractor's ``sampling_rate`` (16000 unless it says otherwise)."""
        if self._extractor is not None:
            return int(getattr(self._extractor, "sampling_rate", 16000) or 16000)
        try:
            folder = self._local_folder()
        except ModelError:
            folder = None
        preprocessor = folder / "preprocessor_config.json" if folder is not None else None
        if preprocessor is not None and preprocessor.is_file():
            try:
                return int(json.loads(preprocessor.read_text(encoding="utf-8")).get("sampling_rate") or 16000)
            except (ValueError, OSError, TypeError):
                return 16000
        return 16000

    @property
    def n_layers(self) -> int:
        """Transformer layers of the model (loads it on first use)."""
        self.setup()
        return self._count_layers(self._config)

    @property
    def hidden_size(self) -> int:
        self.setup()
        config = self._config
        if self._kind == "whisper":
            return int(config.d_model)
        if self.layer == 0 and getattr(config, "add_adapter", False):
            return int(getattr(config, "output_hidden_size", None) or config.hidden_size)
        return int(config.hidden_size)

    @property
    def dim(self) -> int:
        """Length of one embedding: the hidden size, twice that for ``mean+std``."""
        return self.hidden_size * (2 if self.pooling == "mean+std" else 1)

    @property
    def min_duration(self) -> float:
        """Shortest signal (seconds) the model accepts: one frame of its feature encoder."""
        self.setup()
        return self._min_samples / self.sample_rate

    @property
    def masked(self) -> bool:
        """Whether signals of different lengths share a padded batch (attention mask) or run by equal lengths."""
        self.setup()
        return self._masked

    def n_frames(self, n_samples: int) -> int:
        """Frames that one window of ``n_samples`` contributes to pooling (its weight when windows are combined)."""
        self.setup()
        if self._kind == "whisper":
            hop = int(getattr(self._extractor, "hop_length", 160))
            return min(math.ceil(n_samples / hop / 2), int(self._config.max_source_positions))
        if self._kind == "ast":
            return max(1, min(int(self._extractor.max_length), 1 + (n_samples - 400) // 160))
        import torch

        return int(self._model._get_feat_extract_output_lengths(torch.tensor([n_samples]))[0])

    def _window_samples(self) -> tuple[int, int | None]:
        """Window length and hard limit in samples for this model."""
        rate = self.sample_rate
        window = max(1, round(self.max_duration * rate))
        if self._kind == "whisper":
            limit = int(getattr(self._extractor, "n_samples", WHISPER_MAX_SECONDS * rate))
            return min(window, limit), limit
        if self._kind == "ast":
            limit = 400 + (int(self._extractor.max_length) - 1) * 160
            return min(window, limit), limit
        return window, None

    # ---- embedding ----------------------------------------------------------------------------------------------

    def embed(self, signals: list[np.ndarray]) -> np.ndarray:
        """Embeddings (float64, ``(len(signals), dim)``, rows in input order) of mono float signals at ``sample_rate``."""
        self.setup()
        if len(signals) == 0:
            return np.zeros((0, self.dim))
        rate = self.sample_rate
        arrays = [np.asarray(s, dtype=np.float32) for s in signals]
        for index, samples in enumerate(arrays):
            if samples.ndim != 1:
                raise ValueError(f"signal {index} has shape {samples.shape}; {self.family} embeddings need mono 1-D signals")
            if len(samples) < self._min_samples:
                raise ValueError(f"signal {index} is too short for {self.family} ({len(samples) / rate * 1000:.0f} ms; "
                                 f"needs at least {self._min_samples / rate * 1000:.0f} ms)")
        window, limit = self._window_samples()
        min_tail = round(MIN_TAIL_SECONDS * rate)
        items = [(index, start, end) for index, samples in enumerate(arrays)
                 for start, end in split_windows(len(samples), window, min_tail, limit)]
        results: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = {i: [] for i in range(len(arrays))}
        for batch in self._batches(items):
            pieces = [arrays[index][start:end] for index, start, end in batch]
            for (index, _, _), stats in zip(batch, self._forward(pieces), strict=True):
                results[index].append(stats)
        out = np.empty((len(arrays), self.dim), dtype=np.float64)
        for index, stats in results.items():
            if len(stats) == 1:  # one window: its own statistics
                mean, variance = stats[0][1], stats[0][2]
            else:
                weights = np.array([s[0] for s in stats])
                mean, variance = combine_windows(weights, np.stack([s[1] for s in stats]), np.stack([s[2] for s in stats]))
            if self.pooling == "mean+std":
                out[index, : len(mean)], out[index, len(mean):] = mean, np.sqrt(np.maximum(variance, 0.0))
            else:
                out[index] = mean
        return out

    def _batches(self, items: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
        """Windows grouped into forward passes: longest first, at most the batch budget of padded samples each; models
        that cannot mask padding only get windows of one length per pass."""
        seconds = self.cuda_batch_seconds if self._device.startswith("cuda") else self.cpu_batch_seconds
        budget = seconds * self.sample_rate
        fixed = {"whisper": self._window_samples()[1], "ast": self._window_samples()[1]}.get(self._kind)
        ordered = sorted(items, key=lambda item: item[2] - item[1], reverse=True)
        batches: list[list[tuple[int, int, int]]] = []
        for item in ordered:
            length = item[2] - item[1]
            if batches:
                current = batches[-1]
                longest = current[0][2] - current[0][1]
                same = self._masked or self._kind != "waveform" or length == longest
                if same and (len(current) + 1) * (fixed or longest) <= budget:
                    current.append(item)
                    continue
            batches.append([item])
        return batches

    def _forward(self, pieces: list[np.ndarray]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """``(weight, mean, variance)`` of the chosen hidden state over each piece's valid frames."""
        import torch

        with torch.inference_mode():
            if self._kind == "whisper":
                features = self._extractor(pieces, sampling_rate=self.sample_rate, return_tensors="pt").input_features
                hidden = self._hidden(features)
                valid = [self.n_frames(len(p)) for p in pieces]
                weights = valid
            elif self._kind == "ast":
                values = self._extractor(pieces, sampling_rate=self.sample_rate, return_tensors="pt").input_values
                hidden = self._hidden(values)
                valid = [hidden.shape[1]] * len(pieces)  # fixed-length model: every token
                weights = [self.n_frames(len(p)) for p in pieces]
            else:
                hidden, valid = self._waveform_hidden(pieces)
                weights = valid
            frames = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < torch.tensor(valid, device=hidden.device)[:, None]
            mask = frames.to(torch.float64).unsqueeze(-1)
            values = hidden.to(torch.float64)
            counts = mask.sum(dim=1)
            mean = (values * mask).sum(dim=1) / counts
            variance = (((values - mean.unsqueeze(1)) ** 2) * mask).sum(dim=1) / counts
            mean, variance = mean.cpu().numpy(), variance.cpu().numpy()
        return [(float(weights[row]), mean[row], variance[row]) for row in range(len(pieces))]

    def _hidden(self, inputs: Any, **kwargs: Any) -> Any:
        """The chosen layer's hidden states for one batch of model inputs."""
        inputs = inputs.to(device=self._device, dtype=self._torch_dtype)
        output = self._model(inputs, output_hidden_states=self.layer > 0, **kwargs)
        return output.last_hidden_state if self.layer == 0 else output.hidden_states[-1 - self.layer]

    def _waveform_hidden(self, pieces: list[np.ndarray]) -> tuple[Any, list[int]]:
        """Hidden states of one padded batch; each piece is normalised (zero mean, unit variance over its own samples,
        in float64, as ``Wav2Vec2FeatureExtractor`` does) on the model's device, where it costs nothing."""
        import torch

        lengths = [len(p) for p in pieces]
        batch = np.zeros((len(pieces), max(lengths)), dtype=np.float32)
        for row, piece in enumerate(pieces):
            batch[row, : len(piece)] = piece
        values = torch.from_numpy(batch).to(self._device)
        valid = torch.arange(values.shape[1], device=values.device)[None, :] < torch.tensor(lengths, device=values.device)[:, None]
        if bool(getattr(self._extractor, "do_normalize", True)):
            wide, counts = values.to(torch.float64), torch.tensor(lengths, device=values.device, dtype=torch.float64)[:, None]
            mean = wide.sum(dim=1, keepdim=True) / counts
            variance = ((wide - mean) ** 2 * valid).sum(dim=1, keepdim=True) / counts
            values = ((wide - mean) / torch.sqrt(variance + NORM_EPS) * valid).to(torch.float32)
        kwargs: dict[str, Any] = {}
        if self._masked:
            kwargs["attention_mask"] = valid.to(torch.long)
        elif len(set(lengths)) > 1:  # _batches never does this: padding would change a group-norm model's frames
            raise RuntimeError("unmaskable model given a padded batch")
        hidden = self._hidden(values, **kwargs)
        frames = [int(n) for n in self._model._get_feat_extract_output_lengths(torch.tensor(lengths))]
        return hidden, [min(v, hidden.shape[1]) for v in frames]
