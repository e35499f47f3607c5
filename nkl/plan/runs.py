"""What a run records and reads back: the runs and results tables, the plan hash, the feature matrix, the saved model.

Shared by the stages (``nkl.plan.stages``) and ``execute``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from nkl.catalog.schemas import RUNS, check_schema
from nkl.choices import did_you_mean
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.evaluate.results import best_run, result_plots, results_table
from nkl.features.cache import ExtractionReport, join_features
from nkl.features.registry import manifest_feats
from nkl.hashing import stable_hash
from nkl.models.bundle import ModelBundle
from nkl.models.train import Design

if TYPE_CHECKING:
    from nkl.plan.plan import Plan
    from nkl.plan.stages import RunState

PACKAGES = ("nkl", "polars", "duckdb", "numpy", "scikit-learn", "lightgbm", "opensmile", "torch")


@dataclass
class RunResult:
    """What ``execute`` produced: the tables' rows for this experiment and where the files went."""

    experiment: str
    task: str
    results: pl.DataFrame
    best_run: int
    cached: bool
    extraction: list[ExtractionReport] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    log_file: Path | None = None
    rejected: int = 0
    n_samples: dict[str, int] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    eval_split: str = "test"
    tests: pl.DataFrame | None = None  # results on the [DATA] tests databases (split = database name)

    def headline(self) -> pl.DataFrame:
        """Final metrics (test, or pooled LOGO folds) of the best run."""
        return self.results.filter((pl.col("run") == self.best_run) & (pl.col("split") == self.eval_split))


@cache
def package_versions() -> dict[str, str]:
    """Versions of nkl and the libraries that shape its results."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def feature_matrix(ctx: RunContext, plan: Plan, splits: pl.DataFrame) -> Design:
    c = plan.config
    frame = splits.select("sample", "split", "speaker", "database", "content_key", pl.col(c.data.target).alias("truth"))
    frame, columns = join_features(ctx, plan.extractors, frame, source=splits)
    dropped = splits.height - frame.height
    if dropped:
        ctx.log.warning("%d sample(s) have no features (recorded in rejects) and are left out", dropped)
    if c.feats.features:
        wanted = [str(f) for f in c.feats.features]
        unknown = [f for f in wanted if f not in columns]
        if unknown:
            raise ConfigError(f"[FEATS] features names unknown column '{unknown[0]}'{did_you_mean(unknown[0], columns)} "
                              f"({len(columns)} columns exist, e.g. {', '.join(columns[:5])})")
        columns = wanted
    frame = frame.sort("sample")
    X = frame.select(columns).to_numpy().astype(np.float64)
    if plan.task == "classification":
        labels = [str(x) for x in c.data.labels] if c.data.labels and c.data.type != "continuous" else sorted(frame["truth"].unique().to_list())
        code = {label: i for i, label in enumerate(labels)}
        y = np.array([code[t] for t in frame["truth"].to_list()])
        train_classes = set(frame.filter(pl.col("split") == "train")["truth"].to_list())
        missing = [label for label in labels if label not in train_classes]
        if missing and not c.model.cv_folds:
            ctx.log.warning("classes with no training sample: %s (the model cannot predict them)", ", ".join(missing))
    else:
        labels, y = [], frame["truth"].to_numpy().astype(np.float64)
    return Design(samples=frame.drop("content_key"), X=X, columns=columns, y=y, labels=labels, task=plan.task)


def count_rejects(ctx: RunContext, plan: Plan, splits: pl.DataFrame) -> int:
    """Files of this experiment's databases that could not be used (at import, or by an extractor)."""
    ws = ctx.workspace
    if not ws.parts("rejects"):
        return 0
    names = [n for n, _ in plan.config.databases]
    tables = [e.table for e in plan.extractors]
    keys = splits["content_key"].to_list()
    rejects = ws.scan("rejects").filter(
        ((pl.col("stage") == "import") & pl.col("database").is_in(names))
        | (pl.col("stage").str.strip_prefix("features:").is_in(tables) & pl.col("content_key").is_in(keys))
    )
    return int(rejects.select(pl.col("file").n_unique()).collect().item())


