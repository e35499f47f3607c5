"""Every registered model fits, beats chance, and survives a save/load round trip unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from nkl.errors import ModelError
from nkl.models import MODELS, get_model_spec, load_estimator, save_estimator
from nkl.models.base import Estimator

if TYPE_CHECKING:  # conftest is loaded by pytest; import it for type hints only
    from conftest import Split

FEATURE_MODELS = {name: spec for name, spec in MODELS.items() if spec.on_features}  # finetune trains on audio: tests/finetune
CLASSIFIERS = sorted(name for name, spec in FEATURE_MODELS.items() if spec.task == "classification")
REGRESSORS = sorted(name for name, spec in FEATURE_MODELS.items() if spec.task == "regression")

# Enough training for the small synthetic sets; every other key keeps its documented default.
PARAMS: dict[str, dict[str, Any]] = {
    "mlp": {"layers": [32, 16], "epochs": 15, "learning_rate": 0.01, "batch_size": 16},
    "mlp_reg": {"layers": [32, 16], "epochs": 15, "learning_rate": 0.01, "batch_size": 16},
    "cnn": {"layers": [32, 16], "epochs": 15, "learning_rate": 0.01, "batch_size": 16},  # one row of values as a 1×d image
}


def _skip_without_extra(name: str) -> None:
    if MODELS[name].extra == "torch":
        pytest.importorskip("torch")


def _fit(name: str, data: Split, **extra: Any) -> Estimator:
    _skip_without_extra(name)
    params = {**PARAMS.get(name, {}), **extra}
    return get_model_spec(name).build(params, 0).fit(data.X_train, data.y_train, X_dev=data.X_dev, y_dev=data.y_dev)


def _uar(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_beats_chance_and_predicts_probabilities(name: str, three_classes: Split) -> None:
    model = _fit(name, three_classes)
    predicted = model.predict(three_classes.X_test)
    proba = model.predict_proba(three_classes.X_test)

    assert predicted.dtype == np.int64
    assert _uar(three_classes.y_test, predicted) > 0.6  # chance is 1/3
    assert proba.shape == (len(three_classes.X_test), 3)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    if name != "svm":  # svm predicts with the SVC decision, its probabilities are calibrated
        np.testing.assert_array_equal(predicted, proba.argmax(axis=1))


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressor_beats_the_mean(name: str, continuous: Split) -> None:
    model = _fit(name, continuous)
    predicted = model.predict(continuous.X_test)

    assert predicted.dtype == np.float64
    mse = np.mean((predicted - continuous.y_test) ** 2)
    assert mse < 0.5 * np.var(continuous.y_test)


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressor_has_no_probabilities(name: str, continuous: Split) -> None:
    with pytest.raises(ModelError, match="regressor"):
        _fit(name, continuous).predict_proba(continuous.X_test)


@pytest.mark.parametrize("name", sorted(FEATURE_MODELS))
def test_save_and_load_give_identical_predictions(name: str, three_classes: Split, continuous: Split, tmp_path: Path) -> None:
    data = three_classes if MODELS[name].task == "classification" else continuous
    model = _fit(name, data)
    save_estimator(model, tmp_path / "model")
    loaded = load_estimator(tmp_path / "model")

    assert type(loaded) is type(model)
    assert (loaded.name, loaded.task, loaded.info) == (model.name, model.task, model.info)
    np.testing.assert_array_equal(loaded.predict(data.X_test), model.predict(data.X_test))
    if MODELS[name].task == "classification":
        np.testing.assert_allclose(loaded.predict_proba(data.X_test), model.predict_proba(data.X_test), rtol=1e-12)
    assert not [p.name for p in (tmp_path / "model").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["svm", "xgb"])
def test_training_is_deterministic_for_a_seed(name: str, three_classes: Split) -> None:
    first = _fit(name, three_classes).predict_proba(three_classes.X_test)
    second = _fit(name, three_classes).predict_proba(three_classes.X_test)
    np.testing.assert_array_equal(first, second)


def _balanced_and_plain(name: str, data: Split) -> tuple[Estimator, Estimator]:
    return _fit(name, data, class_weight=True), _fit(name, data, class_weight=False)


# A fully grown tree fits every training row whatever the weights, so "tree" is not in these.
@pytest.mark.parametrize("name", ["svm", "log_reg", "bayes", "mlp"])
def test_class_weight_predicts_the_minority_more_often(name: str, imbalanced: Split) -> None:
    balanced, plain = _balanced_and_plain(name, imbalanced)
    assert np.sum(balanced.predict(imbalanced.X_test) == 1) > np.sum(plain.predict(imbalanced.X_test) == 1)


@pytest.mark.parametrize("name", ["log_reg", "bayes", "xgb", "mlp"])
def test_class_weight_raises_the_minority_probability(name: str, imbalanced: Split) -> None:
    balanced, plain = _balanced_and_plain(name, imbalanced)
    assert balanced.predict_proba(imbalanced.X_test)[:, 1].mean() > plain.predict_proba(imbalanced.X_test)[:, 1].mean()


@pytest.mark.parametrize("name", ["log_reg", "xgb", "mlp"])
def test_a_class_missing_from_training_gets_a_zero_column(name: str, three_classes: Split) -> None:
    _skip_without_extra(name)
    keep = three_classes.y_train != 1
    params = PARAMS.get(name, {})
    model = get_model_spec(name).build(params, 0).fit(three_classes.X_train[keep], three_classes.y_train[keep])
    proba = model.predict_proba(three_classes.X_test)

    assert proba.shape[1] == 3
    if name == "mlp":  # a softmax output never reaches exactly 0
        assert proba[:, 1].max() < 0.05
    else:
        np.testing.assert_array_equal(proba[:, 1], 0.0)
    assert set(np.unique(model.predict(three_classes.X_test))) <= {0, 2}


def test_sample_weights_change_the_fit(three_classes: Split) -> None:
    weights = np.where(three_classes.y_train == 2, 50.0, 1.0)
    spec = get_model_spec("bayes")
    plain = spec.build({}, 0).fit(three_classes.X_train, three_classes.y_train)
    weighted = spec.build({}, 0).fit(three_classes.X_train, three_classes.y_train, sample_weight=weights)
    share_plain = np.mean(plain.predict(three_classes.X_test) == 2)
    assert np.mean(weighted.predict(three_classes.X_test) == 2) > share_plain


def test_a_model_without_sample_weights_refuses_them(three_classes: Split) -> None:
    model = get_model_spec("knn").build({}, 0)
    with pytest.raises(ModelError, match="sample weights"):
        model.fit(three_classes.X_train, three_classes.y_train, sample_weight=np.ones(len(three_classes.y_train)))


def test_string_labels_are_refused_with_a_hint(three_classes: Split) -> None:
    labels = np.array(["a", "b", "c"])[three_classes.y_train]
    with pytest.raises(ModelError, match="caller encodes labels"):
        get_model_spec("tree").build({}, 0).fit(three_classes.X_train, labels)


def test_predicting_before_fitting_is_a_model_error(three_classes: Split) -> None:
    with pytest.raises(ModelError, match="not fitted"):
        get_model_spec("svm").build({}, 0).predict(three_classes.X_test)


def test_loading_a_folder_without_a_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.json is missing"):
        load_estimator(tmp_path)
