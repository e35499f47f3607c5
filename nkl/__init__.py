"""nkl: speech machine-learning experiments as lazy plans over a catalog of Parquet tables.

The public face is small: ``connect`` a workspace's catalog, build an ``Experiment``, handle ``NklError``.
Names load on first use, so that importing one submodule (an extraction worker does) stays cheap.
"""

from nkl.errors import NklError
from nkl.lazy import lazy_getattr

_LAZY = {
    "Catalog": "nkl.catalog",
    "connect": "nkl.catalog",
    "Config": "nkl.config",
    "load_config": "nkl.config",
    "Experiment": "nkl.plan",
    "Plan": "nkl.plan",
    "RunResult": "nkl.plan",
}


_lazy = lazy_getattr(__name__, _LAZY)


def __getattr__(name: str) -> object:
    if name == "__version__":  # importlib.metadata costs ~30 ms: only when asked
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("nkl")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            return "0.0.0"
    return _lazy(name)


__all__ = ["Catalog", "Config", "Experiment", "NklError", "Plan", "RunResult", "__version__", "connect", "load_config"]
