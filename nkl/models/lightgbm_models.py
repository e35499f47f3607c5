"""The gradient-boosting family on LightGBM: ``xgb`` (classifier) and ``xgr`` (regressor).

nkululeko's ``xgb``/``xgr`` use XGBoost; nkl uses LightGBM for both. Defaults follow nkululeko
(``n_estimators`` 100, ``max_depth`` 6) except ``learning_rate``: 0.1, LightGBM's own default,
not XGBoost's 0.3. LightGBM only bags rows when ``subsample_freq > 0``, so a ``subsample`` below
1.0 turns bagging on every iteration (as XGBoost's ``subsample`` does).

Early stopping (``early_stopping_rounds``) watches the dev set and only the dev set; with no dev
set all ``n_estimators`` trees are kept. Models are saved in LightGBM's text format.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, ModelError
from nkl.models._arrays import (
    class_codes,
    count_classes,
    feature_matrix,
    spread_columns,
    targets,
)
from nkl.models._files import atomic_path, read_json, write_json
from nkl.models.base import ModelSpec, Task

FAMILY = "lightgbm"
BOOSTER_FILE = "booster.txt"
META_FILE = "estimator.json"


def lightgbm_settings(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Translate ``[MODEL]`` params into LightGBM scikit-learn-API keyword arguments."""
    subsample = float(params.get("subsample", 1.0))
    return {
        "n_estimators": int(params.get("n_estimators", 100)),
        "max_depth": int(params.get("max_depth", 6)),
        "learning_rate": float(params.get("learning_rate", 0.1)),
        "subsample": subsample,
        "subsample_freq": 1 if subsample < 1.0 else 0,
        "colsample_bytree": float(params.get("colsample_bytree", 1.0)),
        "random_state": seed,
        "n_jobs": int(params.get("n_jobs", 1)) or _cores(),  # the same trees on any thread count (LightGBM is deterministic)
        "verbose": -1,
    }


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _eval_arguments(model: Any, X_dev: np.ndarray, y_dev: np.ndarray) -> dict[str, Any]:
    """Pass the dev set as ``eval_X``/``eval_y`` (LightGBM >= 4.7) or ``eval_set`` (older)."""
    if "eval_X" in inspect.signature(model.fit).parameters:
        return {"eval_X": (X_dev,), "eval_y": (y_dev,)}
    return {"eval_set": [(X_dev, y_dev)]}


