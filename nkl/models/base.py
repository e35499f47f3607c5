"""What every model family provides: the ``Estimator`` protocol and the ``ModelSpec`` record.

Kept free of heavy imports (no sklearn, LightGBM or torch) so that reading the registry is cheap;
each family imports its library inside ``build`` / ``fit`` / ``load``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

import numpy as np

from nkl.config.components import NoSettings

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


@runtime_checkable
class Estimator(Protocol):
    """A fitted or unfitted model with one interface for every family.

    ``y`` is integer-encoded ``0..K-1`` for classification (the caller encodes labels) and float
    for regression. ``predict_proba`` (classification only) returns one column per code
    ``0..K-1``, in code order.

    Attributes:
        family: Key of the family module that can load this estimator (``"sklearn"`` ...).
        name: The model type as written in ``[MODEL] type`` (``"svm"`` ...).
        task: ``"classification"`` or ``"regression"``.
        info: What training found out, e.g. ``best_epoch`` for the MLP; JSON-serialisable.
    """

    family: ClassVar[str]
    name: str
    task: Task
    info: dict[str, Any]

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_dev: np.ndarray | None = None,
        y_dev: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Train on ``X, y``; a dev set, when given, is used for model selection only."""
        ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return integer codes (classification) or floats (regression), one per row."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return class probabilities, shape ``(n_rows, K)``, columns in code order."""
        ...

    def save(self, folder: Path) -> None:
        """Write the fitted model into ``folder`` (created if missing)."""
        ...

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read a model that ``save`` wrote into ``folder``."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry.

    Attributes:
        name: The value of ``[MODEL] type`` that selects this model.
        task: ``"classification"`` or ``"regression"``.
        build: Makes an unfitted estimator from the ``[MODEL]`` params dict and a seed.
        extra: The pip extra the model needs (``"torch"``), or ``None`` for core dependencies.
        doc: One line for ``--help`` and error messages.
        settings: The dataclass of the model's own ``[MODEL]`` keys (``C_val``, ``layers``, ...); only the
            chosen model's settings enter the plan hash.
    """

    name: str
    task: Task
    build: Callable[[Mapping[str, Any], int], Estimator]
    extra: str | None
    doc: str
    settings: type = NoSettings
    on_features: bool = True  # trains on the feature matrix (False: finetune, which trains on the audio itself)
    # params the model takes from the feature columns (cnn: the spectrogram's shape), added to [MODEL]'s at fit time
    design_params: Callable[[list[str]], dict[str, Any]] | None = None
    key_prefix: ClassVar[str] = ""  # nkululeko writes model keys bare: C_val, not svm.C_val

    @property
    def Settings(self) -> type:  # the component protocol's name (see nkl.config.components)
        return self.settings

    def __post_init__(self) -> None:
        """Reject a task outside ``TASKS`` when the registry is built, not at fit time."""
        if self.task not in TASKS:
            raise ValueError(f"ModelSpec {self.name!r}: task {self.task!r} is not one of {TASKS}")
