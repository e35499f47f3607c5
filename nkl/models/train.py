"""Fitting an experiment's model: runs, speaker-grouped folds, dev-only selection, predictions.

Test rows never reach ``fit``, the scaler or any selection: the scaler is fitted on the rows a model
trains on, the MLP's best epoch and early stopping see only dev rows, and the best run is chosen on dev.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from nkl.config.config import Config
from nkl.errors import ModelError
from nkl.features.scaling import FeatureScaler
from nkl.models.base import Estimator
from nkl.models.registry import get_model_spec, model_settings

SELECTING_MODELS = ("mlp", "mlp_reg")


@dataclass
class Design:
    """The model's inputs: one row per sample, in the order of ``samples``."""

    samples: pl.DataFrame  # sample, split, speaker, database, truth
    X: np.ndarray
    columns: list[str]
    y: np.ndarray  # class codes or numbers
    labels: list[str]  # classes in code order (empty for regression)
    task: str


@dataclass
class FittedModel:
    """One run's model with the scaler it was trained with."""

    run: int
    estimator: Estimator
    scaler: FeatureScaler
    info: dict[str, Any]


def model_params(config: Config) -> dict[str, Any]:
    """The shared [MODEL] keys and the chosen model's own keys, as the model families read them.

    Keys left at 0 or empty that mean "off" or "the family's default" are left out (early stopping, patience, loss).
    """
    settings, _ = model_settings(config)
    params = {**dataclasses.asdict(config.model), **dataclasses.asdict(settings)}
    for section in (config.model, settings):  # saved with the model (estimator.json): never a secret (hf_token)
        for f in dataclasses.fields(section):
            if f.metadata.get("secret"):
                params.pop(f.name, None)
    params["epochs"] = config.exp.epochs
    for unset in ("early_stopping_rounds", "patience", "loss"):
        if not params.get(unset):
            params.pop(unset, None)
    return params


def _needs_dev(config: Config) -> bool:
    params = model_params(config)
    return ((config.model.type in SELECTING_MODELS and (config.exp.epochs > 1 or params.get("patience", 0) > 0))
            or params.get("early_stopping_rounds", 0) > 0)


