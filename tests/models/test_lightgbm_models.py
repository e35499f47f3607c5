"""LightGBM (xgb/xgr): early stopping on dev only, bagging, and the text model format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nkl.models import get_model_spec, save_estimator
from nkl.models.lightgbm_models import BOOSTER_FILE, LightGBMModel

if TYPE_CHECKING:  # conftest is loaded by pytest; import it for type hints only
    from conftest import Split


def _dev_logloss(model: LightGBMModel, data: Split, iterations: int) -> float:
    booster = model._booster
    raw = booster.predict(data.X_dev, num_iteration=iterations)
    picked = raw[np.arange(len(data.y_dev)), data.y_dev]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def test_early_stopping_picks_the_dev_best_iteration(three_classes: Split) -> None:
    params = {"n_estimators": 300, "learning_rate": 0.3, "early_stopping_rounds": 5}
    stopped = get_model_spec("xgb").build(params, 0)
    stopped.fit(three_classes.X_train, three_classes.y_train, X_dev=three_classes.X_dev, y_dev=three_classes.y_dev)
    best = stopped.info["best_iteration"]

    assert stopped.info["early_stopping"] == "dev"
    assert 1 <= best < 300
    # The same run without early stopping grows identical trees; among the iterations that early
    # stopping looked at, the dev loss is lowest at the chosen one.
    full = get_model_spec("xgb").build({**params, "early_stopping_rounds": None}, 0)
    full.fit(three_classes.X_train, three_classes.y_train)
    losses = [_dev_logloss(full, three_classes, i) for i in range(1, best + 6)]
    assert int(np.argmin(losses)) + 1 == best
    np.testing.assert_allclose(stopped.predict_proba(three_classes.X_test), full._booster.predict(three_classes.X_test, num_iteration=best))


def test_without_a_dev_set_all_trees_are_kept(three_classes: Split) -> None:
    model = get_model_spec("xgb").build({"n_estimators": 40, "early_stopping_rounds": 5}, 0)
    model.fit(three_classes.X_train, three_classes.y_train)
    assert model.info == {"early_stopping": "no dev set", "best_iteration": None, "n_iterations": 40}


def test_a_dev_set_without_early_stopping_changes_nothing(continuous: Split) -> None:
    spec = get_model_spec("xgr")
    with_dev = spec.build({"n_estimators": 30}, 0).fit(continuous.X_train, continuous.y_train, X_dev=continuous.X_dev, y_dev=continuous.y_dev)
    without = spec.build({"n_estimators": 30}, 0).fit(continuous.X_train, continuous.y_train)
    np.testing.assert_array_equal(with_dev.predict(continuous.X_test), without.predict(continuous.X_test))
    assert with_dev.info["early_stopping"] == "off"


def test_subsample_below_one_turns_bagging_on(continuous: Split) -> None:
    spec = get_model_spec("xgr")
    full = spec.build({"n_estimators": 30}, 0).fit(continuous.X_train, continuous.y_train)
    bagged = spec.build({"n_estimators": 30, "subsample": 0.5}, 0).fit(continuous.X_train, continuous.y_train)
    assert not np.allclose(full.predict(continuous.X_test), bagged.predict(continuous.X_test))


def test_binary_probabilities_have_two_columns(imbalanced: Split) -> None:
    model = get_model_spec("xgb").build({"n_estimators": 20}, 0).fit(imbalanced.X_train, imbalanced.y_train)
    proba = model.predict_proba(imbalanced.X_test)
    assert proba.shape == (len(imbalanced.X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(imbalanced.X_test), (proba[:, 1] > 0.5).astype(int))


def test_saved_booster_is_lightgbm_text_holding_only_the_kept_trees(three_classes: Split, tmp_path: Path) -> None:
    params = {"n_estimators": 300, "learning_rate": 0.3, "early_stopping_rounds": 5}
    model = get_model_spec("xgb").build(params, 0)
    model.fit(three_classes.X_train, three_classes.y_train, X_dev=three_classes.X_dev, y_dev=three_classes.y_dev)
    save_estimator(model, tmp_path)
    text = (tmp_path / BOOSTER_FILE).read_text()
    assert text.startswith("tree\n")
    assert text.count("\nTree=") == 3 * model.info["best_iteration"]  # one tree per class and iteration
