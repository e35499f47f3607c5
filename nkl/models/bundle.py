"""The saved model of an experiment: estimator, scaler, label encoding and feature spec, reloadable.

Folder layout (``experiments/<name>/model/``)::

    bundle.json     task, target, labels, feature columns, extractor specs, config hash
    scaler.json     the fitted FeatureScaler (plain numbers)
    estimator/      the model in its family's safe format (skops, LightGBM text, safetensors)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nkl.catalog.store import atomic_folder, write_text
from nkl.errors import ModelError
from nkl.features.scaling import FeatureScaler
from nkl.models.base import Estimator
from nkl.models.persist import load_estimator, save_estimator


@dataclass
class ModelBundle:
    """Everything needed to apply a trained model to new audio."""

    estimator: Estimator
    scaler: FeatureScaler
    manifest: dict[str, Any]

    def save(self, folder: Path) -> Path:
        """Write into a temp folder, then swap it in: an interrupted save leaves the old bundle intact."""
        with atomic_folder(folder) as tmp:
            save_estimator(self.estimator, tmp / "estimator")
            self.scaler.save(tmp / "scaler.json")
            write_text(json.dumps(self.manifest, indent=2, default=str), tmp / "bundle.json")
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        manifest_path = folder / "bundle.json"
        if not manifest_path.is_file():
            raise ModelError(f"{folder} holds no saved nkl model (no bundle.json); run the experiment with [EXP] save = True")
        manifest = json.loads(manifest_path.read_text())
        return cls(load_estimator(folder / "estimator"), FeatureScaler.load(folder / "scaler.json"), manifest)
