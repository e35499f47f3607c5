"""Checks and small array helpers shared by the model families."""

from __future__ import annotations

import numpy as np

from nkl.errors import ModelError


def feature_matrix(X: np.ndarray, *, what: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float64 array, or raise ``ModelError`` naming its shape."""
    matrix = np.asarray(X, dtype=np.float64)
    if matrix.ndim != 2:
        raise ModelError(f"{what} must be a 2-D feature matrix; got shape {matrix.shape}")
    return matrix


def class_codes(y: np.ndarray, *, what: str = "y") -> np.ndarray:
    """Return integer class codes ``0..K-1`` as int64, or raise ``ModelError``."""
    values = np.asarray(y)
    if values.ndim != 1:
        raise ModelError(f"{what} must be 1-D; got shape {values.shape}")
    integral = values.dtype.kind in "iub" or (values.dtype.kind == "f" and bool(np.all(np.mod(values, 1) == 0)))
    if not integral:
        raise ModelError(f"{what} must hold integer class codes 0..K-1 (the caller encodes labels); got dtype {values.dtype}")
    codes = values.astype(np.int64)
    if codes.size and codes.min() < 0:
        raise ModelError(f"{what} holds a negative class code {codes.min()}")
    return codes


def targets(y: np.ndarray, *, what: str = "y") -> np.ndarray:
    """Return regression targets as a 1-D float64 array."""
    values = np.asarray(y, dtype=np.float64)
    if values.ndim != 1:
        raise ModelError(f"{what} must be 1-D; got shape {values.shape}")
    return values


def count_classes(*codes: np.ndarray | None) -> int:
    """Return ``K``: one more than the largest code seen in any of the given arrays."""
    return 1 + max(int(c.max()) for c in codes if c is not None and c.size)


def balanced_sample_weight(codes: np.ndarray) -> np.ndarray:
    """Weight each row by ``n / (K_present * count[class])``, as sklearn's ``'balanced'``."""
    counts = np.bincount(codes)
    present = np.count_nonzero(counts)
    return codes.size / (present * counts[codes].astype(np.float64))


def combine_weights(*weights: np.ndarray | None) -> np.ndarray | None:
    """Multiply the given per-row weights; ``None`` entries are ignored."""
    given = [np.asarray(w, dtype=np.float64) for w in weights if w is not None]
    if not given:
        return None
    combined = given[0]
    for weight in given[1:]:
        combined = combined * weight
    return combined


def spread_columns(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Place the columns of ``proba`` (one per code in ``classes``) into ``n_classes`` columns.

    A code missing from the training data gets a column of zeros, so column ``k`` always means
    code ``k``.
    """
    full = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    full[:, np.asarray(classes, dtype=np.int64)] = proba
    return full
