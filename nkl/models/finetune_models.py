"""``[MODEL] type = finetune``: its keys and registry entry. The model trains on audio, not on a feature matrix, so the
plan runs it through ``nkl.finetune.fit`` instead of the feature-matrix fit; ``build`` only checks the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nkl.config.sections import key
from nkl.errors import ConfigError, ModelError
from nkl.models.base import ModelSpec

FAMILY = "finetune"
LOSSES = ("cross", "ccc", "mse")


@dataclass(frozen=True)
class FinetuneSettings:
    """[MODEL] keys of finetune."""

    pretrained_model: str = key("", "A wav2vec2 / HuBERT / WavLM model: a folder written by save_pretrained (with its "
                                    "preprocessor_config.json) or a hub id in the local cache.", path=True)
    max_duration: float = key(8.0, "Seconds: longer training clips are cropped at random each epoch; longer dev/test clips are "
                                   "scored in windows of this length and averaged.")
    batch_size: int = key(8, "Clips per batch (sorted by length, padded with attention masks).")
    learning_rate: float = key(0.0001, "AdamW learning rate.")
    drop: float = key(0.1, "Dropout before the head.")
    layer: int = key(0, "Top transformer layers left out (0 = the last layer's output).")
    loss: str = key("", "cross (classification; weighted with class_weight), ccc (the regression default) or mse.", choices=LOSSES)
    patience: int = key(0, "Stop after N epochs without dev improvement (0 = off).")
    accumulation: int = key(1, "Batches whose gradients are summed before each optimiser step.")
    push_to_hub: bool = key(False, "Upload the saved model to a private Hugging Face hub repository (needs [MODEL] hf_token or "
                                   "$HF_TOKEN and the network; otherwise one warning says why; never fails the finished experiment).",
                            hashed=False)
    hub_repo: str = key("", "Hub repository for push_to_hub (default: the experiment name).", hashed=False)


def check(params: Mapping[str, Any]) -> None:
    """One-line errors for settings that cannot train."""
    if not params.get("pretrained_model"):
        raise ConfigError("[MODEL] type = finetune needs pretrained_model: a folder written by save_pretrained or a hub id")
    if not float(params.get("max_duration", 8.0)) > 0:
        raise ConfigError(f"[MODEL] max_duration must be > 0 seconds, got {params.get('max_duration')}")
    for name in ("batch_size", "accumulation"):
        if int(params.get(name, 1)) < 1:
            raise ConfigError(f"[MODEL] {name} must be at least 1, got {params.get(name)}")
    if not float(params.get("learning_rate", 1e-4)) > 0:
        raise ConfigError(f"[MODEL] learning_rate must be > 0, got {params.get('learning_rate')}")
    if int(params.get("layer", 0)) < 0:
        raise ConfigError(f"[MODEL] layer must be 0 or more, got {params.get('layer')}")


class _Unfitted:
    """What ``build`` returns: the settings are fine; fitting happens in nkl.finetune.fit (on audio)."""

    family = FAMILY

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)


def _build(params: Mapping[str, Any], seed: int) -> Any:
    check(params)
    return _Unfitted(params)


def load_model(folder: Path) -> Any:
    raise ModelError(f"{folder} holds a fine-tuned model; apply it with nkl predict --model <experiment>")


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("finetune", "classification", _build, "transformers",
              "Fine-tune a pretrained speech transformer on the audio (classification, or regression with [EXP] type = regression)",
              FinetuneSettings, on_features=False),
)
