"""Cutting a long signal into windows and pooling per-window statistics back into one (frame-weighted)."""

from __future__ import annotations

import numpy as np


def split_windows(n_samples: int, window: int, min_tail: int, hard_limit: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of consecutive windows of ``window`` samples covering ``n_samples``; a last piece shorter than
    ``min_tail`` is merged into the previous window, or, where that would exceed ``hard_limit``, the two are split evenly.

    >>> split_windows(10, 4, 2)
    [(0, 4), (4, 8), (8, 10)]
    >>> split_windows(9, 4, 2)
    [(0, 4), (4, 9)]
    >>> split_windows(9, 4, 2, hard_limit=4)
    [(0, 4), (4, 6), (6, 9)]
    """
    if n_samples <= window:
        return [(0, n_samples)]
    bounds = [(start, min(start + window, n_samples)) for start in range(0, n_samples, window)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_tail:
        start = bounds[-2][0]
        bounds = bounds[:-2]
        if hard_limit is not None and n_samples - start > hard_limit:
            middle = start + (n_samples - start) // 2
            bounds += [(start, middle), (middle, n_samples)]
        else:
            bounds.append((start, n_samples))
    return bounds


def combine_windows(weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled mean and variance of frames spread over windows: the weighted mean of window means, and the law of total
    variance (mean of the window variances plus the variance of the window means), weights = frame counts."""
    w = np.asarray(weights, dtype=np.float64)[:, None] / float(np.sum(weights))
    mean = (w * means).sum(axis=0)
    variance = (w * (variances + (means - mean) ** 2)).sum(axis=0)
    return mean, np.maximum(variance, 0.0)
