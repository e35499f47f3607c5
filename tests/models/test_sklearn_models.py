"""The scikit-learn family: parameters reach the estimator, and skops loading trusts only sklearn/numpy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import skops.io

from nkl.errors import ModelError
from nkl.models import get_model_spec, load_estimator, save_estimator
from nkl.models.sklearn_models import ESTIMATOR_FILE

if TYPE_CHECKING:  # conftest is loaded by pytest; import it for type hints only
    from conftest import Split


def test_knn_reads_k_val(three_classes: Split) -> None:
    spec = get_model_spec("knn")
    one = spec.build({"K_val": 1}, 0).fit(three_classes.X_train, three_classes.y_train)
    # With K = 1 every training row is its own nearest neighbour.
    np.testing.assert_array_equal(one.predict(three_classes.X_train), three_classes.y_train)
    proba = one.predict_proba(three_classes.X_test)
    assert set(np.unique(proba)) <= {0.0, 1.0}


def test_svm_reads_c_val_and_kernel(three_classes: Split) -> None:
    spec = get_model_spec("svm")
    soft = spec.build({"C_val": 0.01, "kernel": "linear"}, 0).fit(three_classes.X_train, three_classes.y_train)
    hard = spec.build({"C_val": 100.0, "kernel": "linear"}, 0).fit(three_classes.X_train, three_classes.y_train)
    assert not np.allclose(soft.predict_proba(three_classes.X_test), hard.predict_proba(three_classes.X_test))


def test_loading_refuses_a_file_with_foreign_types(three_classes: Split, tmp_path: Path) -> None:
    model = get_model_spec("tree").build({}, 0).fit(three_classes.X_train, three_classes.y_train)
    save_estimator(model, tmp_path)
    # Replace the estimator file by one holding a type from outside sklearn/numpy.
    skops.io.dump({"predict": Path("/etc/passwd")}, tmp_path / ESTIMATOR_FILE)
    with pytest.raises(ModelError, match="outside sklearn/numpy"):
        load_estimator(tmp_path)


def test_svm_trains_when_a_class_has_a_single_training_row() -> None:
    """Cross-validated calibration needs two rows per class; with one, the SVM still trains and calibrates."""
    from nkl.models import get_model_spec

    rng = np.random.default_rng(0)
    X = rng.normal(size=(31, 4))
    y = np.array([0] * 15 + [1] * 15 + [2])
    X[y == 1] += 3.0
    X[y == 2] -= 3.0
    model = get_model_spec("svm").build({}, 0).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (31, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert "training rows" in model.info["calibration"]
    assert (model.predict(X[:15]) == 0).mean() > 0.9