@dataclass
class LightGBMModel:
    """A LightGBM booster behind the nkl ``Estimator`` interface.

    Training goes through ``LGBMClassifier``/``LGBMRegressor``; prediction always goes through
    the bare ``lightgbm.Booster``, so a freshly fitted model and a loaded one predict alike.
    """

    family: ClassVar[str] = FAMILY
    name: str
    task: Task
    params: dict[str, Any]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    _booster: Any = field(default=None, repr=False)
    _classes: list[int] = field(default_factory=list)
    _n_classes: int = 0
    _best_iteration: int | None = None

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_dev: np.ndarray | None = None,
        y_dev: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Train the booster; with ``early_stopping_rounds`` and a dev set, stop on the dev loss."""
        import lightgbm

        features = feature_matrix(X)
        settings = lightgbm_settings(self.params, self.seed)
        if self.task == "classification":
            y_fit = class_codes(y)
            y_eval = None if y_dev is None else class_codes(y_dev, what="y_dev")
            balanced = bool(self.params.get("class_weight", False))
            model = lightgbm.LGBMClassifier(class_weight="balanced" if balanced else None, **settings)
        else:
            y_fit = targets(y)
            y_eval = None if y_dev is None else targets(y_dev, what="y_dev")
            model = lightgbm.LGBMRegressor(**settings)

        rounds = self.params.get("early_stopping_rounds")
        fit_kwargs: dict[str, Any] = {}
        use_dev = bool(rounds) and X_dev is not None and y_eval is not None
        if use_dev:
            fit_kwargs.update(_eval_arguments(model, feature_matrix(X_dev, what="X_dev"), y_eval))
            fit_kwargs["callbacks"] = [lightgbm.early_stopping(int(rounds), verbose=False)]
        model.fit(features, y_fit, sample_weight=sample_weight, **fit_kwargs)

        self._booster = model.booster_
        self._best_iteration = int(model.best_iteration_) if use_dev else None
        if self.task == "classification":
            self._classes = [int(c) for c in model.classes_]
            self._n_classes = count_classes(y_fit, y_eval)
        self.info = {
            "early_stopping": "dev" if use_dev else ("no dev set" if rounds else "off"),
            "best_iteration": self._best_iteration,
            "n_iterations": int(self._booster.current_iteration()),
        }
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return class codes (int64) or regression values (float64)."""
        if self.task == "classification":
            return np.argmax(self.predict_proba(X), axis=1).astype(np.int64)
        return np.asarray(self._raw_predict(X), dtype=np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return class probabilities with one column per code ``0..K-1``."""
        if self.task != "classification":
            raise ModelError(f"Model {self.name!r} is a regressor and has no predict_proba")
        raw = np.asarray(self._raw_predict(X), dtype=np.float64)
        # A binary objective returns P(second class) only.
        proba = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        return spread_columns(proba, np.asarray(self._classes), self._n_classes)

    def save(self, folder: Path) -> None:
        """Write ``booster.txt`` (LightGBM text format) and ``estimator.json`` into ``folder``."""
        booster = self._fitted()
        folder = Path(folder)
        with atomic_path(folder / BOOSTER_FILE) as tmp_path:
            booster.save_model(tmp_path, num_iteration=self._best_iteration)
        write_json(
            folder / META_FILE,
            {
                "name": self.name,
                "task": self.task,
                "params": self.params,
                "seed": self.seed,
                "info": self.info,
                "classes": self._classes,
                "n_classes": self._n_classes,
                "best_iteration": self._best_iteration,
            },
        )

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model written by ``save``."""
        import lightgbm

        folder = Path(folder)
        meta = read_json(folder / META_FILE)
        model = cls(
            name=meta["name"],
            task=meta["task"],
            params=meta["params"],
            seed=meta["seed"],
        )
        model.info = meta["info"]
        model._classes = meta["classes"]
        model._n_classes = meta["n_classes"]
        model._best_iteration = meta["best_iteration"]
        model._booster = lightgbm.Booster(model_file=folder / BOOSTER_FILE)
        return model

    def _raw_predict(self, X: np.ndarray) -> np.ndarray:
        return self._fitted().predict(feature_matrix(X), num_iteration=self._best_iteration)

    def _fitted(self) -> Any:
        if self._booster is None:
            raise ModelError(f"Model {self.name!r} is not fitted yet")
        return self._booster


def load_model(folder: Path) -> LightGBMModel:
    """Read a model of this family that ``LightGBMModel.save`` wrote into ``folder``."""
    return LightGBMModel.load(folder)


def _builder(name: str, task: Task) -> Callable[[Mapping[str, Any], int], LightGBMModel]:
    def build(params: Mapping[str, Any], seed: int) -> LightGBMModel:
        try:  # fail on a non-numeric value before any training starts
            lightgbm_settings(params, seed)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"Bad [MODEL] value for {name!r}: {error}") from error
        return LightGBMModel(name=name, task=task, params=dict(params), seed=seed)

    return build


@dataclass(frozen=True)
class BoostingSettings:
    """[MODEL] keys of xgb and xgr (gradient-boosted trees, LightGBM)."""

    n_estimators: int = key(100, "Boosting rounds.")
    max_depth: int = key(6, "Tree depth.")
    learning_rate: float = key(0.1, "Shrinkage per round (XGBoost's default is 0.3).")
    subsample: float = key(1.0, "Row subsampling.")
    colsample_bytree: float = key(1.0, "Column subsampling.")
    early_stopping_rounds: int = key(0, "Stop after N rounds without improvement on the dev split (0 = off).")


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "xgb",
        "classification",
        _builder("xgb", "classification"),
        None,
        "Gradient-boosted trees classifier (LightGBM; learning_rate default 0.1, not XGBoost's 0.3)",
        BoostingSettings,
    ),
    ModelSpec(
        "xgr",
        "regression",
        _builder("xgr", "regression"),
        None,
        "Gradient-boosted trees regressor (LightGBM; learning_rate default 0.1, not XGBoost's 0.3)",
        BoostingSettings,
    ),
)
