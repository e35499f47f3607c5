"""Feature importance that is never fitted and scored on the same rows.

Models are fitted (scaler included) on training rows only: the experiment's train split, or, when the
databases give no test split, the training speakers of an inner speaker-grouped split. Permutation importance
and SHAP are computed on the held-out rows. Model-based importance (|coefficients| averaged over classes, or the
trees' importances) comes from the same fit, and the model's held-out score says how far to trust it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from nkl.config.config import Config
from nkl.context import RunContext
from nkl.errors import ConfigError, MissingExtraError
from nkl.features.cache import ensure_features, join_features
from nkl.features.registry import build_extractors

CLASSIFIERS = ("log_reg", "tree", "xgb", "svm", "knn", "bayes")
REGRESSORS = ("lin_reg", "tree_reg", "xgr", "svr", "knn_reg")
PERMUTATION_REPEATS = 30


@dataclass(frozen=True)
class FeatureData:
    """Explored samples with their feature matrix (rows sorted by sample)."""

    samples: pl.DataFrame  # sample, speaker, split, target, gender (when known)
    X: np.ndarray
    columns: list[str]
    y: np.ndarray


@dataclass(frozen=True)
class Importance:
    """Importance per feature and method, and which rows fitted and which scored the models."""

    table: pl.DataFrame  # method, feature, importance, std, rank
    fit_samples: list[str]
    eval_samples: list[str]
    eval_split: str
    eval_score: float


def feature_data(ctx: RunContext, config: Config, df: pl.DataFrame, target: str, task: str) -> FeatureData:
    """Features of the explored samples (extracted now if the catalog lacks them)."""
    extractors = build_extractors(config)
    for ext in extractors:
        ensure_features(ctx, ext, df, workers=config.feats.workers, fail_threshold=config.feats.fail_threshold)
    keep = ["sample", "speaker", "split", "content_key"] + (["gender"] if "gender" in df.columns else [])
    frame = df.select(*keep, pl.col(target).alias("target"))
    frame, columns = join_features(ctx, extractors, frame, source=df)
    frame = frame.sort("sample")
    X = frame.select(columns).to_numpy().astype(np.float64)
    X = np.where(np.isfinite(X), X, 0.0)
    y = frame["target"].cast(pl.String).to_numpy() if task == "classification" else frame["target"].cast(pl.Float64).to_numpy()
    return FeatureData(frame.drop(columns, "content_key"), X, columns, y)


def held_out(samples: pl.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Masks of fit and evaluation rows: train(+dev) vs test, else an inner split holding out 20 % of the speakers."""
    split = samples["split"].to_numpy()
    if (split == "test").any() and (split != "test").any():
        return split != "test", split == "test", "test"
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

    speakers = samples["speaker"].fill_null("").to_numpy()
    if len(set(speakers)) >= 3:
        fit, held = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(speakers, groups=speakers))
        name = "inner speaker split"
    else:
        fit, held = next(ShuffleSplit(n_splits=1, test_size=0.2, random_state=seed).split(speakers))
        name = "inner random split"
    fit_mask, eval_mask = np.zeros(len(split), bool), np.zeros(len(split), bool)
    fit_mask[fit], eval_mask[held] = True, True
    return fit_mask, eval_mask, name


def build_model(name: str, task: str, seed: int):
    """A scikit-learn pipeline (standard scaling + the model) for one [EXPL] model name."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    allowed = CLASSIFIERS if task == "classification" else REGRESSORS
    if name not in allowed:
        raise ConfigError(f"[EXPL] model '{name}' cannot explain a {task} target; choose from {', '.join(allowed)}")
    if name == "log_reg":
        from sklearn.linear_model import LogisticRegression
        model = LogisticRegression(max_iter=3000)
    elif name in ("tree", "tree_reg"):
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
        model = (DecisionTreeClassifier if name == "tree" else DecisionTreeRegressor)(random_state=seed)
    elif name in ("xgb", "xgr"):
        from lightgbm import LGBMClassifier, LGBMRegressor
        model = (LGBMClassifier if name == "xgb" else LGBMRegressor)(n_estimators=100, random_state=seed, verbose=-1, n_jobs=1)
    elif name in ("svm", "svr"):
        from sklearn.svm import SVC, SVR
        model = SVC(kernel="linear") if name == "svm" else SVR(kernel="linear")
    elif name in ("knn", "knn_reg"):
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
        model = (KNeighborsClassifier if name == "knn" else KNeighborsRegressor)(n_neighbors=5)
    elif name == "bayes":
        from sklearn.naive_bayes import GaussianNB
        model = GaussianNB()
    else:
        from sklearn.linear_model import LinearRegression
        model = LinearRegression()
    return make_pipeline(StandardScaler(), model)


def own_importance(pipeline) -> np.ndarray | None:
    """The fitted model's own importance: tree importances or |coefficients| (mean over classes); None for knn/bayes."""
    model = pipeline[-1]
    if hasattr(model, "feature_importances_"):
        return np.asarray(model.feature_importances_, dtype=np.float64)
    coef = getattr(model, "coef_", None)
    if coef is None:
        return None
    coef = np.abs(np.asarray(coef, dtype=np.float64))
    return coef.mean(axis=0) if coef.ndim == 2 else coef


