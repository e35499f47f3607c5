"""Text embeddings of a transcript column (``type = ['bert']`` or ``['bert-base-german-cased']``, nkululeko's names).

A transformers text encoder (BERT, RoBERTa, XLM-R ...; ``bert.model``: a local folder or a hub id in the local cache)
embeds each sample's ``bert.text_column``; one layer's token states (``bert.layer`` top layers removed, as for the
speech encoders) are mean-pooled over the real tokens. Rows are keyed by the text, not the audio: the same sentence
is embedded once, and an edited transcript is embedded again. A sample without text is recorded in ``rejects``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import polars as pl

from nkl.config.sections import key
from nkl.errors import ConfigError, DataError, MissingExtraError, ModelError
from nkl.features.model_source import hub_load_error, local_folder, model_identity, offline
from nkl.features.registry import Extractor
from nkl.hashing import stable_hash


@dataclass(frozen=True)
class BertSettings:
    """[FEATS] keys of ``bert``."""

    model: str = key("", "Hub id or local folder of a transformers text encoder (default: named after the type, e.g. "
                         "bert-base-german-cased; bert-base-uncased for plain 'bert').", path=True)
    layer: int = key(0, "Top transformer layers removed (0 = the last layer's output).")
    text_column: str = key("text", "The data column holding each sample's transcript.")
    max_tokens: int = key(512, "Longer texts are cut to this many tokens.")


class BertExtractor(Extractor):
    """Mean-pooled token states of one layer of a text encoder, per distinct text."""

    name = "bert"
    Settings = BertSettings
    key_prefix = "bert"
    sample_rate = None
    min_duration = 0.0
    reads_audio = False
    batched = True  # the batch size applies to texts; no audio is decoded
    source = "transformers text encoder"

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self.names: list[str] = []
        self._model: Any = None
        self._tokenizer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    @property
    def model_id(self) -> str:
        if self.settings.model:
            return str(self.settings.model)
        return self.kind if self.kind.startswith("bert-") else "bert-base-uncased"

    def validate(self) -> None:
        if self.settings.layer < 0:
            raise ConfigError(f"[FEATS] bert.layer must be 0 or more (top layers removed), got {self.settings.layer}")
        if self.settings.max_tokens < 2:
            raise ConfigError(f"[FEATS] bert.max_tokens must be at least 2, got {self.settings.max_tokens}")
        try:
            local_folder(self.model_id, "bert.model")
        except ModelError as exc:
            raise ConfigError(f"[FEATS] bert.model: {exc}") from None

    def params(self) -> dict[str, Any]:
        s = self.settings
        return {**model_identity(self.model_id, "bert.model"), "layer": s.layer, "max_tokens": s.max_tokens, "pooling": "mean"}

    def versions(self) -> dict[str, str]:
        try:
            return {package: version(package) for package in ("torch", "transformers")}
        except PackageNotFoundError:
            raise MissingExtraError("transformers", "transformers") from None

    @property
    def table(self) -> str:
        return "features_" + "".join(c if c.isalnum() else "_" for c in self.kind.lower())

    def describe(self) -> str:
        return f"{self.kind}: model {self.model_id}, layer {self.settings.layer} (top layers removed), text from '{self.settings.text_column}'"

    def keyed(self, samples: pl.DataFrame) -> pl.DataFrame:
        column = self.settings.text_column
        if column not in samples.columns:
            raise DataError(f"[FEATS] bert.text_column = '{column}': the data has no such column (columns: "
                            f"{', '.join(c for c in samples.columns if c not in ('sample', 'content_key'))[:200]})")
        texts = samples[column].cast(pl.String).str.strip_chars().fill_null("")
        return samples.with_columns(pl.Series("content_key", [f"text-{stable_hash(t, 24)}" for t in texts.to_list()], dtype=pl.String))

    def setup(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise MissingExtraError("transformers", "transformers") from exc
        folder = local_folder(self.model_id, "bert.model")
        source = str(folder) if folder is not None else self.model_id
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=folder is not None or offline())
            model = transformers.AutoModel.from_pretrained(source, local_files_only=folder is not None or offline())
        except (OSError, ValueError, KeyError) as exc:
            if folder is not None:
                detail = (str(exc).strip().splitlines() or [""])[0][:200]
                raise ModelError(f"Cannot load the bert model from '{folder}' ({type(exc).__name__}: {detail}); set bert.model to a folder "
                                 "written by save_pretrained (model and tokenizer)") from exc
            raise hub_load_error(self.model_id, "bert.model") from exc
        layers = int(model.config.num_hidden_layers)
        if self.settings.layer >= layers:
            raise ConfigError(f"bert.layer = {self.settings.layer} is out of range for '{self.model_id}' with {layers} layers; "
                              f"use 0..{layers - 1}")
        self._device = self.torch_device()
        self._model, self._tokenizer, self._torch = model.to(self._device).eval(), tokenizer, torch
        self.names = [f"emb_{i}" for i in range(int(model.config.hidden_size))]

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        raise NotImplementedError("bert embeds the text column, not audio (see rows_for)")

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled embeddings (float64, one row per text, in order), ``batch_size`` texts per forward pass."""
        self.setup()
        torch, out = self._torch, []
        with torch.inference_mode():
            for first in range(0, len(texts), self.batch_size or 8):
                batch = self._tokenizer(texts[first: first + (self.batch_size or 8)], padding=True, truncation=True,
                                        max_length=self.settings.max_tokens, return_tensors="pt").to(self._device)
                output = self._model(**batch, output_hidden_states=self.settings.layer > 0)
                hidden = output.last_hidden_state if self.settings.layer == 0 else output.hidden_states[-1 - self.settings.layer]
                mask = batch["attention_mask"].unsqueeze(-1).to(torch.float64)
                out.append(((hidden.to(torch.float64) * mask).sum(dim=1) / mask.sum(dim=1)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.names)))

    def rows_for(self, samples: pl.DataFrame) -> tuple[list[str], list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
        """Embeddings of the samples' texts (``samples`` keyed by text): rows, and failures for samples without text."""
        self.setup()
        texts = samples[self.settings.text_column].cast(pl.String).str.strip_chars().fill_null("").to_list()
        keys = samples["content_key"].to_list()
        failures = [(k, f"no text in column '{self.settings.text_column}'") for k, t in zip(keys, texts, strict=True) if not t]
        todo = [(k, t) for k, t in zip(keys, texts, strict=True) if t]
        values = self.embed([t for _, t in todo])
        return list(self.names), [(k, v) for (k, _), v in zip(todo, values, strict=True)], failures
