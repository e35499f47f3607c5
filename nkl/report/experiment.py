"""The sections of an experiment report, written as Markdown files from ``ExperimentFacts``.

Each function returns one section's text (``_manifest.md``, ``_data.md`` ...); the template
includes them. Charts are exported next to them under ``figures/``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from nkl.config.redact import MASK, redact_ini_text
from nkl.config.sections import ModelSection
from nkl.report import charts
from nkl.report import markdown as md
from nkl.report.gather import SIGNIFICANCE, ExperimentFacts, feature_label

PAGE_BREAK = "```{=typst}\n#pagebreak()\n```\n"
METRIC_NAMES = {"uar": "UAR", "accuracy": "accuracy", "macro_f1": "macro F1", "ccc": "CCC", "pcc": "PCC", "mse": "MSE", "mae": "MAE"}


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except json.JSONDecodeError:
        return None


def headline(facts: ExperimentFacts) -> str:
    """The main metric in words, e.g. 'UAR 0.605 [0.532, 0.683] on test (188 samples)'."""
    name = "uar" if facts.task == "classification" else "ccc"
    row = facts.metric(name)
    if row is None:
        return "no result"
    return f"{METRIC_NAMES[name]} {md.with_ci(row['value'], row['ci_low'], row['ci_high'])} on {facts.eval_split} ({facts.predictions.height} samples)"


def manifest_section(facts: ExperimentFacts) -> str:
    run = facts.run
    versions = _json(run.get("versions")) or {}
    specs = _json(run.get("feature_spec")) or []
    features = "; ".join(f"{feature_label(s)}" + (f", {', '.join(f'{k} {v}' for k, v in s.get('versions', {}).items())}" if s.get("versions") else "")
                         for s in specs)
    start = run.get("start")
    date = start.strftime("%Y-%m-%d %H:%M UTC") if hasattr(start, "strftime") else str(start)
    duration = f", {run['duration_s']:.1f} s" if run.get("duration_s") is not None else ""
    model = facts.config.model.type if facts.config is not None else ""
    ensemble = _json(run.get("members"))
    if ensemble:
        model = f"ensemble ({ensemble.get('method')}) of {', '.join(ensemble.get('members', []))}"
    rows = [
        ["experiment", md.code(facts.name)],
        ["date", md.escape(date)],
        ["status", md.escape(f"{run.get('status')}{duration} (run {run.get('run_id')})")],
        ["nkl version", md.escape(versions.get("nkl", "?"))],
        ["config hash", md.code(run.get("config_hash"))],
        ["plan hash", md.code(run.get("plan_hash"))],
        ["split hash", md.code(run.get("split_hash"))],
        ["features", md.escape(features or "?")],
        ["model", md.escape(model or "?")],
        ["seed", md.number(run.get("seed"))],
        ["result", headline(facts)],
    ]
    text = "# Run manifest\n\n" + md.table(["item", "value"], rows, f"Manifest of experiment {md.escape(facts.name)}", "tbl-manifest", "ll")
    if versions:
        text += "\n" + md.table(["package", "version"], [[md.escape(k), md.code(v)] for k, v in sorted(versions.items())],
                                "Package versions of the run", "tbl-versions", "ll")
    for note in facts.notes:
        text += "\n" + md.note(note)
    return text + "\n" + PAGE_BREAK


def _class_counts(samples: pl.DataFrame) -> pl.DataFrame:
    return samples.group_by("target", "split").agg(n=pl.len(), speakers=pl.col("speaker").n_unique()).rename({"target": "class"})


def _split_names(samples: pl.DataFrame) -> list[str]:
    present = set(samples["split"].to_list())
    return [s for s in charts.SPLIT_ORDER if s in present] + sorted(present - set(charts.SPLIT_ORDER))


def data_section(facts: ExperimentFacts, folder: Path) -> str:
    samples = facts.samples
    splits = _split_names(samples)
    parts = ["# Data\n"]
    dbs = samples.group_by("database").agg(n=pl.len(), speakers=pl.col("speaker").n_unique()).sort("database")
    parts.append(md.table(["database", "samples", "speakers"], [[md.escape(r["database"]), md.number(r["n"]), md.number(r["speakers"])]
                                                                 for r in dbs.iter_rows(named=True)], "Databases", "tbl-databases"))
    per_split = samples.group_by("split").agg(n=pl.len(), speakers=pl.col("speaker").n_unique())
    totals = {r["split"]: r for r in per_split.iter_rows(named=True)}
    header = ["", *(md.escape(s) for s in splits), "all"]
    if "target" in samples.columns and facts.task == "classification":
        counts = _class_counts(samples.with_columns(pl.col("target").cast(pl.String)))
        lookup = {(r["class"], r["split"]): r["n"] for r in counts.iter_rows(named=True)}
        classes = sorted({str(c) for c in counts["class"].to_list()})
        rows = [[md.escape(c), *(md.number(lookup.get((c, s), 0)) for s in splits),
                 md.number(sum(lookup.get((c, s), 0) for s in splits))] for c in classes]
        rows.append(["**samples**", *(md.number(totals[s]["n"]) for s in splits), md.number(samples.height)])
        rows.append(["**speakers**", *(md.number(totals[s]["speakers"]) for s in splits), md.number(samples["speaker"].n_unique())])
        parts.append(md.table(header, rows, f"Samples per {md.escape(facts.target)} class and split, and speakers per split", "tbl-classes"))
        chart = charts.export_chart(charts.class_counts_chart(counts, facts.target), folder, "classes")
        parts.append(md.figure("fig-classes", f"Samples per {md.escape(facts.target)} class, by split.", chart.svg, chart.spec, "75%"))
    elif "target" in samples.columns:
        values = samples.with_columns(pl.col("target").cast(pl.Float64, strict=False))
        stats = values.group_by("split").agg(n=pl.len(), mean=pl.col("target").mean(), sd=pl.col("target").std(),
                                             min=pl.col("target").min(), max=pl.col("target").max())
        by = {r["split"]: r for r in stats.iter_rows(named=True)}
        rows = [[md.escape(s), md.number(by[s]["n"]), md.number(totals[s]["speakers"]), *(md.number(by[s][k], 2) for k in ("mean", "sd", "min", "max"))]
                for s in splits]
        parts.append(md.table(["split", "samples", "speakers", "mean", "sd", "min", "max"], rows,
                              f"{md.escape(facts.target)} per split", "tbl-target"))
    if "gender" in samples.columns and samples["gender"].drop_nulls().len():
        genders = samples.with_columns(pl.col("gender").fill_null("unknown")).group_by("gender", "split").agg(
            n=pl.len(), speakers=pl.col("speaker").n_unique())
        cell = {(r["gender"], r["split"]): f"{r['n']} ({r['speakers']})" for r in genders.iter_rows(named=True)}
        rows = [[md.escape(g), *(cell.get((g, s), "0") for s in splits)] for g in sorted(set(genders["gender"].to_list()))]
        parts.append(md.table(["gender", *(md.escape(s) for s in splits)], rows, "Samples (speakers) per gender and split", "tbl-gender"))
    durations = samples["duration"].drop_nulls() if "duration" in samples.columns else pl.Series([], dtype=pl.Float64)
    if durations.len():
        parts.append(f"Durations range from {durations.min():.2f} s to {durations.max():.2f} s (median {durations.median():.2f} s, "
                     f"total {durations.sum() / 60:.1f} min).\n")
        if durations.n_unique() > 1:
            chart = charts.export_chart(charts.duration_chart(samples), folder, "durations")
            parts.append(md.figure("fig-durations", "Distribution of sample durations, by split.", chart.svg, chart.spec, "75%"))
    return "\n".join(parts)


def _non_default(section: Any, skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """The keys that differ from their defaults; a secret (hf_token) shows as ``***``."""
    defaults = type(section)()
    return [(f.name, MASK if f.metadata.get("secret") else getattr(section, f.name)) for f in dataclasses.fields(section)
            if f.name not in skip and getattr(section, f.name) != getattr(defaults, f.name)]


def _training_curve(facts: ExperimentFacts, folder: Path) -> str:
    from nkl.evaluate.plots import training_curve_chart

    curve = facts.epochs
    dev = curve.filter(pl.col("split") == "dev")
    best = int(dev.filter(pl.col("value") == dev["value"].max())["epoch"].min()) if dev.height else int(curve["epoch"].max())
    chart = charts.export_chart(training_curve_chart(curve.to_dicts(), best, ""), folder, "epochs")
    metric = dev["metric"][0].upper() if dev.height else "dev metric"
    return md.figure("fig-epochs", f"Fine-tuning: training loss and dev {metric} per epoch; the dashed line marks epoch {best}, "
                                   "the one kept (chosen on dev, never on test).", chart.svg, chart.spec, "70%")


def model_section(facts: ExperimentFacts, folder: Path | None = None) -> str:
    parts = ["# Features and model\n"]
    specs = _json(facts.run.get("feature_spec")) or []
    rows = [[md.escape(s.get("name")), md.escape(", ".join(f"{k} = {v}" for k, v in (s.get("params") or {}).items()) or "–"),
             md.escape(", ".join(f"{k} {v}" for k, v in (s.get("versions") or {}).items()) or "–")] for s in specs]
    if rows:
        parts.append(md.table(["extractor", "parameters", "library"], rows, "Feature extractors", "tbl-features", "lll"))
    config = facts.config
    ensemble = _json(facts.run.get("members"))
    if ensemble:
        names, weights = ensemble.get("members", []), ensemble.get("weights")
        rows = [[md.code(m), md.number(weights[i]) if weights else "–"] for i, m in enumerate(names)]
        parts.append(f"This experiment fuses the predictions of {len(rows)} experiments, aligned by sample id, with the method "
                     f"`{ensemble.get('method')}`" + (f" (weights from {ensemble.get('weights_from')})" if weights else "")
                     + f"; {ensemble.get('samples')} samples. The features above are those of the first member.\n")
        parts.append(md.table(["member", "weight"], rows, "Members of the ensemble", "tbl-members", "ll"))
        return "\n".join(parts)
    if config is None:
        return "\n".join(parts)
    if facts.epochs is not None and facts.epochs.height and folder is not None:  # a fine-tuned transformer: its training curve
        parts.append(_training_curve(facts, folder))
    columns = f"{facts.model_columns} feature columns, " if facts.model_columns else ""
    if config.model.type == "finetune":
        parts.append(f"A pretrained speech transformer is fine-tuned on the audio itself (no feature extraction). "
                     f"Epochs: {config.exp.epochs}; seed: {config.exp.seed}.\n")
    else:
        parts.append(f"The model sees {columns}scaled with `{config.feats.scale or 'none'}`. "
                     f"Runs: {config.exp.runs}; epochs: {config.exp.epochs}; seed: {config.exp.seed}.\n")
    settings = [("type", config.model.type), *_non_default(config.model, skip=("type",))]
    if isinstance(config.model, ModelSection):
        parts.append(md.table(["[MODEL] key", "value"], [[md.code(k), md.code(v)] for k, v in settings],
                              "Model settings (type and every key that differs from its default)", "tbl-model", "ll"))
    splits = [[md.escape(name), md.code(db.split_strategy)] for name, db in config.databases]
    if splits:
        parts.append(md.table(["database", "split strategy"], splits, "How each database was split", "tbl-splits", "ll"))
    return "\n".join(parts)


def _metrics_table(facts: ExperimentFacts) -> str:
    names = ("uar", "accuracy", "macro_f1") if facts.task == "classification" else ("ccc", "pcc", "mae", "mse")
    rows = []
    for name in names:
        row = facts.metric(name)
        if row is not None:
            rows.append([METRIC_NAMES[name], md.number(row["value"]), f"\\[{md.number(row['ci_low'])}, {md.number(row['ci_high'])}\\]"])
    return md.table(["metric", "value", "95 % CI"], rows,
                    f"Metrics on {facts.eval_split} ({facts.predictions.height} samples, run {facts.best_run}; bootstrap 95 % confidence intervals)",
                    "tbl-metrics", "lrl")


def results_section(facts: ExperimentFacts, folder: Path) -> str:
    from nkl.evaluate.metrics import classification_metrics
    from nkl.evaluate.plots import confusion_matrix_chart, regression_scatter_chart

    parts = ["# Results\n", f"Headline: {headline(facts)}.\n", _metrics_table(facts)]
    pred = facts.predictions
    if facts.task == "classification" and pred.height:
        scores = classification_metrics(pred["truth"].to_list(), pred["predicted"].to_list(), facts.labels)
        rows = []
        for label in facts.labels:
            c = scores["per_class"][label]
            f1 = facts.metric(f"f1_{label}")
            rows.append([md.escape(label), md.number(c["precision"]), md.number(c["recall"]),
                         md.with_ci(c["f1"], f1["ci_low"] if f1 else None, f1["ci_high"] if f1 else None), md.number(c["support"])])
        parts.append(md.table(["class", "precision", "recall", "F1 [95 % CI]", "support"], rows, "Per-class scores", "tbl-per-class"))
        chart = charts.export_chart(confusion_matrix_chart(scores["confusion"], facts.labels, ""), folder, "confusion")
        parts.append(md.figure("fig-confusion", f"Confusion matrix on {facts.eval_split}: counts and row percentages (truth on the rows).",
                               chart.svg, chart.spec, "70%"))
    elif pred.height and "truth_value" in pred.columns:
        chart = charts.export_chart(regression_scatter_chart(pred["truth_value"].to_numpy(), pred["predicted_value"].to_numpy(), ""), folder, "scatter")
        parts.append(md.figure("fig-scatter", f"Predicted against true {md.escape(facts.target)} on {facts.eval_split}.", chart.svg, chart.spec, "60%"))
    parts.append(groups_text(facts, folder))
    return "\n".join(parts)


def groups_text(facts: ExperimentFacts, folder: Path) -> str:
    """Per-group metrics (UAR by gender, ...): a table, and a chart with the CIs."""
    groups = facts.groups
    if groups is None:
        return "## Per-group metrics\n\n" + md.note("No attribute with 2 to 12 groups (gender, database, age, est_*) among the evaluated samples.")
    metric = "uar" if "uar" in groups.columns else "ccc"
    second = next(c for c in ("accuracy", "mae") if c in groups.columns)
    has_ci = "ci_low" in groups.columns
    rows = [[md.escape(r["attribute"]), md.escape(r["group"]), md.number(r["n"]),
             md.with_ci(r[metric], r["ci_low"], r["ci_high"]) if has_ci else md.number(r[metric]), md.number(r[second])]
            for r in groups.iter_rows(named=True)]
    head = f"{METRIC_NAMES[metric]} [95 % CI]" if has_ci else METRIC_NAMES[metric]
    text = "## Per-group metrics\n\n" + md.table(["attribute", "group", "n", head, METRIC_NAMES[second]], rows,
                                                f"Metrics per group on {facts.eval_split} with bootstrap 95 % CIs; {facts.group_source}", "tbl-groups", "llrrr")
    chart = charts.export_chart(charts.group_chart(groups, metric), folder, "groups")
    return text + "\n" + md.figure("fig-groups", f"{METRIC_NAMES[metric]} per group" + (" with bootstrap 95 % CIs." if has_ci else "."),
                                   chart.svg, chart.spec, "70%")


def _finding(row: dict[str, Any]) -> str:
    """One significant row of ``bias`` in words."""
    subject = f"**{md.escape(row.get('attribute'))}**" + (f" = {md.escape(row['level'])}" if row.get("level") else "")
    target = md.escape(row.get("target") or "the target")
    effect = ""
    if row.get("effect") is not None:
        name = md.escape(row.get("effect_name") or "effect size")
        effect = f"; {name} {md.number(row['effect'], 2)}" + (f" ({md.escape(row['effect_label'])})" if row.get("effect_label") else "")
    p_adj = f" (corrected {md.number(row['p_adj'], 4)})" if row.get("p_adj") is not None else ""
    verdict = f" {md.escape(row['verdict'])}." if row.get("verdict") else ""
    return (f"- {subject} and {target}: {md.escape(row.get('test') or 'test')} statistic {md.number(row.get('statistic'), 2)}, "
            f"p = {md.number(row.get('p'), 4)}{p_adj}{effect}; n = {md.number(row.get('n'))}.{verdict}")


def _significant(bias: pl.DataFrame) -> pl.DataFrame:
    column = "p_adj" if "p_adj" in bias.columns else "p"
    p = pl.when(pl.col(column).is_not_null()).then(pl.col(column)).otherwise(pl.col("p")) if column == "p_adj" else pl.col("p")
    return bias.filter(p < SIGNIFICANCE)


def explore_section(facts: ExperimentFacts, root: Path, folder: Path) -> str:
    parts = ["# Exploration and bias\n"]
    if facts.bias is None and facts.artifacts is None:
        parts.append(md.note(f"`nkl explore` has not run for {md.escape(facts.name)}: no bias tests or exploration plots in the catalog. "
                             "Add an [EXPL] section and run `nkl explore` to add them here."))
        return "\n".join(parts)
    if facts.bias is not None:
        significant = _significant(facts.bias)
        parts.append(f"{facts.bias.height} tests in the `bias` table; {significant.height} significant at α = {SIGNIFICANCE} "
                     "(Benjamini–Hochberg corrected where available).\n")
        parts += [_finding(r) for r in significant.iter_rows(named=True)]
        parts.append("")
    else:
        parts.append(md.note("No bias tests in the catalog (the `bias` table is missing)."))
    if facts.artifacts is not None:
        parts.append("## Exploration plots\n")
        for i, row in enumerate(facts.artifacts.iter_rows(named=True)):
            parts.append(_artifact_figure(row, i, root, folder))
    return "\n".join(p for p in parts if p is not None)


def _artifact_figure(row: dict[str, Any], index: int, root: Path, folder: Path) -> str:
    """A plot of ``nkl explore`` (copied into figures/ so the report folder stands alone)."""
    candidates = [row.get("svg"), row.get("path"), row.get("png")]
    source = next((root / c for c in candidates if c and (root / c).is_file() and Path(c).suffix.lower() in (".svg", ".png", ".jpg")), None)
    caption = md.escape(row.get("caption") or row.get("kind") or "Exploration plot")
    if source is None:
        return md.note(f"Plot {md.escape(row.get('path'))} is listed in `artifacts` but missing on disk.")
    target = folder / "figures" / f"explore_{index}{source.suffix.lower()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    spec = None
    if row.get("vega_lite") and (root / row["vega_lite"]).is_file():
        spec = _json((root / row["vega_lite"]).read_text(encoding="utf-8"))
    return md.figure(f"fig-explore-{index}", caption + ".", f"figures/{target.name}", spec, "75%")


def predictions_section(facts: ExperimentFacts) -> str:
    parts = ["# Predictions\n"]
    if facts.estimates is None and facts.applied is None:
        parts.append(md.note("`nkl predict` has not run on these samples: no est_* estimates in the catalog."))
        return "\n".join(parts)
    if facts.estimates is not None:
        rows = [[md.code(r["column"]), md.number(r["n"]), *(md.number(r[k], 2) for k in ("mean", "sd", "min", "median", "max"))]
                for r in facts.estimates.iter_rows(named=True)]
        parts.append(md.table(["estimate", "n", "mean", "sd", "min", "median", "max"], rows,
                              "Estimates of `nkl predict` over the experiment's samples", "tbl-estimates"))
    if facts.applied is not None:
        rows = [[md.escape(r["predicted"]), md.number(r["n"])] for r in facts.applied.iter_rows(named=True)]
        parts.append(md.table(["predicted", "files"], rows, f"New files classified by the saved model (`nkl predict --model {facts.name}`)",
                              "tbl-applied"))
    return "\n".join(parts)


def appendix_section(facts: ExperimentFacts) -> str:
    text = facts.run.get("config_text") or ""  # stored redacted; masked again for runs recorded before secrets were
    text = redact_ini_text(text, facts.config.secret_values() if facts.config is not None else ())
    return "# Appendix: the INI file\n\n" + (md.code_block(text, "ini") if text.strip() else md.note("The run stored no INI text."))


def write_sections(facts: ExperimentFacts, root: Path, folder: Path) -> dict[str, str]:
    """Every section of the experiment report: file name → Markdown."""
    return {
        "_manifest.md": manifest_section(facts),
        "_data.md": data_section(facts, folder),
        "_model.md": model_section(facts, folder),
        "_results.md": results_section(facts, folder),
        "_explore.md": explore_section(facts, root, folder),
        "_predictions.md": predictions_section(facts),
        "_appendix.md": appendix_section(facts),
    }
