"""The network ``[MODEL] type = finetune`` trains: a pretrained raw-waveform speech transformer (wav2vec2, HuBERT, WavLM,
data2vec-audio; transformers ``AutoModel`` from a local folder or a hub id) with its convolutional feature encoder
frozen, mean pooling over the frames the attention mask marks as real, dropout and a linear head (one output per class,
or one for regression).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nkl.errors import MissingExtraError, ModelError
from nkl.features.model_source import hub_load_error, local_folder, offline

KEY = "[MODEL] pretrained_model"


def import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtraError("transformers", "transformers") from exc
    return torch, transformers


def load_backbone(model: str) -> tuple[Any, Any, int, bool]:
    """The encoder, its config, its sampling rate and whether inputs are normalised, from a folder or a hub id.

    A missing folder, a model that is not a raw-waveform speech transformer, or one whose sampling rate cannot be read
    (no preprocessor_config.json) is a one-line ModelError.
    """
    _, transformers = import_torch()
    if not model:
        raise ModelError(f"{KEY} is not set; give a folder written by save_pretrained (wav2vec2, HuBERT, WavLM) or a hub id")
    folder = local_folder(model, KEY)
    source = str(folder) if folder is not None else model
    local_only = folder is not None or offline()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
        encoder = transformers.AutoModel.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
        if folder is None:
            raise hub_load_error(model, KEY) from exc
        detail = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ModelError(f"{KEY} '{folder}' holds no transformers model ({type(exc).__name__}: {detail}); give a folder written by "
                         "save_pretrained") from None
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    if not hasattr(encoder, "_get_feat_extract_output_lengths"):
        raise ModelError(f"{KEY} '{model}' is a '{getattr(config, 'model_type', '?')}' model, not a raw-waveform speech transformer; "
                         "fine-tuning needs wav2vec2, HuBERT, WavLM or data2vec-audio")
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(source, local_files_only=local_only)
        rate = int(extractor.sampling_rate)
    except (OSError, ValueError, AttributeError, TypeError, KeyError) as exc:
        raise ModelError(f"{KEY} '{model}': its sampling rate cannot be read (no usable preprocessor_config.json: "
                         f"{(str(exc).splitlines() or [''])[0][:120]}); save the model's feature extractor with it") from None
    return encoder, config, rate, bool(getattr(extractor, "do_normalize", True))


def network(encoder: Any, n_outputs: int, *, layer: int = 0, drop: float = 0.1, seed: int = 42) -> Any:
    """The encoder with a pooling head (a torch Module, the head initialised from ``seed``); ``layer``: top transformer
    layers left out (nkululeko's)."""
    torch, _ = import_torch()

    class FinetuneNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            if hasattr(encoder, "freeze_feature_encoder"):
                encoder.freeze_feature_encoder()
            hidden = int(encoder.config.hidden_size)
            self.dropout = torch.nn.Dropout(drop)
            generator = torch.random.get_rng_state()
            torch.manual_seed(seed)
            self.head = torch.nn.Linear(hidden, n_outputs)
            torch.random.set_rng_state(generator)
            self.layer = int(layer)

        def forward(self, values: Any, mask: Any) -> Any:
            out = self.encoder(values, attention_mask=mask, output_hidden_states=self.layer > 0)
            hidden = out.hidden_states[-1 - self.layer] if self.layer > 0 else out.last_hidden_state
            lengths = self.encoder._get_feat_extract_output_lengths(mask.sum(dim=1))
            frames = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]
            weights = frames.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    return FinetuneNet()


def save_backbone_files(folder: Path, config: Any, rate: int, normalize: bool) -> None:
    """The encoder's config and a feature-extractor config beside the saved weights, so the folder loads on its own."""
    _, transformers = import_torch()
    config.save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=rate, do_normalize=normalize, feature_size=1, padding_value=0.0,
                                          return_attention_mask=True).save_pretrained(folder)
