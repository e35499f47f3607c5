"""The scikit-learn model family: svm, svr, knn, knn_reg, tree, tree_reg, bayes, log_reg, lin_reg.

Models are saved with skops, never pickle. Loading trusts only the types that skops reports as
unknown when every one of them comes from scikit-learn or NumPy.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, ModelError
from nkl.models._arrays import (
    balanced_sample_weight,
    class_codes,
    combine_weights,
    count_classes,
    feature_matrix,
    spread_columns,
    targets,
)
from nkl.models._files import atomic_path, read_json, write_json
from nkl.models.base import ModelSpec, Task

FAMILY = "sklearn"
ESTIMATOR_FILE = "estimator.skops"
META_FILE = "estimator.json"
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.")
SVM_KERNELS = ("linear", "poly", "rbf", "sigmoid")
KNN_WEIGHTS = ("uniform", "distance")

# Models whose constructor takes class_weight='balanced'; the others get balanced sample weights.
_TAKES_CLASS_WEIGHT = frozenset({"svm", "tree", "log_reg"})
# Models whose probabilities come from a calibrated copy (see SklearnModel).
_CALIBRATED = frozenset({"svm"})

logger = logging.getLogger(__name__)



_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def import_skops() -> Any:
    """``skops.io``, imported without dragging in torch.

    skops lists scikit-learn's estimators with ``all_estimators()``, whose package walk imports
    scikit-learn's torch compatibility shim and so torch itself (seconds and ~500 MB) even though no
    model here uses it. A placeholder module for the shim, removed again afterwards, stops that walk.
    """
    placeholder = None
    if "torch" not in sys.modules and _TORCH_SHIM not in sys.modules:
        placeholder = sys.modules[_TORCH_SHIM] = types.ModuleType(_TORCH_SHIM)
    try:
        import skops.io
    finally:
        if placeholder is not None and sys.modules.get(_TORCH_SHIM) is placeholder:
            del sys.modules[_TORCH_SHIM]
    return skops.io

def _choice(params: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(key, default)
    if value not in choices:
        raise ConfigError(f"Bad value {value!r} for [MODEL] {key}; expected one of: {', '.join(choices)}")
    return value


def _class_weight(params: Mapping[str, Any]) -> str | None:
    return "balanced" if params.get("class_weight", False) else None


def _svm(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.svm import SVC

    return SVC(
        C=float(params.get("C_val", 1.0)),
        kernel=_choice(params, "kernel", "rbf", SVM_KERNELS),
        gamma="scale",
        class_weight=_class_weight(params),
        random_state=seed,
    )


def _calibrated(svc: Any, codes: np.ndarray) -> Any:
    """Platt-scale a copy of ``svc`` on cross-validated decisions, for ``predict_proba``.

    SVC(probability=True) is deprecated since scikit-learn 1.9; this is its stated replacement.
    """
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV

    smallest_class = int(np.bincount(codes)[np.unique(codes)].min())
    if smallest_class < 2:
        return None  # too few rows to cross-validate: calibrated on the training rows after fitting
    return CalibratedClassifierCV(clone(svc), ensemble=False, cv=min(5, smallest_class))


def _calibrated_on_training(svc: Any, X: np.ndarray, codes: np.ndarray) -> Any:
    """Platt scaling of an already fitted ``svc`` on its training rows (used when a class has one row).

    The frozen model is never refitted; rows of single-row classes are listed twice so that a 2-fold
    split can gather the model's decisions for every class.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import StratifiedKFold

    single = np.flatnonzero(np.isin(codes, np.flatnonzero(np.bincount(codes) == 1)))
    X_all, codes_all = np.vstack([X, X[single]]), np.concatenate([codes, codes[single]])
    calibrated = CalibratedClassifierCV(FrozenEstimator(svc), cv=StratifiedKFold(2, shuffle=True, random_state=0))
    return calibrated.fit(X_all, codes_all)


