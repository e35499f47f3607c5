"""Evaluation: test-set metrics, bootstrap confidence intervals and result plots.

The plot functions load Altair on first use (``nkl.evaluate.plots``), so metrics stay cheap to import.
"""

from typing import Any

from nkl.evaluate.bootstrap import bootstrap_ci, metric_table
from nkl.evaluate.metrics import classification_metrics, regression_metrics

_PLOTS = ("confusion_matrix_chart", "regression_scatter_chart", "save_chart")


def __getattr__(name: str) -> Any:
    if name in _PLOTS:
        from nkl.evaluate import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'nkl.evaluate' has no attribute {name!r}")


__all__ = [
    "bootstrap_ci",
    "classification_metrics",
    "confusion_matrix_chart",
    "metric_table",
    "regression_metrics",
    "regression_scatter_chart",
    "save_chart",
]
