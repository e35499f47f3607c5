"""The fusion methods on small hand-made probabilities (pure NumPy, no catalog)."""

from __future__ import annotations

import numpy as np
import pytest

from nkl.ensemble.fusion import CLASSIFICATION, canonical, fuse_classification, fuse_regression
from nkl.errors import ConfigError

# 3 members, 2 samples, 3 classes
P = np.array([
    [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]],
    [[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
    [[0.5, 0.4, 0.1], [0.1, 0.1, 0.8]],
])
U = np.array([[0.8, 0.9], [0.3, 0.99], [0.85, 0.5]])


@pytest.mark.parametrize(("method", "expected"), [
    ("mean", [1, 2]),             # means [0.4, 0.5, 0.1] and [0.2, 0.3, 0.5]
    ("sum", [1, 2]),
    ("max", [1, 2]),              # per-class maxima [0.6, 0.8, 0.1] and [0.3, 0.5, 0.8]
    ("majority_voting", [0, 2]),  # votes 0, 1, 0 and 1, 2, 2
    ("max_class", [0, 2]),        # vote mass class 0: 0.6 + 0.5 > class 1: 0.8; sample 2: class 2 0.4 + 0.8 > class 1: 0.5
    ("uncertainty_threshold", [1, 2]),  # the surest member decides: member 1, then member 2
    ("uncertainty_weighted", [1, 2]),
    ("confidence_weighted", [1, 2]),
])
def test_each_method_decides_as_defined(method: str, expected: list[int]) -> None:
    index, scores, uncertainty = fuse_classification(method, P, U)
    assert index.tolist() == expected
    assert np.allclose(scores.sum(axis=1), 1.0) and ((uncertainty >= 0) & (uncertainty <= 1)).all()


def test_majority_vote_of_one_each_uses_mean_probability_for_the_tie() -> None:
    tied = np.array([[[0.9, 0.1, 0.0]], [[0.0, 0.6, 0.4]], [[0.1, 0.2, 0.7]]])
    index, _, _ = fuse_classification("majority_voting", tied, np.zeros((3, 1)))
    assert index.tolist() == [2]  # one vote each: the mean probabilities 0.33, 0.30, 0.37 decide


def test_uncertainty_threshold_falls_back_to_the_mean() -> None:
    index, scores, _ = fuse_classification("uncertainty_threshold", P, U, threshold=0.2)
    assert np.allclose(scores, P.mean(axis=0)) and index.tolist() == [1, 2]


def test_performance_weights_shift_the_decision() -> None:
    index, _, _ = fuse_classification("performance_weighted", P, U, weights=np.array([1.0, 0.0, 0.0]))
    assert index.tolist() == [0, 1]  # member 0 alone
    index, _, _ = fuse_classification("performance_weighted", P, U, weights=np.array([0.0, 0.0, 2.0]))
    assert index.tolist() == [0, 2]


def test_regression_mean_median_weighted() -> None:
    values = np.array([[1.0, 10.0], [2.0, 20.0], [6.0, 30.0]])
    assert fuse_regression("mean", values).tolist() == [3.0, 20.0]
    assert fuse_regression("median", values).tolist() == [2.0, 20.0]
    assert fuse_regression("performance_weighted", values, np.array([1.0, 1.0, 0.0])).tolist() == [1.5, 15.0]


def test_names() -> None:
    assert canonical("uncertainty", "classification") == "uncertainty_threshold"
    assert set(CLASSIFICATION) >= {"majority_voting", "mean", "max", "sum", "max_class", "uncertainty_threshold",
                                   "uncertainty_weighted", "confidence_weighted", "performance_weighted"}
    with pytest.raises(ConfigError, match="unknown ensemble method 'avg'"):
        canonical("avg", "classification")
    with pytest.raises(ConfigError, match="regression"):
        canonical("majority_voting", "regression")
