"""Apply a saved experiment to new audio: its extractors, fitted scaler, label encoding and model.

Nothing is refitted: the bundle's scaler and classes are used as saved, so given an experiment's own
test files this reproduces its stored test predictions exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.context import RunContext
from nkl.errors import ModelError
from nkl.features.cache import ensure_features, join_features
from nkl.features.registry import extractors_from_manifest
from nkl.models.bundle import ModelBundle
from nkl.models.train import Design, FittedModel, predict_rows


def find_bundle(reference: str, workspace: Workspace) -> Path:
    """The model folder of a saved experiment given as a folder, an experiment folder, or a name in the workspace."""
    path = Path(reference)
    for candidate in (path, path / "model", workspace.experiment_dir(reference) / "model"):
        if (candidate / "bundle.json").is_file():
            return candidate
    raise ModelError(
        f"no saved nkl model at '{reference}': give an experiment name of workspace {workspace.root}, an experiment "
        "folder, or its model/ folder (run the experiment with [EXP] save = True first)"
    )


def apply_bundle(ctx: RunContext, bundle: ModelBundle, samples: pl.DataFrame, *, workers: int = 0, engine: Any = None) -> pl.DataFrame:
    """Predictions of a saved model for these samples: predicted (+ probabilities and uncertainty); missing feature rows
    are computed on ``engine`` (None = this machine)."""
    manifest = bundle.manifest
    extractors = extractors_from_manifest(manifest["feats"])
    saved = {e["name"]: e for e in manifest["extractors"]}
    for ext in extractors:
        if saved.get(ext.name, {}).get("versions") != ext.spec()["versions"]:
            ctx.log.warning("%s: library versions differ from training (%s now, %s then); predictions may drift",
                            ext.table, ext.spec()["versions"], saved.get(ext.name, {}).get("versions"))
        ensure_features(ctx, ext, samples, workers=workers, engine=engine)
    base = samples.select("sample", "file", "speaker", "database", "content_key")
    frame, columns = join_features(ctx, extractors, base, source=samples)
    missing = [c for c in manifest["columns"] if c not in columns]
    if missing:
        raise ModelError(f"the saved model needs feature columns that the extractors did not give: {missing[:5]}")
    design = Design(samples=frame.select("sample", "file", "speaker", "database").with_columns(split=pl.lit("new"), truth=pl.lit(None)),
                    X=frame.select(manifest["columns"]).to_numpy().astype(np.float64), columns=manifest["columns"],
                    y=np.zeros(frame.height), labels=list(manifest["labels"]), task=manifest["task"])
    model = FittedModel(run=int(manifest.get("run", 0)), estimator=bundle.estimator, scaler=bundle.scaler, info={})
    out = predict_rows(model, design, np.ones(frame.height, dtype=bool))
    result = frame.select("sample", "file").with_columns(pl.Series("predicted", list(out["predicted"])))
    if manifest["task"] == "classification":
        result = result.with_columns(pl.Series("uncertainty", out["uncertainty"], dtype=pl.Float64))
        result = result.with_columns([pl.Series(f"prob_{label}", out["proba"][:, i], dtype=pl.Float64)
                                      for i, label in enumerate(design.labels)])
    return result
