"""Scoring model settings on training data only, through scikit-learn's search classes.

The search sees an estimator whose ``X`` is one column of row numbers into the experiment's feature matrix
(``Design``): fitting builds the nkl model of those rows exactly as ``nkl run`` does (scaler and balancing fitted on
them), so speaker scaling and dev-based early stopping work, and scikit-learn's Grid/Randomized/Halving searches, its
cross-validation splitters and scorers are used as they are. Only training (and dev) rows are ever given to the search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from nkl.config.config import Config
from nkl.errors import ConfigError
from nkl.models.train import Design, _fit_one, _inner_dev, _needs_dev, predict_rows

METRICS = {"uar": "balanced_accuracy", "accuracy": "accuracy", "f1": "f1_macro", "precision": "precision_macro",
           "recall": "recall_macro", "mse": "neg_mean_squared_error", "mae": "neg_mean_absolute_error", "ccc": "ccc", "pcc": "pcc"}
CLASSIFICATION_METRICS = ("uar", "accuracy", "f1", "precision", "recall")


def scorer(metric: str, task: str) -> Any:
    """A scikit-learn scorer for an nkl metric name (higher is better)."""
    from sklearn.metrics import make_scorer

    from nkl.evaluate.metrics import regression_metrics

    name = metric or ("uar" if task == "classification" else "ccc")
    if name not in METRICS:
        raise ConfigError(f"[OPTIM] metric '{name}' is not known; choices: {', '.join(METRICS)}")
    if (task == "classification") != (name in CLASSIFICATION_METRICS):
        raise ConfigError(f"[OPTIM] metric '{name}' does not fit a {task} experiment")
    if name in ("ccc", "pcc"):
        return make_scorer(lambda t, p: regression_metrics(np.asarray(t, float), np.asarray(p, float))[name])
    return METRICS[name]


def apply_params(config: Config, params: dict[str, Any]) -> Config:
    """A config with one search combination applied: [MODEL] keys (and ``type``), ``feats_<key>``, ``exp_<key>``."""
    params = dict(params)
    exp = {k.removeprefix("exp_"): params.pop(k) for k in list(params) if k.startswith("exp_")}
    feats = {k.removeprefix("feats_"): params.pop(k) for k in list(params) if k.startswith("feats_")}
    out = config.replace("model", **params) if params else config
    out = out.replace("feats", **feats) if feats else out
    return out.replace("exp", **exp) if exp else out


class _RowModel(BaseEstimator):
    """An nkl model over rows of a feature matrix; ``params`` are its [MODEL] keys (and ``type``)."""

    def __init__(self, config: Config | None = None, design: Design | None = None, params: dict | None = None, seed: int = 42) -> None:
        self.config, self.design, self.params, self.seed = config, design, params, seed

    def _config(self) -> Config:
        return apply_params(self.config, self.params or {})

    def fit(self, X: np.ndarray, y: np.ndarray) -> _RowModel:
        rows = np.asarray(X[:, 0], dtype=int)
        mask = np.zeros(len(self.design.y), dtype=bool)
        mask[rows] = True
        config = self._config()
        dev = None
        if _needs_dev(config):
            mask, dev = _inner_dev(self.design, mask, self.seed)
        self.model_ = _fit_one(config, self.design, mask, dev, self.seed)
        if self.design.task == "classification":
            self.classes_ = np.arange(len(self.design.labels))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        rows = np.asarray(X[:, 0], dtype=int)
        mask = np.zeros(len(self.design.y), dtype=bool)
        mask[rows] = True
        out = predict_rows(self.model_, self.design, mask)
        order = np.argsort(np.argsort(rows))  # predict_rows answers in row order; give them back in X's order
        predicted = np.asarray(out["predicted"])[order]
        if self.design.task == "classification":
            code = {label: i for i, label in enumerate(self.design.labels)}
            return np.array([code[p] for p in predicted])
        return predicted.astype(float)


class RowClassifier(ClassifierMixin, _RowModel):
    pass


class RowRegressor(RegressorMixin, _RowModel):
    pass


def row_estimator(config: Config, design: Design, seed: int) -> _RowModel:
    cls = RowClassifier if design.task == "classification" else RowRegressor
    return cls(config=config, design=design, params={}, seed=seed)
