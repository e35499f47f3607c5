"""The extractor registry: each extractor declares its spec; adding one = one module + one entry here."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from importlib import import_module
from typing import Any, ClassVar

import numpy as np

from nkl.config.config import stable_hash
from nkl.config.sections import FeatsSection
from nkl.config.values import did_you_mean
from nkl.errors import ConfigError

# name in [FEATS] type → "module:Class" (imported only when used, so heavy libraries load lazily)
EXTRACTORS: dict[str, str] = {
    "os": "nkl.features.opensmile_extractor:OpenSmileExtractor",
}


class Extractor(ABC):
    """Turns one decoded signal into a fixed-length feature vector.

    Construction only stores parameters (it must stay cheap and picklable: workers receive the
    object); ``setup()`` loads whatever is heavy, once per process.
    """

    name: ClassVar[str]
    sample_rate: ClassVar[int | None] = 16000
    min_duration: ClassVar[float] = 0.02

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Parameters that change the output."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of the libraries (and models) that compute the features."""

    @abstractmethod
    def setup(self) -> None:
        """Load libraries or models; called once per worker process before ``extract``."""

    @abstractmethod
    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        """Feature names and values for one mono float32 signal."""

    # Batched extractors (models) set ``batched = True`` and ``names``, and implement ``extract_batch``: the engine then
    # runs them in the main process on ``batch_size`` signals at a time (one model copy, on the configured device)
    # instead of one file at a time in worker processes.
    batched: ClassVar[bool] = False
    names: ClassVar[list[str]] = []

    @property
    def progress_label(self) -> str:
        """What the progress bar says while this extractor runs."""
        return f"Features {self.table}"

    @property
    def batch_size(self) -> int:
        """Signals per ``extract_batch`` call; 0 for extractors that work one file at a time."""
        return 0

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """Rows of ``names`` values for several signals at ``sample_rate`` (in input order); batched extractors only."""
        raise NotImplementedError(f"{self.name} is not a batched extractor")

    def spec(self) -> dict[str, Any]:
        """Everything that determines the output: the cache key's extractor half."""
        return {"name": self.name, "params": self.params(), "versions": self.versions(), "sample_rate": self.sample_rate}

    @property
    def spec_hash(self) -> str:
        return stable_hash(self.spec())

    @property
    def table(self) -> str:
        """Catalog table of this extractor's features, e.g. ``features_os_egemapsv02``."""
        suffix = "_".join(str(v) for v in self.params().values() if v not in ("functionals", None, ""))
        return re.sub(r"[^a-z0-9_]+", "_", f"features_{self.name}_{suffix}".lower()).rstrip("_")


def get_extractor_class(name: str) -> type[Extractor]:
    """The extractor class registered under ``name``; ConfigError with a hint for unknown names."""
    target = EXTRACTORS.get(name)
    if target is None:
        raise ConfigError(
            f"Unknown feature extractor '{name}' in [FEATS] type{did_you_mean(name, list(EXTRACTORS))} "
            f"Available: {', '.join(EXTRACTORS)}"
        )
    module, cls = target.split(":")
    return getattr(import_module(module), cls)


def build_extractors(feats: FeatsSection) -> list[Extractor]:
    """One configured extractor per entry of [FEATS] type."""
    return [get_extractor_class(str(n))(feats) for n in feats.type]
