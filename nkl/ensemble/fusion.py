"""Late fusion of member predictions that are already aligned by sample: pure NumPy, no I/O.

Classification members give, per sample, class probabilities ``P[m, n, c]`` (rows sum to 1), their predicted class
``pred[m, n]`` and uncertainty ``u[m, n]`` (normalised entropy, 0 = sure, 1 = uniform). Every method returns the fused
class scores as probabilities (rows sum to 1); the predicted class is their argmax and the uncertainty is their
normalised entropy, so a fused experiment's rows look like any experiment's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nkl.errors import ConfigError

EPS = 1e-10


def _normalised(scores: np.ndarray) -> np.ndarray:
    total = scores.sum(axis=1, keepdims=True)
    n_classes = scores.shape[1]
    return np.divide(scores, total, out=np.full_like(scores, 1.0 / n_classes), where=total > 0)


def majority_voting(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """The class most members predict (vote shares as scores); a tie goes to the tied class with the higher mean
    probability (nkululeko takes the first label in alphabetical order)."""
    votes = np.zeros(P.shape[1:])
    for m in range(P.shape[0]):
        votes[np.arange(P.shape[1]), pred[m]] += 1.0
    tie_break = P.mean(axis=0) * 1e-6  # smaller than one vote
    return _normalised(votes + tie_break)


def mean(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """The average of the members' probabilities."""
    return P.mean(axis=0)


def maximum(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Per class, the highest probability any member gives it (the most confident member decides)."""
    return _normalised(P.max(axis=0))


def total(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """The sum of the members' probabilities (the same decision as mean)."""
    return _normalised(P.sum(axis=0))


def max_class(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Each member votes for its predicted class with the probability it gives that class; the class with the largest sum
    of votes wins (a vote weighted by confidence: unlike majority voting, two unsure votes can lose to one sure one)."""
    scores = np.zeros(P.shape[1:])
    rows = np.arange(P.shape[1])
    for m in range(P.shape[0]):
        scores[rows, pred[m]] += P[m, rows, pred[m]]
    return _normalised(scores)


def uncertainty_threshold(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Per sample, the probabilities of the least uncertain member when its uncertainty is at most ``threshold``
    (1.0: always), else the mean of all members."""
    best = u.argmin(axis=0)
    rows = np.arange(P.shape[1])
    chosen = P[best, rows]
    sure = u[best, rows] <= threshold
    return np.where(sure[:, None], chosen, P.mean(axis=0))


def uncertainty_weighted(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Members weighted per sample by 1 / uncertainty (a member with uncertainty 0 by 1e10), weights summing to 1."""
    weights = 1.0 / np.maximum(u, EPS)
    weights /= weights.sum(axis=0, keepdims=True)
    return np.einsum("mn,mnc->nc", weights, P)


def confidence_weighted(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Members weighted per sample by their confidence 1 − uncertainty."""
    conf = 1.0 - u
    total_conf = conf.sum(axis=0)
    fused = np.einsum("mn,mnc->nc", conf, P)
    return np.where(total_conf[:, None] > 0, fused / np.maximum(total_conf[:, None], EPS), P.mean(axis=0))


def performance_weighted(P: np.ndarray, pred: np.ndarray, u: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """Members weighted by one fixed weight each (their dev UAR, or weights given), normalised to sum 1."""
    weights = w / w.sum()
    return np.einsum("m,mnc->nc", weights, P)


CLASSIFICATION: dict[str, Callable[..., np.ndarray]] = {
    "majority_voting": majority_voting, "mean": mean, "max": maximum, "sum": total, "max_class": max_class,
    "uncertainty_threshold": uncertainty_threshold, "uncertainty_weighted": uncertainty_weighted,
    "confidence_weighted": confidence_weighted, "performance_weighted": performance_weighted,
}
ALIASES = {"uncertainty": "uncertainty_threshold", "median": "median"}  # nkululeko's name for uncertainty_threshold
REGRESSION = ("mean", "median", "performance_weighted")
METHODS = (*CLASSIFICATION, "median")


def canonical(method: str, task: str) -> str:
    """The method's canonical name for a task; a ConfigError listing the choices otherwise."""
    from nkl.choices import did_you_mean

    name = ALIASES.get(method, method)
    allowed = tuple(CLASSIFICATION) if task == "classification" else REGRESSION
    if name not in allowed:
        what = "a classification" if task == "classification" else "a regression"
        raise ConfigError(f"unknown ensemble method '{method}' for {what} task{did_you_mean(method, list(allowed))} "
                          f"choices: {', '.join(allowed)}")
    return name


def normalised_entropy(scores: np.ndarray) -> np.ndarray:
    """Uncertainty of fused probabilities: entropy / log(classes), 0 = sure, 1 = uniform."""
    n_classes = scores.shape[1]
    if n_classes < 2:
        return np.zeros(scores.shape[0])
    p = np.clip(scores, EPS, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(n_classes)


def fuse_classification(method: str, P: np.ndarray, u: np.ndarray, weights: np.ndarray | None = None,
                        threshold: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fused (class index, probabilities, uncertainty) of ``M`` members' ``P[m, n, c]`` and ``u[m, n]``."""
    pred = P.argmax(axis=2)
    w = np.ones(P.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    scores = CLASSIFICATION[method](P, pred, u, w, threshold)
    return scores.argmax(axis=1), scores, normalised_entropy(scores)


def fuse_regression(method: str, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Fused values of ``M`` members' ``values[m, n]``: mean, median or a weighted mean."""
    if method == "median":
        return np.median(values, axis=0)
    if method == "performance_weighted" and weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        return np.einsum("m,mn->n", w / w.sum(), values)
    return values.mean(axis=0)
