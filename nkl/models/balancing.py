"""``[FEATS] balancing``: imbalanced-learn's samplers applied to the (scaled) training rows of each fit, never to dev,
test or a fold's held-out part (nkululeko's names)."""

from __future__ import annotations

import importlib

import numpy as np

from nkl.errors import ConfigError, ModelError

SAMPLERS: dict[str, tuple[str, str]] = {
    "ros": ("imblearn.over_sampling", "RandomOverSampler"),
    "smote": ("imblearn.over_sampling", "SMOTE"),
    "adasyn": ("imblearn.over_sampling", "ADASYN"),
    "borderlinesmote": ("imblearn.over_sampling", "BorderlineSMOTE"),
    "svmsmote": ("imblearn.over_sampling", "SVMSMOTE"),
    "clustercentroids": ("imblearn.under_sampling", "ClusterCentroids"),
    "randomundersampler": ("imblearn.under_sampling", "RandomUnderSampler"),
    "editednearestneighbours": ("imblearn.under_sampling", "EditedNearestNeighbours"),
    "tomeklinks": ("imblearn.under_sampling", "TomekLinks"),
    "smoteenn": ("imblearn.combine", "SMOTEENN"),
    "smotetomek": ("imblearn.combine", "SMOTETomek"),
}
ALIASES = {"rus": "randomundersampler", "none": "", "false": ""}
CHOICES = (*SAMPLERS, *ALIASES)  # = nkl.config.sections.BALANCING
SEEDLESS = ("editednearestneighbours", "tomeklinks")  # deterministic: no random_state argument


def canonical(name: str) -> str:
    """The sampler's canonical name ('' = off)."""
    lowered = str(name).strip().lower()
    return ALIASES.get(lowered, lowered)


def check(name: str, task: str) -> None:
    """Raise a one-line error for a balancing that cannot run (regression, missing library)."""
    sampler = canonical(name)
    if not sampler:
        return
    if task != "classification":
        raise ConfigError(f"[FEATS] balancing = {name} resamples classes; it needs a classification experiment")
    try:
        importlib.import_module("imblearn")
    except ImportError:
        raise ModelError("[FEATS] balancing needs imbalanced-learn, a dependency of nkl that is missing here; pip install imbalanced-learn") from None


def balance(name: str, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training rows resampled by the sampler ``name`` (unchanged when off)."""
    sampler = canonical(name)
    if not sampler:
        return X, y
    module, cls = SAMPLERS[sampler]
    kwargs = {} if sampler in SEEDLESS else {"random_state": seed}
    counts = np.bincount(y)
    smallest = counts[counts > 0].min()
    if sampler in ("smote", "borderlinesmote", "svmsmote", "adasyn", "smoteenn", "smotetomek") and smallest <= 5:
        from imblearn.over_sampling import SMOTE

        k = max(1, int(smallest) - 1)  # SMOTE's default 5 neighbours need 6 samples of every class
        kwargs["k_neighbors" if sampler != "adasyn" else "n_neighbors"] = k
        if sampler in ("smoteenn", "smotetomek"):
            kwargs = {"random_state": seed, "smote": SMOTE(k_neighbors=k, random_state=seed)}
    try:
        return getattr(importlib.import_module(module), cls)(**kwargs).fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"[FEATS] balancing = {name} failed on the training rows: {str(exc).splitlines()[0][:200]}") from None
