"""The results summary printed at the end of ``nkl run``."""

from __future__ import annotations

import polars as pl
from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.evaluate.metrics import classification_metrics
from nkl.plan.execute import RunResult


def _ci(row: dict) -> str:
    return f"{row['value']:.3f}  [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def summary_tables(result: RunResult, workspace: Workspace) -> list[Table]:
    """Per-class precision/recall/F1 and the headline metrics with their bootstrap CIs."""
    head = result.headline()
    split = head["split"][0] if head.height else "test"
    tables = []
    if result.task == "classification":
        pred = workspace.scan("predictions", result.experiment).filter(
            (pl.col("experiment") == result.experiment) & (pl.col("run") == result.best_run) & (pl.col("split") == split)
        ).collect()
        labels = result.labels or sorted(m.removeprefix("f1_") for m in head["metric"].to_list() if m.startswith("f1_"))
        metrics = classification_metrics(pred["truth"].to_list(), pred["predicted"].to_list(), labels)
        per_class = Table(title=f"{result.experiment}: per class ({split}, run {result.best_run})")
        for col in ("class", "precision", "recall", "F1", "support"):
            per_class.add_column(col, justify="left" if col == "class" else "right")
        for label in labels:
            m = metrics["per_class"][label]
            per_class.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
        tables.append(per_class)
        order = ["uar", "accuracy", "macro_f1", "eer"]
    else:
        order = ["ccc", "pcc", "mse", "mae"]
    overall = Table(title=f"{result.experiment}: results ({split}, bootstrap 95 % CI)")
    overall.add_column("metric")
    overall.add_column("value [95 % CI]", justify="right")
    rows = {r["metric"]: r for r in head.iter_rows(named=True)}
    for name in order:
        if name in rows:
            overall.add_row(name.upper() if name in ("uar", "ccc", "pcc", "mse", "mae", "eer") else name, _ci(rows[name]))
    tables.append(overall)
    if result.tests is not None and result.tests.height:
        main = "uar" if result.task == "classification" else "ccc"
        tests = Table(title=f"{result.experiment}: test databases (best model, bootstrap 95 % CI)")
        tests.add_column("database")
        tests.add_column(f"{main.upper()} [95 % CI]", justify="right")
        tests.add_column("n", justify="right")
        for row in result.tests.filter(pl.col("metric") == main).sort("split").iter_rows(named=True):
            n = workspace.scan("predictions", f"{result.experiment}.tests").filter(pl.col("split") == row["split"]).select(pl.len()).collect().item()
            tests.add_row(row["split"], _ci(row), str(n))
        tables.append(tests)
    return tables