def stored_predictions(predictions: pl.DataFrame, task: str) -> pl.DataFrame:
    """Predictions as the catalog keeps them: ``truth``/``predicted`` are text for every task (so one view
    holds classification and regression experiments); regression adds numeric ``truth_value``/``predicted_value``."""
    if task != "regression":
        return predictions
    return predictions.with_columns(
        truth_value=pl.col("truth").cast(pl.Float64), predicted_value=pl.col("predicted").cast(pl.Float64),
        truth=pl.col("truth").cast(pl.String), predicted=pl.col("predicted").cast(pl.String),
    )


def plan_hash(plan: Plan, split_hash: str) -> str:
    """Key of the fit and evaluate steps: the split, the chosen components' settings and the library versions, nothing else."""
    return stable_hash([split_hash, plan.hash_inputs(), package_versions()])


def cached_result(ctx: RunContext, plan: Plan, key: str) -> RunResult | None:
    """The stored results of this experiment when a finished run had the same plan hash."""
    ws, name = ctx.workspace, plan.name
    runs, results = ws.read_part("runs", name), ws.read_part("results", name)
    if runs is None or results is None:
        return None
    done = runs.filter((pl.col("plan_hash") == key) & (pl.col("status") == "done"))
    if done.height == 0:
        return None
    return RunResult(name, plan.task, results, int(done["best_run"][-1]), cached=True, eval_split=plan.eval_split)


def record_run(ctx: RunContext, plan: Plan, row: dict) -> None:
    ws, name = ctx.workspace, plan.name
    old = ws.read_part("runs", name)
    new = check_schema(pl.DataFrame([row], schema=RUNS), RUNS, "runs")
    if old is not None:
        old = old.filter(pl.col("run_id") != row["run_id"])
        new = pl.concat([old, new], how="diagonal_relaxed")
    ws.write_part("runs", name, new)


def finish_run(ctx: RunContext, plan: Plan, state: RunState) -> None:
    """Results with CIs, predictions, plots and the saved model of a fitted plan; the run marked done."""
    c, ws, name = plan.config, ctx.workspace, plan.name
    design, predictions = state.design, state.predictions
    results = results_table(name, plan.task, predictions, design.labels, c.exp.seed)
    best = best_run(results, plan.task, c.model.measure)
    ctx.log.debug("metrics with bootstrap CIs after %.2f s", time.monotonic() - state.started)
    ws.write_part("predictions", name, stored_predictions(predictions, plan.task))
    ws.write_part("results", name, results)
    plot_args = (state.folder / "plots", name, plan.task, plan.eval_split, predictions, results, design.labels, best, c.plot.titles)
    plotted = state.plotter.start_plots(*plot_args) if state.plotter is not None else None  # drawn while the model is saved
    if c.exp.save and c.model.type == "finetune":
        from nkl.finetune.fit import push_to_hub

        state.fitted[best].save(state.folder / "model")
        push_to_hub(ctx, plan, state.folder / "model")
    elif c.exp.save:
        model = state.fitted[best]
        ModelBundle(model.estimator, model.scaler, {
            "experiment": name, "task": plan.task, "target": c.data.target, "labels": design.labels,
            "columns": design.columns, "extractors": [e.spec() for e in plan.extractors],
            "feats": manifest_feats(c, plan.extractors),
            "config_hash": c.hash, "plan_hash": state.plan_hash, "split_hash": state.split_hash, "run": best, "info": model.info,
        }).save(state.folder / "model")
    ctx.log.debug("model saved after %.2f s", time.monotonic() - state.started)
    plots = plotted() if plotted is not None else result_plots(*plot_args)
    ctx.log.debug("plots written after %.2f s", time.monotonic() - state.started)
    if c.exp.save_test:
        test = predictions.filter((pl.col("run") == best) & (pl.col("split") == plan.eval_split))
        Path(c.exp.save_test).parent.mkdir(parents=True, exist_ok=True)
        test.write_csv(c.exp.save_test)
    record_run(ctx, plan, {**state.base_row, "duration_s": time.monotonic() - state.started, "status": "done", "best_run": best})
    state.result = RunResult(name, plan.task, results, best, cached=False, plots=plots, labels=design.labels,
                             eval_split=plan.eval_split)
