"""Metrics against hand-computed values, against sklearn/scipy, and invariant to row order."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

from nkl.errors import DataError
from nkl.evaluate import classification_metrics, regression_metrics

LABELS = ["anger", "happiness", "neutral"]


def test_uar_differs_from_accuracy_when_classes_are_imbalanced() -> None:
    truth = ["neutral"] * 8 + ["anger"] * 2
    predicted = ["neutral"] * 10
    m = classification_metrics(truth, predicted, ["anger", "neutral"])

    assert m["accuracy"] == pytest.approx(0.8)
    assert m["uar"] == pytest.approx(0.5)  # recall 0 for anger, 1 for neutral
    assert m["macro_f1"] == pytest.approx((0.0 + 2 * 0.8 / 1.8) / 2)
    assert m["confusion"] == [[0, 2], [0, 8]]
    assert m["per_class"]["anger"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_class"]["neutral"]["precision"] == pytest.approx(0.8)


def test_three_class_example_computed_by_hand() -> None:
    truth = ["anger", "anger", "anger", "happiness", "happiness", "neutral"]
    predicted = ["anger", "anger", "happiness", "happiness", "neutral", "neutral"]
    m = classification_metrics(truth, predicted, LABELS)

    # rows truth, columns predicted, in LABELS order
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    happiness = m["per_class"]["happiness"]
    assert happiness["precision"] == pytest.approx(1 / 2)
    assert happiness["recall"] == pytest.approx(1 / 2)
    assert happiness["f1"] == pytest.approx(1 / 2)
    assert m["per_class"]["neutral"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m["n"] == 6


def test_codes_and_label_strings_give_the_same_result() -> None:
    truth_codes = np.array([0, 0, 0, 1, 1, 2])
    pred_codes = np.array([0, 0, 1, 1, 2, 2])
    by_name = classification_metrics(np.array(LABELS)[truth_codes], np.array(LABELS)[pred_codes], LABELS)
    assert classification_metrics(truth_codes, pred_codes, LABELS) == by_name


def test_labels_order_sets_the_confusion_order() -> None:
    m = classification_metrics(["a", "a", "b"], ["a", "b", "b"], ["b", "a"])
    assert m["confusion"] == [[1, 0], [1, 1]]
    assert list(m["per_class"]) == ["b", "a"]


def test_a_label_absent_from_the_test_set_is_left_out_of_the_macro_averages() -> None:
    m = classification_metrics(["a", "a", "b"], ["a", "a", "b"], ["a", "b", "c"])
    assert m["uar"] == 1.0 and m["macro_f1"] == 1.0
    assert m["per_class"]["c"]["support"] == 0


def test_unknown_label_names_the_choices() -> None:
    with pytest.raises(DataError, match="Bad label 'amusement' in y_pred; expected one of: anger, happiness, neutral"):
        classification_metrics(["anger"], ["amusement"], LABELS)
    with pytest.raises(DataError, match="Bad class code 3"):
        classification_metrics([0], [3], LABELS)
    with pytest.raises(DataError, match="differ in length"):
        classification_metrics([0, 1], [0], LABELS)


def test_classification_agrees_with_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.5, truth, rng.integers(0, 4, 300))
    m = classification_metrics(truth, predicted, list("abcd"))

    assert m["uar"] == pytest.approx(recall_score(truth, predicted, average="macro"))
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert m["confusion"] == confusion_matrix(truth, predicted).tolist()
    per_class_precision = precision_score(truth, predicted, average=None)
    assert [m["per_class"][c]["precision"] for c in "abcd"] == pytest.approx(per_class_precision)


def test_regression_example_computed_by_hand() -> None:
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert m["mse"] == pytest.approx(0.25)
    assert m["mae"] == pytest.approx(0.25)
    # means 2.5 / 2.75, population variances 1.25 / 2.1875, covariance 1.625
    assert m["ccc"] == pytest.approx(2 * 1.625 / (1.25 + 2.1875 + 0.25**2))
    assert m["pcc"] == pytest.approx(1.625 / np.sqrt(1.25 * 2.1875))


def test_ccc_is_one_for_identical_values_and_lower_for_a_shifted_copy() -> None:
    values = np.linspace(-2.0, 3.0, 40)
    assert regression_metrics(values, values)["ccc"] == pytest.approx(1.0)
    shifted = regression_metrics(values, values + 1.0)
    assert shifted["ccc"] < 1.0
    assert shifted["pcc"] == pytest.approx(1.0)  # Pearson ignores the shift, CCC does not


def test_regression_agrees_with_scipy() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(size=200)
    predicted = 0.7 * truth + rng.normal(scale=0.5, size=200)
    assert regression_metrics(truth, predicted)["pcc"] == pytest.approx(pearsonr(truth, predicted).statistic)


def test_constant_predictions_give_zero_correlation_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert m["pcc"] == 0.0
    assert m["ccc"] == 0.0
    assert regression_metrics([2.0, 2.0], [2.0, 2.0])["ccc"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_classification_metrics_ignore_row_order(pairs: list[tuple[int, int]], seed: int) -> None:
    truth, predicted = (np.array(column) for column in zip(*pairs, strict=True))
    order = np.random.default_rng(seed).permutation(len(pairs))
    assert classification_metrics(truth[order], predicted[order], LABELS) == classification_metrics(truth, predicted, LABELS)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=2, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_regression_metrics_ignore_row_order(pairs: list[tuple[float, float]], seed: int) -> None:
    truth, predicted = (np.array(column) for column in zip(*pairs, strict=True))
    order = np.random.default_rng(seed).permutation(len(pairs))
    shuffled = regression_metrics(truth[order], predicted[order])
    original = regression_metrics(truth, predicted)
    assert shuffled == pytest.approx(original, rel=1e-9, abs=1e-9)
