"""From predictions to the ``results`` table, the best run, and the result plots."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.catalog.schemas import RESULTS, check_schema
from nkl.evaluate.bootstrap import bootstrap_ci, metric_table
from nkl.evaluate.metrics import classification_metrics, equal_error_rate, roc_points

HIGHER_IS_BETTER = {"uar": True, "accuracy": True, "macro_f1": True, "ccc": True, "pcc": True, "mse": False, "mae": False, "eer": False}


def results_table(experiment: str, task: str, predictions: pl.DataFrame, labels: list[str], seed: int) -> pl.DataFrame:
    """Every metric with its bootstrap 95 % CI, per run and split (dev, test, or pooled logo folds)."""
    rows = []
    positive = f"prob_{labels[1]}" if task == "classification" and labels and len(labels) == 2 else ""
    for (run, split), group in predictions.group_by(["run", "split"], maintain_order=True):
        for row in metric_table(task, group["truth"].to_list(), group["predicted"].to_list(), labels or None, seed):
            rows.append({"experiment": experiment, "run": run, "split": split, **row})
        if positive and positive in group.columns:  # binary: the equal error rate of the second class's probability
            truth = (group["truth"].cast(pl.String) == labels[1]).to_numpy()
            scores = group[positive].fill_null(0.0).to_numpy()
            value = equal_error_rate(truth, scores)
            low, high = bootstrap_ci(equal_error_rate, truth, scores, seed=seed)
            rows.append({"experiment": experiment, "run": run, "split": split, "metric": "eer", "value": value,
                         "ci_low": low, "ci_high": high})
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
        paths = save_chart(chart, folder / f"{name}_confusion")
        positive = f"prob_{labels[1]}" if len(labels) == 2 else ""
        if positive in pred.columns:  # binary: the ROC curve with its equal error rate
            from nkl.evaluate.plots import roc_chart

            truth = (pred["truth"].cast(pl.String) == labels[1]).to_numpy()
            if 0 < truth.sum() < len(truth):
                fpr, tpr = roc_points(truth, pred[positive].fill_null(0.0).to_numpy())
                eer = res.filter(pl.col("metric") == "eer")
                label = f"{name} ({split}): EER {eer['value'][0]:.3f}" if eer.height and titles else ""
                paths += save_chart(roc_chart(fpr, tpr, labels[1], label), folder / f"{name}_roc")
        return paths
    chart = regression_scatter_chart(pred["truth"].to_numpy(), pred["predicted"].to_numpy(), title)
    return save_chart(chart, folder / f"{name}_scatter")