def _svr(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.svm import SVR

    return SVR(
        C=float(params.get("C_val", 1.0)),
        kernel=_choice(params, "kernel", "rbf", SVM_KERNELS),
    )


def _knn(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(
        n_neighbors=int(params.get("K_val", 5)),
        weights=_choice(params, "KNN_weights", "uniform", KNN_WEIGHTS),
    )


def _knn_reg(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.neighbors import KNeighborsRegressor

    return KNeighborsRegressor(
        n_neighbors=int(params.get("K_val", 5)),
        weights=_choice(params, "KNN_weights", "uniform", KNN_WEIGHTS),
    )


def _tree(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(class_weight=_class_weight(params), random_state=seed)


def _tree_reg(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(random_state=seed)


def _bayes(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


def _log_reg(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=float(params.get("C_val", 1.0)),
        max_iter=1000,
        class_weight=_class_weight(params),
        random_state=seed,
    )


def _lin_reg(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


_Factory = Callable[[Mapping[str, Any], int], Any]
_FACTORIES: dict[str, _Factory] = {
    "svm": _svm,
    "svr": _svr,
    "knn": _knn,
    "knn_reg": _knn_reg,
    "tree": _tree,
    "tree_reg": _tree_reg,
    "bayes": _bayes,
    "log_reg": _log_reg,
    "lin_reg": _lin_reg,
}


@dataclass
class SklearnModel:
    """A scikit-learn estimator behind the nkl ``Estimator`` interface.

    The sklearn object is made in ``fit`` (constructors keep no side effects), from the
    ``[MODEL]`` params held here. A dev set is accepted and ignored: these models have no
    model selection of their own.

    ``svm`` predicts with the SVC's own decision, as nkululeko does, and gets probabilities from
    a Platt-calibrated copy; near the decision boundary the two can disagree, as they do with
    libsvm's ``probability=True``. Calibration would otherwise undo ``class_weight``.
    """

    family: ClassVar[str] = FAMILY
    name: str
    task: Task
    params: dict[str, Any]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    _estimator: Any = field(default=None, repr=False)
    _proba_estimator: Any = field(default=None, repr=False)
    _n_classes: int = 0

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_dev: np.ndarray | None = None,
        y_dev: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Train the sklearn estimator on ``X, y``; see the class docstring for the dev set."""
        from sklearn.utils.validation import has_fit_parameter

        features = feature_matrix(X)
        self.info = {}
        estimator = _FACTORIES[self.name](self.params, self.seed)
        if self.task == "classification":
            y_fit = class_codes(y)
            dev_codes = None if y_dev is None else class_codes(y_dev, what="y_dev")
            self._n_classes = count_classes(y_fit, dev_codes)
        else:
            y_fit = targets(y)

        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        takes_weights = has_fit_parameter(estimator, "sample_weight")
        balance = self.task == "classification" and bool(self.params.get("class_weight", False))
        if balance and self.name not in _TAKES_CLASS_WEIGHT:
            if takes_weights:
                weights = combine_weights(weights, balanced_sample_weight(y_fit))
            else:
                self.info["class_weight"] = "ignored: the model takes no sample weights"
                logger.warning("[MODEL] class_weight is ignored by %r (no sample weights)", self.name)
        if weights is not None and not takes_weights:
            raise ModelError(f"Model {self.name!r} cannot be trained with sample weights")
        fit_kwargs = {} if weights is None else {"sample_weight": weights}

        proba_estimator = _calibrated(estimator, y_fit) if self.name in _CALIBRATED else estimator
        estimator.fit(features, y_fit, **fit_kwargs)
        if proba_estimator is None:
            self.info["calibration"] = "on training rows (a class has a single training row)"
            proba_estimator = _calibrated_on_training(estimator, features, y_fit)
        elif proba_estimator is not estimator:
            proba_estimator.fit(features, y_fit, **fit_kwargs)
        self._estimator, self._proba_estimator = estimator, proba_estimator
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return class codes (int64) or regression values (float64)."""
        predictions = self._fitted().predict(feature_matrix(X))
        return predictions.astype(np.int64 if self.task == "classification" else np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return class probabilities with one column per code ``0..K-1``."""
        if self.task != "classification":
            raise ModelError(f"Model {self.name!r} is a regressor and has no predict_proba")
        self._fitted()
        proba = self._proba_estimator.predict_proba(feature_matrix(X))
        return spread_columns(proba, self._proba_estimator.classes_, self._n_classes)

    def save(self, folder: Path) -> None:
        """Write ``estimator.skops`` and ``estimator.json`` into ``folder``."""
        skops_io = import_skops()

        estimators = {"predict": self._fitted()}
        if self._proba_estimator is not self._estimator:
            estimators["predict_proba"] = self._proba_estimator
        folder = Path(folder)
        with atomic_path(folder / ESTIMATOR_FILE) as tmp_path:
            skops_io.dump(estimators, tmp_path)
        write_json(
            folder / META_FILE,
            {
                "name": self.name,
                "task": self.task,
                "params": self.params,
                "seed": self.seed,
                "info": self.info,
                "n_classes": self._n_classes,
            },
        )

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model written by ``save``; refuses files holding non-sklearn/NumPy types."""
        skops_io = import_skops()

        folder = Path(folder)
        meta = read_json(folder / META_FILE)
        path = folder / ESTIMATOR_FILE
        unknown_types = skops_io.get_untrusted_types(file=path)
        foreign = [t for t in unknown_types if not t.startswith(TRUSTED_MODULE_PREFIXES)]
        if foreign:
            raise ModelError(f"Refusing to load {path}: it holds types outside sklearn/numpy: {foreign}")
        model = cls(
            name=meta["name"],
            task=meta["task"],
            params=meta["params"],
            seed=meta["seed"],
        )
        model.info = meta["info"]
        model._n_classes = meta["n_classes"]
        estimators = skops_io.load(path, trusted=unknown_types)
        model._estimator = estimators["predict"]
        model._proba_estimator = estimators.get("predict_proba", model._estimator)
        return model

    def _fitted(self) -> Any:
        if self._estimator is None:
            raise ModelError(f"Model {self.name!r} is not fitted yet")
        return self._estimator


def load_model(folder: Path) -> SklearnModel:
    """Read a model of this family that ``SklearnModel.save`` wrote into ``folder``."""
    return SklearnModel.load(folder)


def _builder(name: str, task: Task) -> Callable[[Mapping[str, Any], int], SklearnModel]:
    def build(params: Mapping[str, Any], seed: int) -> SklearnModel:
        # Validate choice-valued keys now, so a typo fails before any training starts.
        if name in ("svm", "svr"):
            _choice(params, "kernel", "rbf", SVM_KERNELS)
        if name in ("knn", "knn_reg"):
            _choice(params, "KNN_weights", "uniform", KNN_WEIGHTS)
        return SklearnModel(name=name, task=task, params=dict(params), seed=seed)

    return build


@dataclass(frozen=True)
class SvmSettings:
    """[MODEL] keys of svm and svr."""

    C_val: float = key(1.0, "Regularisation C.", aliases=("c_val",))
    kernel: str = key("rbf", "Kernel.", choices=SVM_KERNELS)


@dataclass(frozen=True)
class KnnSettings:
    """[MODEL] keys of knn and knn_reg."""

    K_val: int = key(5, "Neighbours.", aliases=("k_val",))
    KNN_weights: str = key("uniform", "Weighting: uniform or distance.", aliases=("knn_weights", "weights"), choices=KNN_WEIGHTS)


@dataclass(frozen=True)
class LogRegSettings:
    """[MODEL] keys of log_reg."""

    C_val: float = key(1.0, "Inverse regularisation strength C.", aliases=("c_val",))


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "svm",
        "classification",
        _builder("svm", "classification"),
        None,
        "Support vector classifier (C_val, kernel); probabilities Platt-calibrated by 5-fold CV",
        SvmSettings,
    ),
    ModelSpec(
        "svr",
        "regression",
        _builder("svr", "regression"),
        None,
        "Support vector regressor (C_val, kernel)",
        SvmSettings,
    ),
    ModelSpec(
        "knn",
        "classification",
        _builder("knn", "classification"),
        None,
        "k-nearest-neighbour classifier (K_val, KNN_weights)",
        KnnSettings,
    ),
    ModelSpec(
        "knn_reg",
        "regression",
        _builder("knn_reg", "regression"),
        None,
        "k-nearest-neighbour regressor (K_val, KNN_weights)",
        KnnSettings,
    ),
    ModelSpec(
        "tree",
        "classification",
        _builder("tree", "classification"),
        None,
        "Decision tree classifier",
    ),
    ModelSpec(
        "tree_reg",
        "regression",
        _builder("tree_reg", "regression"),
        None,
        "Decision tree regressor",
    ),
    ModelSpec(
        "bayes",
        "classification",
        _builder("bayes", "classification"),
        None,
        "Gaussian naive Bayes classifier",
    ),
    ModelSpec(
        "log_reg",
        "classification",
        _builder("log_reg", "classification"),
        None,
        "Logistic regression (C_val), max_iter 1000",
        LogRegSettings,
    ),
    ModelSpec(
        "lin_reg",
        "regression",
        _builder("lin_reg", "regression"),
        None,
        "Ordinary least squares linear regression",
    ),
)
