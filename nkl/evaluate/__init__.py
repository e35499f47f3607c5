"""Evaluation: test-set metrics, bootstrap confidence intervals and result plots."""

from nkl.evaluate.bootstrap import bootstrap_ci, metric_table
from nkl.evaluate.metrics import classification_metrics, regression_metrics
from nkl.evaluate.plots import confusion_matrix_chart, regression_scatter_chart, save_chart

__all__ = [
    "bootstrap_ci",
    "classification_metrics",
    "confusion_matrix_chart",
    "metric_table",
    "regression_metrics",
    "regression_scatter_chart",
    "save_chart",
]