def _inner_dev(design: Design, train_rows: np.ndarray, seed: int, percent: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Carve a speaker-disjoint dev subset out of training rows (used when no dev split exists)."""
    speakers = design.samples["speaker"].to_numpy()
    pool = sorted({s for s in speakers[train_rows] if s is not None})
    if len(pool) < 2:
        rng = np.random.default_rng(seed)
        idx = np.flatnonzero(train_rows)
        dev_idx = rng.choice(idx, size=max(1, len(idx) * int(percent) // 100), replace=False)
        dev = np.zeros_like(train_rows)
        dev[dev_idx] = True
        return train_rows & ~dev, dev
    chosen = random.Random(seed).sample(pool, max(1, round(len(pool) * percent / 100)))
    dev = train_rows & np.isin(speakers, chosen)
    return train_rows & ~dev, dev


def _fit_one(config: Config, design: Design, train: np.ndarray, dev: np.ndarray | None, seed: int) -> FittedModel:
    spec = get_model_spec(config.model.type)
    speakers = design.samples["speaker"].to_numpy()
    scaler = FeatureScaler(config.feats.scale, config.feats.nan_strategy).fit(design.X[train])
    X_train = scaler.transform(design.X[train], speakers[train])
    X_dev = scaler.transform(design.X[dev], speakers[dev]) if dev is not None and dev.any() else None
    y_dev = design.y[dev] if X_dev is not None else None
    if design.task == "classification" and len(np.unique(design.y[train])) < 2:
        raise ModelError("the training split holds fewer than 2 classes; check the split and the labels")
    y_train = design.y[train]
    if config.feats.balancing:  # the training rows of this fit only: dev, test and held-out folds are never resampled
        from nkl.models.balancing import balance

        rs = config.feats.balancing_random_state
        X_train, y_train = balance(config.feats.balancing, X_train, y_train, seed if rs < 0 else rs)
    from_columns = spec.design_params(design.columns) if spec.design_params is not None else {}
    estimator = spec.build({**model_params(config), **from_columns}, seed)
    try:
        estimator.fit(X_train, y_train, X_dev=X_dev, y_dev=y_dev)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{config.model.type} could not be trained: {str(exc).splitlines()[0][:200]}") from exc
    return FittedModel(run=0, estimator=estimator, scaler=scaler, info=dict(estimator.info or {}))


def _uncertainty(proba: np.ndarray) -> np.ndarray:
    """Normalised entropy of the class probabilities: 0 = certain, 1 = uniform."""
    p = np.clip(proba, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(max(proba.shape[1], 2))


def predict_rows(model: FittedModel, design: Design, rows: np.ndarray) -> dict[str, Any]:
    """Predicted labels (or numbers) and, for classification, probabilities of the given rows."""
    speakers = design.samples["speaker"].to_numpy()
    X = model.scaler.transform(design.X[rows], speakers[rows])
    if design.task == "regression":
        return {"predicted": model.estimator.predict(X).astype(float)}
    proba = model.estimator.predict_proba(X)
    codes = model.estimator.predict(X)  # the model's own decision (an SVM's can differ from its calibrated argmax)
    return {"predicted": np.array(design.labels, dtype=object)[codes], "proba": proba, "uncertainty": _uncertainty(proba)}


def _prediction_frame(
    design: Design, rows: np.ndarray, out: dict[str, Any], run: int, fold: int, split: str | None
) -> pl.DataFrame:
    s = design.samples.filter(pl.Series(rows))
    frame = pl.DataFrame(
        {
            "run": np.full(s.height, run, dtype=np.int64),
            "fold": np.full(s.height, fold, dtype=np.int64),
            "sample": s["sample"],
            "speaker": s["speaker"],
            "split": s["split"] if split is None else [split] * s.height,
            "truth": s["truth"],
            "predicted": list(out["predicted"]),
        }
    )
    if design.task == "classification":
        frame = frame.with_columns(pl.Series("uncertainty", out["uncertainty"], dtype=pl.Float64))
        frame = frame.with_columns(
            [pl.Series(f"prob_{label}", out["proba"][:, i], dtype=pl.Float64) for i, label in enumerate(design.labels)]
        )
    return frame


def speaker_folds(design: Design, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: speakers shuffled (seeded) into ``n_folds`` groups; N = speakers → LOSO."""
    speakers = design.samples["speaker"].to_list()
    unique = sorted({s for s in speakers if s is not None})
    if len(unique) < n_folds:
        raise ModelError(
            f"[MODEL] logo = {n_folds} folds but only {len(unique)} speakers; use logo = {len(unique)} for leave-one-speaker-out"
        )
    order = random.Random(seed).sample(unique, len(unique))
    group = {spk: i % n_folds for i, spk in enumerate(order)}
    return np.array([group.get(s, 0) for s in speakers])


def stratified_speaker_folds(design: Design, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: scikit-learn's StratifiedGroupKFold (groups = speakers, shuffled with the seed), so that a
    speaker is never in two folds and each fold's classes (regression: target quartiles) follow the whole's."""
    from sklearn.model_selection import StratifiedGroupKFold

    speakers = design.samples["speaker"].fill_null("").to_numpy()
    n_speakers = len(set(speakers.tolist()))
    if n_speakers < n_folds:
        raise ModelError(f"[MODEL] k_fold_cross = {n_folds} folds but only {n_speakers} speakers; use at most {n_speakers}")
    if design.task == "classification":
        strata = design.y
    else:
        strata = np.searchsorted(np.quantile(design.y, [0.25, 0.5, 0.75]), design.y)
    folds = np.full(len(speakers), -1)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed % (2**32))
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(strata)), strata, groups=speakers)):
        folds[test] = k
    return folds


def fit_and_predict(config: Config, design: Design, log, progress=None) -> tuple[pl.DataFrame, list[FittedModel]]:
    """Train every run (and fold); return all predictions and the fitted model of each run."""
    from nkl.context import NullProgress

    steps = config.exp.runs * ((config.model.cv_folds + 1) if config.model.cv_folds else 1)
    with (progress or NullProgress()).task(f"Training {config.model.type}", total=steps) as bar:
        return _fit_runs(config, design, log, bar)


def _fit_runs(config: Config, design: Design, log, bar) -> tuple[pl.DataFrame, list[FittedModel]]:
    split = design.samples["split"].to_numpy()
    predictions, fitted = [], []
    for run in range(config.exp.runs):
        seed = (config.model.random_seed or config.exp.seed) + run
        if config.model.cv_folds:
            n_folds = config.model.cv_folds
            folds = (speaker_folds(design, n_folds, config.exp.seed) if config.model.logo
                     else stratified_speaker_folds(design, n_folds, config.exp.seed))
            label = "logo" if config.model.logo else "kfold"
            for fold in range(n_folds):
                test = folds == fold
                train = ~test
                dev = None
                if _needs_dev(config):
                    train, dev = _inner_dev(design, train, seed + fold)
                model = _fit_one(config, design, train, dev, seed)
                predictions.append(_prediction_frame(design, test, predict_rows(model, design, test), run, fold, label))
                bar.advance()
            everything = np.ones(len(split), dtype=bool)
            train, dev = _inner_dev(design, everything, seed) if _needs_dev(config) else (everything, None)
            final = _fit_one(config, design, train, dev, seed)
        else:
            train = split == "train"
            dev = split == "dev" if (split == "dev").any() else None
            if dev is None and _needs_dev(config):
                train, dev = _inner_dev(design, train, seed)
                log.info(
                    "run %d: no dev split ([EXP] traindevtest = False); model selection uses %d training rows of held-out speakers",
                    run,
                    int(dev.sum()),
                )
            final = _fit_one(config, design, train, dev, seed)
            for name in ("dev", "test"):
                rows = split == name
                if rows.any():
                    predictions.append(_prediction_frame(design, rows, predict_rows(final, design, rows), run, -1, None))
        final.run = run
        fitted.append(final)
        bar.advance()
        summary = {k: v for k, v in final.info.items() if not isinstance(v, (list, tuple, dict))}
        log.info("run %d trained (%s)%s", run, config.model.type, f": {summary}" if summary else "")
        log.debug("run %d training details: %s", run, final.info)
    return pl.concat(predictions, how="vertical_relaxed"), fitted
