"""Test-set metrics: UAR, accuracy, macro F1 and per-class scores; MSE, MAE, CCC and PCC.

Every metric is computed from one array expression that also accepts a stack of resamples
(a batch of confusion matrices, or ``(n_boot, n)`` arrays), so the bootstrap in
``nkl.evaluate.bootstrap`` reuses exactly the code that gives the point estimate.

Conventions for labels that a test set lacks: a class with no true rows has recall, precision
and F1 of 0.0 in ``per_class`` and is left out of the macro averages (UAR, macro F1), whose value
is the mean over the classes that occur in ``y_true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nkl.errors import DataError


def encode_labels(values: Any, labels: Sequence[str], *, what: str = "y") -> np.ndarray:
    """Turn labels into codes ``0..K-1`` in the order of ``labels``.

    Args:
        values: Label strings (matched against ``labels``) or integer codes (ints, or floats
            holding whole numbers; checked to lie in ``0..K-1``), as a sequence or 1-D array.
        labels: The class names; their order fixes the codes.
        what: Name of the input for error messages.

    Raises:
        DataError: A value is not one of ``labels`` or a code is out of range.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{what} must be 1-D; got shape {array.shape}")
    integral_floats = array.dtype.kind == "f" and bool(np.all(np.mod(array, 1) == 0))
    if array.dtype.kind in "iub" or integral_floats:
        codes = array.astype(np.int64)
        bad = codes[(codes < 0) | (codes >= len(labels))]
        if bad.size:
            raise DataError(f"Bad class code {int(bad[0])} in {what}; expected 0..{len(labels) - 1} for labels: {', '.join(map(str, labels))}")
        return codes
    position = {str(label): code for code, label in enumerate(labels)}
    uniques, inverse = np.unique(array.astype(str), return_inverse=True)
    unknown = [str(u) for u in uniques if u not in position]
    if unknown:
        raise DataError(f"Bad label {unknown[0]!r} in {what}; expected one of: {', '.join(map(str, labels))}")
    return np.array([position[u] for u in uniques], dtype=np.int64)[inverse.ravel()]


def confusion_counts(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Count a confusion matrix (rows truth, columns prediction) with one ``bincount``.

    Accepts 1-D codes, giving ``(K, K)``, or ``(B, n)`` stacks, giving ``(B, K, K)``.
    """
    cells = n_classes * n_classes
    flat = true_codes * n_classes + pred_codes
    if flat.ndim == 1:
        return np.bincount(flat, minlength=cells).reshape(n_classes, n_classes)
    offsets = np.arange(flat.shape[0])[:, None] * cells
    counts = np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * cells)
    return counts.reshape(flat.shape[0], n_classes, n_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0.0 where the denominator is 0, without warnings."""
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, numerator / safe, 0.0)


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Derive all classification scores from ``(..., K, K)`` confusion counts.

    Returns arrays with the leading batch shape: ``uar``, ``accuracy``, ``macro_f1``; and with a
    trailing class axis: ``precision``, ``recall``, ``f1``, ``support``.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    recall = _ratio(hits, support)
    precision = _ratio(hits, predicted)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0
    n_present = present.sum(axis=-1)
    return {
        "uar": _ratio((recall * present).sum(axis=-1), n_present),
        "accuracy": _ratio(hits.sum(axis=-1), support.sum(axis=-1)),
        "macro_f1": _ratio((f1 * present).sum(axis=-1), n_present),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
    }


def classification_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """Score predicted classes against the truth.

    Args:
        y_true: True labels, as strings or integer codes (see ``encode_labels``).
        y_pred: Predicted labels, in the same form.
        labels: All class names, in the order used for codes and the confusion matrix.

    Returns:
        ``uar`` (unweighted average recall), ``accuracy``, ``macro_f1``, ``per_class``
        (label -> precision, recall, f1, support), ``confusion`` (K x K ints, rows truth,
        columns prediction, in ``labels`` order) and ``n``.

    Example:
        >>> m = classification_metrics(["a", "a", "a", "b"], ["a", "a", "a", "a"], ["a", "b"])
        >>> m["accuracy"], m["uar"]
        (0.75, 0.5)
    """
    true_codes, pred_codes = classification_pair(y_true, y_pred, labels)
    confusion = confusion_counts(true_codes, pred_codes, len(labels))
    scores = scores_from_confusion(confusion)
    per_class = {
        str(label): {
            "precision": float(scores["precision"][k]),
            "recall": float(scores["recall"][k]),
            "f1": float(scores["f1"][k]),
            "support": int(scores["support"][k]),
        }
        for k, label in enumerate(labels)
    }
    return {
        "uar": float(scores["uar"]),
        "accuracy": float(scores["accuracy"]),
        "macro_f1": float(scores["macro_f1"]),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n": int(true_codes.size),
    }


