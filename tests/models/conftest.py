"""Small seeded datasets shared by the model tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Split:
    """Train, dev and test parts of one synthetic dataset (features scaled on train)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_dev: np.ndarray
    y_dev: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _split(X: np.ndarray, y: np.ndarray) -> Split:
    scaler = StandardScaler().fit(X[:200])
    X = scaler.transform(X)
    return Split(X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:])


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Run torch single-threaded in tests.

    The test MLPs are tiny; on a 2-core machine shared with other processes, torch's OpenMP
    threads spin against each other and make a 1 s fit take 30 s. nkl itself never changes
    the thread count.
    """
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def three_classes() -> Split:
    """300 rows, 10 features, 3 balanced classes coded 0..2."""
    X, y = make_classification(n_samples=300, n_features=10, n_informative=5, n_redundant=2, n_classes=3, class_sep=1.5, random_state=7)
    return _split(X, y)


@pytest.fixture(scope="session")
def continuous() -> Split:
    """300 rows, 10 features, a linear target with noise, scaled to unit variance."""
    X, y = make_regression(n_samples=300, n_features=10, n_informative=6, noise=10.0, random_state=7)
    return _split(X, y / y.std())


@pytest.fixture(scope="session")
def imbalanced() -> Split:
    """300 rows, 2 classes at 88% / 12%, hard enough that class balancing matters."""
    X, y = make_classification(n_samples=300, n_features=8, n_informative=3, weights=[0.88, 0.12], class_sep=0.7, flip_y=0.02, random_state=3)
    return _split(X, y)
