"""The saved model of an experiment: estimator, scaler, label encoding and feature spec, reloadable.

Folder layout (``experiments/<name>/model/``)::

    bundle.json     task, target, labels, feature columns, extractor specs, config hash
    scaler.json     the fitted FeatureScaler (plain numbers)
    estimator/      the model in its family's safe format (skops, LightGBM text, safetensors)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nkl.catalog.store import write_text, writing
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
        tmp = folder.with_name(f".{folder.name}.tmp")
        try:
            with writing(folder.parent):
                folder.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
                save_estimator(self.estimator, tmp / "estimator")
                self.scaler.save(tmp / "scaler.json")
                write_text(json.dumps(self.manifest, indent=2, default=str), tmp / "bundle.json")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # no half-written bundle is left beside the model
            raise
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        manifest_path = folder / "bundle.json"
        if not manifest_path.is_file():
            raise ModelError(f"{folder} holds no saved nkl model (no bundle.json); run the experiment with [EXP] save = True")
        manifest = json.loads(manifest_path.read_text())
        return cls(load_estimator(folder / "estimator"), FeatureScaler.load(folder / "scaler.json"), manifest)
