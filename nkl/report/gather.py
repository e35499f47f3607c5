"""Everything a report shows, read from the catalog: nothing is recomputed except small summaries.

``gather_experiment`` collects one experiment's manifest, data, results, per-group metrics and,
when those commands ran, the findings of ``nkl explore`` and ``nkl predict``. Tables or views that
are absent leave their field empty; the report then says so in a note.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.config.config import Config
from nkl.config.loader import config_from_text
from nkl.errors import CatalogError

GROUP_ATTRIBUTES = ("gender", "database", "age")
MAX_GROUPS = 12
SIGNIFICANCE = 0.05


@dataclass
class ExperimentFacts:
    """One experiment as the catalog holds it, ready to be written into report sections."""

    name: str
    task: str
    run: dict[str, Any]
    config: Config | None
    target: str
    labels: list[str]
    best_run: int
    eval_split: str
    samples: pl.DataFrame
    results: pl.DataFrame
    predictions: pl.DataFrame
    groups: pl.DataFrame | None = None
    group_source: str = ""
    bias: pl.DataFrame | None = None
    artifacts: pl.DataFrame | None = None
    estimates: pl.DataFrame | None = None
    applied: pl.DataFrame | None = None
    model_columns: int | None = None
    epochs: pl.DataFrame | None = None  # the training curve of a fine-tuned model
    notes: list[str] = field(default_factory=list)

    def metric(self, name: str) -> dict[str, Any] | None:
        """The row of one headline metric (value, ci_low, ci_high), or None."""
        rows = self.results.filter(pl.col("metric") == name)
        return rows.row(0, named=True) if rows.height else None


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """A small query's rows as a DataFrame (fetched as Python rows: no Arrow import for a few rows)."""
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return pl.DataFrame(cursor.fetchall(), schema=columns, orient="row", infer_schema_length=None)


