"""``explore``: value counts with statistics, feature importance, scatter plots; tables, plots and a summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from nkl.catalog.schemas import BIAS, IMPORTANCE, check_schema
from nkl.config.config import Config
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.explore import plots
from nkl.explore.bias import BiasTests, bias_tests, pair_tests, value_count_columns
from nkl.explore.importance import feature_data, feature_importance, shap_importance
from nkl.explore.samples import explore_samples, write_explore_samples
from nkl.explore.scatter import METHODS, colour_column, project
from nkl.explore.statistics import TestRow, adjust


@dataclass
class ExploreResult:
    """What one exploration found and wrote."""

    experiment: str
    target: str
    task: str
    n_samples: int
    n_speakers: int
    bias: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    importance: pl.DataFrame | None = None
    artifacts: list[dict] = field(default_factory=list)
    fit_samples: list[str] = field(default_factory=list)
    eval_samples: list[str] = field(default_factory=list)


def _bias_frame(experiment: str, target: str, rows: list[tuple[str, str, str, TestRow]], alpha: float) -> pl.DataFrame:
    records = []
    for source, attribute, level, r in rows:
        verdict = "" if r.p_adj is None else "significant" if r.p_adj < alpha else "not significant"
        records.append({"experiment": experiment, "source": source, "target": target, "attribute": attribute, "level": level,
                        "test": r.test, "groups": r.groups, "statistic": r.statistic, "p": r.p, "p_adj": r.p_adj, "effect": r.effect,
                        "effect_name": r.effect_name, "effect_label": r.effect_label, "cohens_d": r.cohens_d, "n": r.n, "verdict": verdict})
    frame = pl.DataFrame(records, schema=BIAS) if records else pl.DataFrame(schema=BIAS)
    return check_schema(frame.with_columns(pl.col(pl.Float64).fill_nan(None)), BIAS, "bias")


def _value_count_plots(con, art: plots.Artifacts, experiment: str, target: str, target_kind: str, tests: BiasTests, dist_type: str) -> None:
    for column, kind in tests.kinds.items():
        units = con.sql("select * from test_units(?, ?, ?, ?, 'samples')", params=[experiment, column, target_kind, kind]).pl()
        if units.height == 0:
            continue
        y_cat, x_cat = target_kind != "numeric", kind != "numeric"
        if y_cat and x_cat:
            counts = units.group_by("y_group", "x_group").agg(n=pl.len()).rename({"y_group": target, "x_group": column}).sort(target, column)
            chart = plots.count_bars(counts, target, column)
        elif y_cat or x_cat:
            labels = units["y_group" if y_cat else "x_group"].to_list()
            values = units["x_num" if y_cat else "y_num"].to_numpy().astype(np.float64)
            chart = plots.distributions(labels, values, target if y_cat else column, column if y_cat else target, dist_type)
        else:
            chart = plots.correlation_scatter(units["x_num"].to_numpy(), units["y_num"].to_numpy(), column, target)
        art.save(chart, f"value_counts_{target}_{column}", "value_counts", f"{target} by {column} (samples)")


def _target_plot(con, art: plots.Artifacts, experiment: str, target: str, task: str, dist_type: str) -> None:
    if task == "classification":
        counts = con.sql(
            "select target as class, 'samples' as unit, count(*) as n from explore_samples where experiment = ? group by all "
            "union all select target, 'speakers', count(distinct speaker) from explore_samples where experiment = ? group by all "
            "order by all", params=[experiment, experiment]).pl().rename({"class": target})
        chart = plots.count_bars(counts, target).encode(column=plots.alt.Column("unit:N", title=None))
    else:
        values = con.sql("select target_num from explore_samples where experiment = ? and target_num is not null", params=[experiment]).pl()
        chart = plots.distributions(["all"] * values.height, values["target_num"].to_numpy(), "", target, dist_type)
    art.save(chart, f"distribution_{target}", "distribution", f"distribution of {target}")


def _feature_tests(data, features: list[str], task: str, notes: list[str]) -> list[tuple[str, str, str, TestRow]]:
    """Each feature against the target, per sample and per speaker (a speaker's mean per class is one unit)."""
    rows = []
    frame = data.samples.with_columns(pl.DataFrame(data.X[:, [data.columns.index(f) for f in features]], schema=features, orient="row"))
    for feature in features:
        for level in ("samples", "speakers"):
            units = frame.select("speaker", "target", feature).drop_nulls()
            if level == "speakers":
                units = units.group_by("speaker", "target").agg(pl.col(feature).mean()) if task == "classification" else \
                    units.group_by("speaker").agg(pl.col("target").cast(pl.Float64).mean(), pl.col(feature).mean())
            if task == "classification":
                prepared = units.select(y_group=pl.col("target").cast(pl.String), x_num=pl.col(feature), y_num=None, x_group=None)
                found = pair_tests(prepared, "categorical", "numeric", f"{feature} by target ({level})", notes)
            else:
                prepared = units.select(y_num=pl.col("target").cast(pl.Float64), x_num=pl.col(feature), y_group=None, x_group=None)
                found = pair_tests(prepared, "numeric", "numeric", f"{feature} vs target ({level})", notes)
            rows += [("feature", feature, level, r) for r in found]
    return rows


def _feature_plots(art: plots.Artifacts, data, features: list[str], target: str, task: str, ignore_gender: bool) -> None:
    split = None
    if not ignore_gender and "gender" in data.samples.columns and data.samples["gender"].drop_nulls().n_unique() > 1:
        split = "gender"
    for feature in features:
        values = data.samples.with_columns(pl.Series(feature, data.X[:, data.columns.index(feature)]))
        if task == "classification":
            by = ["target"] + ([split] if split else [])
            summary = plots.box_summary(values.drop_nulls(by), feature, by).rename({"target": target})
            chart = plots.feature_boxes(summary, feature, target, split)
        else:
            chart = plots.correlation_scatter(values[feature].to_numpy(), values["target"].cast(pl.Float64).to_numpy(), feature, target)
        art.save(chart, f"feature_{feature}", "distribution", f"{feature} per {target}" + (" and gender" if split else ""))


def explore(ctx: RunContext, config: Config) -> ExploreResult:
    """Run the [EXPL] analyses of a config; writes explore_samples, bias, importance, scatter and artifacts."""
    e, ws, name, target = config.expl, ctx.workspace, config.exp.name, config.data.target
    if e.scatter_dim != 2:
        ctx.log.warning("[EXPL] scatter.dim = %d is not supported yet; scatter plots are 2-D", e.scatter_dim)
    methods = [str(m) for m in e.scatter] + [m for m in METHODS if getattr(e, m)]
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"[EXPL] scatter: unknown method '{method}'; choose from {', '.join(METHODS)}")
    df, task = explore_samples(ctx, config)
    write_explore_samples(ctx, name, df, target)
    art = plots.Artifacts(ws, name, ws.experiment_dir(name) / "explore", config.plot.format, config.plot.titles)
    target_kind = "numeric" if task == "regression" else "categorical"
    con = ws.connect(read_only=True)
    try:
        _target_plot(con, art, name, target, task, e.dist_type)
        tests = bias_tests(con, name, target, task, value_count_columns(e.value_counts), [str(c) for c in e.bin_reals])
        _value_count_plots(con, art, name, target, target_kind, tests, e.dist_type)
        if e.print_colvals:
            for column in df.columns:
                ctx.log.info("%s: %s", column, ", ".join(map(str, df[column].unique().sort(nulls_last=True).head(30).to_list())))
    finally:
        con.close()
    rows, notes = list(tests.rows), list(tests.notes)
    result = ExploreResult(name, target, task, df.height, df["speaker"].n_unique(), pl.DataFrame())
    if e.feature_distributions or e.shap or methods:
        data = feature_data(ctx, config, df, target, task)
        tables = []
        if e.feature_distributions:
            imp = feature_importance(data, [str(m) for m in e.model], task, permutation=e.permutation, seed=config.exp.seed, log=ctx.log)
            result.fit_samples, result.eval_samples = imp.fit_samples, imp.eval_samples
            ctx.log.info("importance fitted on %d rows, scored on %d held-out rows (%s): %s %.3f", len(imp.fit_samples),
                         len(imp.eval_samples), imp.eval_split, "UAR" if task == "classification" else "R²", imp.eval_score)
            tables.append(imp.table.with_columns(n_fit=len(imp.fit_samples), n_eval=len(imp.eval_samples), eval_split=pl.lit(imp.eval_split),
                                                 eval_score=imp.eval_score))
            final = imp.table.filter(pl.col("method") == imp.table["method"][-1] if len(e.model) == 1 else pl.col("method") == "mean")
            top = final.sort("rank").head(e.max_feats)
            art.save(plots.importance_bars(top, f"importance ({top['method'][0]})"), "importance", "importance",
                     f"top {top.height} features by {top['method'][0]} importance (fitted on train, {imp.eval_split} held out)")
            wanted = top["feature"].to_list()
            for feature in map(str, e.plot_features):
                if feature not in data.columns:
                    notes.append(f"[EXPL] plot_features: '{feature}' is not a feature column; skipped")
                elif feature not in wanted:
                    wanted.append(feature)
            rows += _feature_tests(data, wanted, task, notes)
            _feature_plots(art, data, wanted, target, task, e.ignore_gender)
        if e.shap:
            shap_table = shap_importance(data, str(e.model[0]), task, config.exp.seed)
            tables.append(shap_table.with_columns(n_fit=None, n_eval=None, eval_split=None, eval_score=None))
            art.save(plots.importance_bars(shap_table.head(e.max_feats), "mean |SHAP|"), "shap", "importance",
                     f"top features by mean |SHAP| ({e.model[0]}, held-out rows)")
        if tables:
            importance = check_schema(pl.concat(tables, how="diagonal_relaxed").with_columns(experiment=pl.lit(name)), IMPORTANCE, "importance")
            result.importance = importance.select(list(IMPORTANCE))
            ws.write_part("importance", name, result.importance)
        coords = []
        for method in methods:
            xy = project(data.X, method, config.exp.seed)
            frame = data.samples.select("sample").with_columns(method=pl.lit(method), x=xy[:, 0], y=xy[:, 1])
            coords.append(frame)
            colours = [str(c) for c in e.scatter_target] or [target]
            joined = frame.join(df.drop("split"), on="sample", how="left")
            for column in colours:
                if column not in joined.columns:
                    notes.append(f"[EXPL] scatter.target: column '{column}' does not exist; not plotted")
                    continue
                shown = joined.with_columns(colour_column(joined[column]))
                art.save(plots.scatter_points(shown, column, method), f"scatter_{method}_{column}", "scatter", f"{method} of the features by {column}")
        if coords:
            ws.write_part("scatter", name, pl.concat(coords, how="vertical_relaxed").with_columns(experiment=pl.lit(name)))
    adjusted = adjust([r for _, _, _, r in rows])
    rows = [(s, a, lvl, r) for (s, a, lvl, _), r in zip(rows, adjusted, strict=True)]
    result.bias = _bias_frame(name, target, rows, e.alpha)
    result.notes = notes
    ws.write_part("bias", name, result.bias)
    art.write()
    result.artifacts = art.rows
    return result
