"""Feature scaling and missing-value filling, fitted on training rows only and saved for inference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nkl.catalog.store import write_text
from nkl.errors import ConfigError


@dataclass
class FeatureScaler:
    """Fills NaNs and scales columns with statistics of the training rows.

    ``method`` is '', 'standard', 'robust', 'minmax' or 'speaker'. 'speaker' z-scores each speaker's
    rows with that speaker's own mean and std (no labels are used; a test speaker's statistics never
    touch the training rows), after a global standard scaling fitted on train.
    """

    method: str = ""
    nan_strategy: str = "zero"
    fill: np.ndarray = field(default_factory=lambda: np.zeros(0))
    center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))

    def fit(self, X: np.ndarray) -> FeatureScaler:
        if self.nan_strategy == "zero":
            self.fill = np.zeros(X.shape[1])
        elif self.nan_strategy in ("mean", "median"):
            stat = np.nanmean if self.nan_strategy == "mean" else np.nanmedian
            with np.errstate(all="ignore"):
                self.fill = np.nan_to_num(stat(np.where(np.isfinite(X), X, np.nan), axis=0))
        else:
            raise ConfigError(f"[FEATS] nan_strategy '{self.nan_strategy}' is not supported; use zero, mean or median")
        X = self._filled(X)
        if self.method in ("standard", "speaker"):
            self.center, self.scale = X.mean(axis=0), X.std(axis=0)
        elif self.method == "robust":
            q1, med, q3 = np.percentile(X, [25, 50, 75], axis=0)
            self.center, self.scale = med, q3 - q1
        elif self.method == "minmax":
            self.center, self.scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        elif self.method == "":
            self.center, self.scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        else:
            raise ConfigError(f"[FEATS] scale '{self.method}' is not supported; use standard, robust, minmax or speaker")
        self.scale = np.where(self.scale > 1e-12, self.scale, 1.0)
        return self

    def _filled(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        bad = ~np.isfinite(X)
        if bad.any():
            X[bad] = np.broadcast_to(self.fill, X.shape)[bad]
        return X

    def transform(self, X: np.ndarray, speakers: np.ndarray | None = None) -> np.ndarray:
        X = (self._filled(X) - self.center) / self.scale
        if self.method == "speaker":
            if speakers is None:
                raise ConfigError("[FEATS] scale = speaker needs a speaker for every sample")
            for spk in np.unique(speakers):
                rows = speakers == spk
                mean, std = X[rows].mean(axis=0), X[rows].std(axis=0)
                X[rows] = (X[rows] - mean) / np.where(std > 1e-12, std, 1.0)
        return X

    def save(self, path: Path) -> None:
        """Store as JSON (plain numbers; no pickle)."""
        write_text(json.dumps({"method": self.method, "nan_strategy": self.nan_strategy, "fill": self.fill.tolist(),
                               "center": self.center.tolist(), "scale": self.scale.tolist()}), path)

    @classmethod
    def load(cls, path: Path) -> FeatureScaler:
        data = json.loads(path.read_text())
        return cls(data["method"], data["nan_strategy"], np.array(data["fill"]), np.array(data["center"]), np.array(data["scale"]))