def classification_pair(y_true: Any, y_pred: Any, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return both inputs as checked codes ``0..K-1`` in ``labels`` order."""
    if len(labels) == 0:
        raise DataError("No class labels given")
    true_codes = encode_labels(y_true, labels, what="y_true")
    pred_codes = encode_labels(y_pred, labels, what="y_pred")
    _check_pair(true_codes, pred_codes)
    return true_codes, pred_codes


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}")
    if y_true.size == 0:
        raise DataError("Cannot score an empty test set")


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean squared error along the last axis."""
    return np.mean((y_true - y_pred) ** 2, axis=-1)


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean absolute error along the last axis."""
    return np.mean(np.abs(y_true - y_pred), axis=-1)


def _moments(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Means, population variances and covariance along the last axis."""
    mean_true = y_true.mean(axis=-1, keepdims=True)
    mean_pred = y_pred.mean(axis=-1, keepdims=True)
    dev_true, dev_pred = y_true - mean_true, y_pred - mean_pred
    return (
        mean_true[..., 0],
        mean_pred[..., 0],
        np.mean(dev_true**2, axis=-1),
        np.mean(dev_pred**2, axis=-1),
        np.mean(dev_true * dev_pred, axis=-1),
    )


def _is_constant(values: np.ndarray) -> np.ndarray:
    # Exact test: a variance computed in floating point can be a tiny non-zero for constants.
    return np.ptp(values, axis=-1) == 0


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Lin's concordance correlation coefficient along the last axis.

    Two constant arrays agree perfectly (1.0) when equal and not at all (0.0) otherwise.
    """
    mean_true, mean_pred, var_true, var_pred, cov = _moments(y_true, y_pred)
    denominator = var_true + var_pred + (mean_true - mean_pred) ** 2
    value = _ratio(2 * cov, denominator)
    both_constant = _is_constant(y_true) & _is_constant(y_pred)
    return np.where(both_constant, (mean_true == mean_pred).astype(np.float64), value)


def pcc(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pearson's correlation along the last axis; 0.0 when either input is constant."""
    _, _, var_true, var_pred, cov = _moments(y_true, y_pred)
    constant = _is_constant(y_true) | _is_constant(y_pred)
    value = _ratio(cov, np.sqrt(np.where(constant, 1.0, var_true * var_pred)))
    return np.where(constant, 0.0, np.clip(value, -1.0, 1.0))


REGRESSION_SCORES = {"mse": mse, "mae": mae, "ccc": ccc, "pcc": pcc}


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Score predicted values against the truth: ``mse``, ``mae``, ``ccc``, ``pcc``.

    Example:
        >>> regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])["ccc"]
        1.0
    """
    true_values, pred_values = regression_pair(y_true, y_pred)
    return {name: float(score(true_values, pred_values)) for name, score in REGRESSION_SCORES.items()}


def regression_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return both inputs as checked 1-D float64 arrays of equal, non-zero length."""
    true_values = np.asarray(y_true, dtype=np.float64)
    pred_values = np.asarray(y_pred, dtype=np.float64)
    if true_values.ndim != 1 or pred_values.ndim != 1:
        raise DataError(f"y_true and y_pred must be 1-D; got {true_values.shape} and {pred_values.shape}")
    _check_pair(true_values, pred_values)
    return true_values, pred_values


def roc_points(positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates of every threshold (scikit-learn's ``roc_curve``)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(positive, scores)
    return fpr, tpr


def equal_error_rate(positive: Any, scores: Any) -> float:
    """The rate where false acceptances equal false rejections (binary tasks; ``scores`` = the positive class's
    probability), interpolated between the two ROC points around the crossing; NaN when one class is absent."""
    positive, scores = np.asarray(positive, dtype=bool), np.asarray(scores, dtype=np.float64)
    if positive.all() or not positive.any():
        return float("nan")
    fpr, tpr = roc_points(positive, scores)
    fnr = 1.0 - tpr
    diff = fnr - fpr
    i = int(np.flatnonzero(diff <= 0)[0])  # fnr falls and fpr rises along the curve: the first crossing
    if i == 0 or diff[i] == 0:
        return float((fpr[i] + fnr[i]) / 2)
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
