"""``gmm``: a Gaussian-mixture classifier: one scikit-learn ``GaussianMixture`` per class, the class posterior from each
mixture's likelihood and the class prior (nkululeko's ``gmm`` fits one mixture to all features and returns component
numbers, not classes). Saved as JSON + NumPy arrays (``allow_pickle=False``), no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, ModelError
from nkl.models._arrays import class_codes, count_classes, feature_matrix
from nkl.models._files import atomic_path, read_json, write_json
from nkl.models.base import ModelSpec, Task

FAMILY = "gmm"
META_FILE = "estimator.json"
ARRAYS_FILE = "mixtures.npz"
COVARIANCES = ("full", "tied", "diag", "spherical")
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@dataclass
class GmmClassifier:
    """Per-class Gaussian mixtures; ``predict_proba`` is the softmax of log p(x | class) + log p(class)."""

    family: ClassVar[str] = FAMILY
    name: str
    task: Task
    params: dict[str, Any]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    _mixtures: list[Any] = field(default_factory=list, repr=False)
    _log_prior: np.ndarray | None = None

    def _settings(self) -> tuple[int, str]:
        components = int(self.params.get("GMM_components", 4))
        covariance = str(self.params.get("GMM_covariance_type", "diag"))
        return components, covariance

    def fit(self, X: np.ndarray, y: np.ndarray, *, X_dev: np.ndarray | None = None, y_dev: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None) -> Self:
        from sklearn.mixture import GaussianMixture

        features, codes = feature_matrix(X), class_codes(y)
        components, covariance = self._settings()
        n_classes = count_classes(codes, None if y_dev is None else class_codes(y_dev, what="y_dev"))
        counts = np.bincount(codes, minlength=n_classes)
        self._mixtures = []
        used = []
        for k in range(n_classes):
            rows = features[codes == k]
            if len(rows) == 0:  # a class with no training row can never be predicted
                self._mixtures.append(None)
                used.append(0)
                continue
            n = max(1, min(components, len(rows)))
            mixture = GaussianMixture(n_components=n, covariance_type=covariance, reg_covar=1e-3, random_state=self.seed)
            self._mixtures.append(mixture.fit(rows if len(rows) > 1 else np.vstack([rows, rows])))
            used.append(n)
        with np.errstate(divide="ignore"):
            self._log_prior = np.log(counts / counts.sum())
        self.info = {"components_per_class": used, "covariance_type": covariance}
        return self

    def _log_posterior(self, X: np.ndarray) -> np.ndarray:
        if not self._mixtures:
            raise ModelError(f"Model {self.name!r} is not fitted yet")
        features = feature_matrix(X)
        scores = np.full((len(features), len(self._mixtures)), -np.inf)
        for k, mixture in enumerate(self._mixtures):
            if mixture is not None:
                scores[:, k] = mixture.score_samples(features) + self._log_prior[k]
        return scores

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self._log_posterior(X)
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return probs / probs.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._log_posterior(X).argmax(axis=1).astype(np.int64)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"log_prior": self._log_prior}
        present = []
        for k, mixture in enumerate(self._mixtures):
            present.append(mixture is not None)
            if mixture is not None:
                arrays.update({f"{k}.{p}": getattr(mixture, p) for p in PARAMS})
        with atomic_path(folder / ARRAYS_FILE) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        write_json(folder / META_FILE, {"family": FAMILY, "name": self.name, "task": self.task, "params": self.params,
                                        "seed": self.seed, "info": self.info, "present": present})

    @classmethod
    def load(cls, folder: Path) -> Self:
        from sklearn.mixture import GaussianMixture

        meta = read_json(folder / META_FILE)
        model = cls(name=meta["name"], task=meta["task"], params=meta["params"], seed=meta["seed"], info=meta.get("info", {}))
        _, covariance = model._settings()
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
            model._log_prior = arrays["log_prior"]
            for k, present in enumerate(meta["present"]):
                if not present:
                    model._mixtures.append(None)
                    continue
                mixture = GaussianMixture(n_components=len(arrays[f"{k}.weights_"]), covariance_type=covariance)
                for p in PARAMS:
                    setattr(mixture, p, arrays[f"{k}.{p}"])
                model._mixtures.append(mixture)
        return model


def load_model(folder: Path) -> GmmClassifier:
    return GmmClassifier.load(folder)


def _build(params: Mapping[str, Any], seed: int) -> GmmClassifier:
    components = params.get("GMM_components", 4)
    covariance = params.get("GMM_covariance_type", "diag")
    if not isinstance(components, int) or components < 1:
        raise ConfigError(f"[MODEL] GMM_components must be a whole number of at least 1, got {components!r}")
    if covariance not in COVARIANCES:
        raise ConfigError(f"[MODEL] GMM_covariance_type '{covariance}' is not known; choices: {', '.join(COVARIANCES)}")
    return GmmClassifier(name="gmm", task="classification", params=dict(params), seed=seed)


@dataclass(frozen=True)
class GmmSettings:
    """[MODEL] keys of gmm."""

    GMM_components: int = key(4, "Gaussian components per class (fewer when a class has fewer training rows).")
    GMM_covariance_type: str = key("diag", "full, tied, diag or spherical (nkululeko's default full needs many rows per class).",
                                   choices=COVARIANCES)


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("gmm", "classification", _build, None, "Gaussian mixture per class (class posterior from likelihoods and priors)",
              GmmSettings),
)

__all__ = ["SPECS", "GmmClassifier", "load_model"]
