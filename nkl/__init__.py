"""nkl: speech machine-learning experiments as lazy plans over a catalog of Parquet tables.

The public face is small: ``connect`` a workspace's catalog, build an ``Experiment``, handle ``NklError``.
"""

from importlib.metadata import PackageNotFoundError, version

from nkl.catalog import Catalog, connect
from nkl.config import Config, load_config
from nkl.errors import NklError
from nkl.plan import Experiment, Plan, RunResult

try:
    __version__ = version("nkl")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["Catalog", "Config", "Experiment", "NklError", "Plan", "RunResult", "__version__", "connect", "load_config"]
