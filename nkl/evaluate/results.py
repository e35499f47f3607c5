"""From predictions to the ``results`` table, the best run, and the result plots."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.catalog.schemas import RESULTS, check_schema
from nkl.evaluate.bootstrap import metric_table
from nkl.evaluate.metrics import classification_metrics

HIGHER_IS_BETTER = {"uar": True, "accuracy": True, "macro_f1": True, "ccc": True, "pcc": True, "mse": False, "mae": False}


def results_table(experiment: str, task: str, predictions: pl.DataFrame, labels: list[str], seed: int) -> pl.DataFrame:
    """Every metric with its bootstrap 95 % CI, per run and split (dev, test, or pooled logo folds)."""
    rows = []
    for (run, split), group in predictions.group_by(["run", "split"], maintain_order=True):
        for row in metric_table(task, group["truth"].to_list(), group["predicted"].to_list(), labels or None, seed):
            rows.append({"experiment": experiment, "run": run, "split": split, **row})
    frame = pl.DataFrame(rows, schema={**RESULTS})
    return check_schema(frame, RESULTS, "results").sort("run", "split", "metric")


def headline_metric(task: str, measure: str) -> str:
    """The metric that ranks runs: [MODEL] measure, else UAR or MSE."""
    return measure or ("uar" if task == "classification" else "mse")


def best_run(results: pl.DataFrame, task: str, measure: str) -> int:
    """The run with the best dev score; run 0 when there is no dev split (test never selects)."""
    metric = headline_metric(task, measure)
    dev = results.filter((pl.col("split") == "dev") & (pl.col("metric") == metric))
    if dev.height == 0:
        return 0
    ordered = dev.sort("value", descending=HIGHER_IS_BETTER.get(metric, True))
    return int(ordered["run"][0])


def result_plots(folder: Path, name: str, task: str, split: str, predictions: pl.DataFrame, results: pl.DataFrame,
                 labels: list[str], run: int, titles: bool = True) -> list[Path]:
    """Confusion matrix (classification) or scatter (regression) of one run's final evaluation (on ``split``)."""
    from nkl.evaluate.plots import confusion_matrix_chart, regression_scatter_chart, save_chart

    pred = predictions.filter((pl.col("run") == run) & (pl.col("split") == split))
    res = results.filter((pl.col("run") == run) & (pl.col("split") == split))
    metric = "uar" if task == "classification" else "ccc"
    row = res.filter(pl.col("metric") == metric).row(0, named=True)
    title = f"{name} ({split}): {metric.upper()} {row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if titles else ""
    folder.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        cm = classification_metrics(pred["truth"].to_list(), pred["predicted"].to_list(), labels)["confusion"]
        chart = confusion_matrix_chart(cm, labels, title)
        return save_chart(chart, folder / f"{name}_confusion")
    chart = regression_scatter_chart(pred["truth"].to_numpy(), pred["predicted"].to_numpy(), title)
    return save_chart(chart, folder / f"{name}_scatter")