def views(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the catalog's views (tables and the analysis views of sql/)."""
    return set(query(con, "select view_name from duckdb_views() where not internal")["view_name"].to_list())


def latest_run(ws: Workspace, name: str) -> dict[str, Any]:
    """The newest finished run of an experiment (its manifest); a CatalogError naming the experiments otherwise."""
    runs = ws.scan("runs").filter(pl.col("status") == "done").collect() if ws.parts("runs") else pl.DataFrame()
    mine = runs.filter(pl.col("experiment") == name) if runs.height else runs
    if mine.height == 0:
        known = sorted(set(runs["experiment"].to_list())) if runs.height else []
        raise CatalogError(f"experiment '{name}' has no finished run in {ws.root}; "
                           f"experiments: {', '.join(known) or 'none (run `nkl run CONFIG.ini` first)'}")
    return mine.sort("start").row(-1, named=True)


def experiment_names(ws: Workspace) -> list[str]:
    """Experiments with at least one finished run."""
    if not ws.parts("runs"):
        return []
    runs = ws.scan("runs").filter(pl.col("status") == "done").select("experiment").unique().collect()
    return sorted(runs["experiment"].to_list())


def _labels(predictions: pl.DataFrame, config: Config | None) -> list[str]:
    probs = [c.removeprefix("prob_") for c in predictions.columns if c.startswith("prob_")]
    if probs:
        return probs
    if config is not None and config.data.labels and config.data.type != "continuous":
        return [str(x) for x in config.data.labels]
    return sorted(set(predictions["truth"].to_list()) | set(predictions["predicted"].to_list()))


def _samples(ws: Workspace, name: str, target: str) -> pl.DataFrame:
    """The experiment's samples with their split and the attributes a report describes."""
    splits = ws.scan("splits").filter(pl.col("experiment") == name).select("sample", "split")
    samples = ws.scan("samples")
    columns = samples.collect_schema().names()
    wanted = ["sample", "database", "speaker", "gender", "age", "duration"] + ([target] if target and target in columns else [])
    frame = splits.join(samples.select([c for c in dict.fromkeys(wanted) if c in columns]).unique("sample"), on="sample", how="left")
    frame = frame.collect()
    if target and target in frame.columns:
        frame = frame.rename({target: "target"}) if target != "target" else frame
    return frame


def _view_membership(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame | None:
    """Groups of the experiment's samples as explore's SQL defines them (``sample_groups``: values, or workspace-wide tertiles)."""
    frame = query(con, "select g.sample, g.attribute, g.\"group\" from sample_groups g join splits s using (sample) "
                       "where s.experiment = ?", [name])
    return frame if frame.height else None


def own_membership(evaluated: pl.DataFrame) -> pl.DataFrame:
    """Groups of the evaluated samples by gender, database and age tertile (when no ``sample_groups`` view exists)."""
    frame = evaluated
    if "age" in frame.columns and frame["age"].drop_nulls().n_unique() > 3:
        ages = frame["age"].cast(pl.Float64)
        low, high = ages.quantile(1 / 3), ages.quantile(2 / 3)
        frame = frame.with_columns(age=pl.when(ages <= low).then(pl.lit(f"0_low (≤ {low:g})")).when(ages <= high)
                                   .then(pl.lit(f"1_middle ({low:g}–{high:g}]")).when(ages.is_not_null()).then(pl.lit(f"2_high (> {high:g})")))
    parts = [frame.select("sample", pl.lit(a).alias("attribute"), pl.col(a).cast(pl.String).alias("group"))
             for a in GROUP_ATTRIBUTES if a in frame.columns]
    return pl.concat(parts).drop_nulls("group") if parts else pl.DataFrame(schema={"sample": pl.String, "attribute": pl.String, "group": pl.String})


def group_metrics(evaluated: pl.DataFrame, membership: pl.DataFrame, task: str, labels: list[str], seed: int) -> pl.DataFrame | None:
    """UAR (or CCC) with bootstrap 95 % CIs, and accuracy (or MAE), per group of gender, database, age and est_* columns.

    Only attributes with 2 to ``MAX_GROUPS`` groups among the evaluated samples are kept.
    """
    from nkl.evaluate.bootstrap import metric_table

    main, second = ("uar", "accuracy") if task == "classification" else ("ccc", "mae")
    keep = pl.col("attribute").is_in(list(GROUP_ATTRIBUTES)) | pl.col("attribute").str.starts_with("est_")
    joined = membership.filter(keep).unique(["sample", "attribute"]).join(evaluated, on="sample", how="inner")
    rows = []
    for attribute in sorted(set(joined["attribute"].to_list()), key=lambda a: (a not in GROUP_ATTRIBUTES, a)):
        values = joined.filter(pl.col("attribute") == attribute)
        groups = sorted(set(values["group"].to_list()))
        if not 2 <= len(groups) <= MAX_GROUPS:
            continue
        for group in groups:
            part = values.filter(pl.col("group") == group)
            if task == "classification":
                table = metric_table(task, part["truth"].to_list(), part["predicted"].to_list(), labels, seed)
            else:
                table = metric_table(task, part["truth_value"].to_numpy(), part["predicted_value"].to_numpy(), None, seed)
            by_name = {r["metric"]: r for r in table}
            rows.append({"attribute": attribute, "group": group, "n": part.height,
                         main: by_name[main]["value"], "ci_low": by_name[main]["ci_low"], "ci_high": by_name[main]["ci_high"],
                         second: by_name[second]["value"]})
    return pl.DataFrame(rows) if rows else None


def _optional(con: duckdb.DuckDBPyConnection, present: set[str], view: str, sql: str, params: list[Any]) -> pl.DataFrame | None:
    if view not in present:
        return None
    try:
        frame = query(con, sql, params)
    except duckdb.Error as exc:
        logging.getLogger("nkl").debug("report: %s unreadable: %s", view, exc)
        return None
    return frame if frame.height else None


def _estimates(con: duckdb.DuckDBPyConnection, present: set[str], name: str) -> pl.DataFrame | None:
    """Summary (n, mean, sd, min, median, max) of every est_* column over the experiment's samples."""
    frame = _optional(con, present, "estimates",
                      "select e.* from estimates e join splits s using (sample) where s.experiment = ?", [name])
    if frame is None:
        return None
    rows = []
    for column in (c for c in frame.columns if c.startswith("est_")):
        values = frame[column].cast(pl.Float64).drop_nulls().drop_nans()
        if values.len():
            rows.append({"column": column, "n": values.len(), "mean": values.mean(), "sd": values.std(), "min": values.min(),
                         "median": values.median(), "max": values.max()})
    return pl.DataFrame(rows) if rows else None


def gather_experiment(ws: Workspace, name: str) -> ExperimentFacts:
    """Read one experiment's tables; a CatalogError naming what exists if it never finished a run."""
    run = latest_run(ws, name)
    config = config_from_text(run["config_text"] or "", name)
    results = ws.scan("results").filter(pl.col("experiment") == name).collect()
    predictions = ws.scan("predictions").filter(pl.col("experiment") == name).collect()
    best = int(run["best_run"] or 0)
    # runs store both since the plan knows them; runs recorded by older versions are read from their results
    task = run.get("task") or ("classification" if results.filter(pl.col("metric") == "uar").height else "regression")
    split = run.get("eval_split") or ("logo" if "logo" in predictions["split"].to_list() else "test")
    target = config.data.target if config is not None else ""
    samples = _samples(ws, name, target)
    evaluated = predictions.filter((pl.col("run") == best) & (pl.col("split") == split))
    attributes = [c for c in ("database", "gender", "age", "duration") if c in samples.columns]
    evaluated = evaluated.join(samples.select("sample", *attributes), on="sample", how="left")
    labels = _labels(evaluated, config) if task == "classification" else []
    facts = ExperimentFacts(
        name=name, task=task, run=run, config=config, target=target, labels=labels, best_run=best, eval_split=split,
        samples=samples, results=results.filter((pl.col("run") == best) & (pl.col("split") == split)), predictions=evaluated,
    )
    if config is None:
        facts.notes.append("The run's INI no longer parses with this nkl version; the data and model sections show less.")
    bundle = ws.experiment_dir(name) / "model" / "bundle.json"
    if bundle.is_file():
        facts.model_columns = len(json.loads(bundle.read_text(encoding="utf-8")).get("columns", []))
    facts.epochs = ws.read_part("epochs", name)
    con = ws.connect()
    try:
        present = views(con)
        membership = _view_membership(con, name) if "sample_groups" in present else None
        facts.group_source = ("groups of the sample_groups view (as nkl explore and group_metrics define them)" if membership is not None
                              else "groups of the samples table")
        facts.groups = group_metrics(evaluated, membership if membership is not None else own_membership(evaluated), task, labels,
                                     int(run["seed"] or 0))
        facts.bias = _optional(con, present, "bias", "select * from bias where experiment = ? order by p_adj nulls last", [name])
        facts.artifacts = _optional(con, present, "artifacts", "select * from artifacts where experiment = ? order by kind, path", [name])
        facts.estimates = _estimates(con, present, name)
        facts.applied = _optional(con, present, "applied_predictions",
                                  "select predicted, count(*) as n from applied_predictions where model = ? group by all order by n desc", [name])
    finally:
        con.close()
    return facts


@dataclass
class WorkspaceFacts:
    """Every finished experiment of a workspace with its headline metrics."""

    root: str
    rows: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def gather_workspace(ws: Workspace) -> WorkspaceFacts:
    """One row per experiment: task, model, features, headline metrics with CIs, evaluated split, size, manifest hashes."""
    names = experiment_names(ws)
    if not names:
        raise CatalogError(f"{ws.root} holds no finished experiment; run `nkl run CONFIG.ini` first")
    results = ws.scan("results").collect()
    predictions = ws.scan("predictions").select("experiment", "run", "split").collect()
    rows = []
    for name in names:
        run = latest_run(ws, name)
        best = int(run["best_run"] or 0)
        mine = results.filter((pl.col("experiment") == name) & (pl.col("run") == best))
        splits = set(mine["split"].to_list())
        split = "logo" if "logo" in splits else "test"
        mine = mine.filter(pl.col("split") == split)
        metrics = {r["metric"]: r for r in mine.iter_rows(named=True)}
        config = config_from_text(run["config_text"] or "", name)
        task = "classification" if "uar" in metrics else "regression"
        n = predictions.filter((pl.col("experiment") == name) & (pl.col("run") == best) & (pl.col("split") == split)).height
        row = {"experiment": name, "task": task, "split": split, "n": n,
               "model": config.model.type if config else "", "features": _feature_names(run),
               "start": run["start"], "config_hash": run["config_hash"], "split_hash": run["split_hash"]}
        for metric in ("uar", "accuracy", "macro_f1", "ccc", "mae"):
            found = metrics.get(metric)
            row[metric] = found["value"] if found else None
            row[f"{metric}_low"] = found["ci_low"] if found else None
            row[f"{metric}_high"] = found["ci_high"] if found else None
        rows.append(row)
    return WorkspaceFacts(str(ws.root), pl.DataFrame(rows, infer_schema_length=None))


def _feature_names(run: dict[str, Any]) -> str:
    try:
        specs = json.loads(run["feature_spec"] or "[]")
    except json.JSONDecodeError:
        return ""
    return ", ".join(feature_label(s) for s in specs)


def feature_label(spec: dict[str, Any]) -> str:
    """One extractor spec in words.

    >>> feature_label({"name": "os", "params": {"set": "eGeMAPSv02", "level": "functionals"}})
    'os (eGeMAPSv02, functionals)'
    """
    params = spec.get("params") or {}
    details = [str(params[k]) for k in ("set", "level", "model", "layer") if params.get(k)]
    return f"{spec.get('name', '?')} ({', '.join(details)})" if details else str(spec.get("name", "?"))