def _minmax(v: np.ndarray) -> np.ndarray:
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def _score(pipeline, X: np.ndarray, y: np.ndarray, task: str) -> float:
    from sklearn.metrics import balanced_accuracy_score, r2_score

    predicted = pipeline.predict(X)
    return float(balanced_accuracy_score(y, predicted) if task == "classification" else r2_score(y, predicted))


def feature_importance(data: FeatureData, models: list[str], task: str, *, permutation: bool, seed: int, log) -> Importance:
    """Importance per model (fitted on the fit rows) and, with ``permutation``, scored on the held-out rows; several
    models are min-max normalised and averaged (method 'mean')."""
    fit, held, eval_split = held_out(data.samples, seed)
    X_fit, y_fit, X_eval, y_eval = data.X[fit], data.y[fit], data.X[held], data.y[held]
    if task == "classification" and len(set(y_fit)) < 2:
        raise ConfigError("feature importance needs at least two classes among the training rows")
    tables, scores = [], []
    for name in models:
        pipeline = build_model(str(name), task, seed)
        pipeline.fit(X_fit, y_fit)
        scores.append(_score(pipeline, X_eval, y_eval, task))
        values, std = own_importance(pipeline), None
        method = f"{name}"
        if permutation or values is None:
            if values is None and not permutation:
                log.warning("[EXPL] model %s has no importance of its own; using permutation importance on held-out rows", name)
            from sklearn.inspection import permutation_importance

            result = permutation_importance(pipeline, X_eval, y_eval, n_repeats=PERMUTATION_REPEATS, random_state=seed, n_jobs=1,
                                            scoring="balanced_accuracy" if task == "classification" else "r2")
            values, std, method = result.importances_mean, result.importances_std, f"{name}_permutation"
        tables.append(pl.DataFrame({"method": method, "feature": data.columns, "importance": values,
                                    "std": std if std is not None else np.full(len(values), np.nan)}))
    if len(tables) > 1:
        mean = np.mean([_minmax(t["importance"].to_numpy()) for t in tables], axis=0)
        tables.append(pl.DataFrame({"method": "mean", "feature": data.columns, "importance": mean, "std": np.full(len(mean), np.nan)}))
    table = pl.concat(tables).with_columns(rank=pl.col("importance").rank("ordinal", descending=True).over("method").cast(pl.Int64))
    samples = data.samples["sample"].to_numpy()
    return Importance(table.sort("method", "rank"), list(samples[fit]), list(samples[held]), eval_split, float(np.mean(scores)))


def shap_importance(data: FeatureData, model: str, task: str, seed: int, max_rows: int = 40) -> pl.DataFrame:
    """Mean |SHAP| per feature (shap's permutation explainer) of a model fitted on the fit rows, on held-out rows."""
    try:
        with warnings.catch_warnings():  # shap's import trips matplotlib deprecation notices that are not ours to fix
            warnings.simplefilter("ignore", (DeprecationWarning, PendingDeprecationWarning))
            import shap
    except ImportError:
        raise MissingExtraError("explore", "shap") from None
    fit, held, _ = held_out(data.samples, seed)
    pipeline = build_model(model, task, seed).fit(data.X[fit], data.y[fit])
    rng = np.random.default_rng(seed)
    background = data.X[fit][rng.choice(fit.sum(), size=min(50, int(fit.sum())), replace=False)]
    X_eval = data.X[held][: max_rows]
    predict = pipeline.predict_proba if task == "classification" and hasattr(pipeline, "predict_proba") else pipeline.predict
    explainer = shap.explainers.Permutation(predict, shap.maskers.Independent(background), seed=seed)
    values = np.abs(explainer(X_eval, max_evals=2 * data.X.shape[1] + 1, silent=True).values)
    mean = values.mean(axis=tuple(i for i in range(values.ndim) if i != 1))
    return pl.DataFrame({"method": f"{model}_shap", "feature": data.columns, "importance": mean, "std": np.full(len(mean), np.nan)}).with_columns(
        rank=pl.col("importance").rank("ordinal", descending=True).cast(pl.Int64)).sort("rank")
