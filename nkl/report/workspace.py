"""The sections of a workspace report: every experiment's headline metrics with CIs, best first."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.report import charts
from nkl.report import markdown as md
from nkl.report.gather import WorkspaceFacts

TASKS = {
    "classification": ("uar", ["uar", "accuracy", "macro_f1"], ["UAR", "accuracy", "macro F1"]),
    "regression": ("ccc", ["ccc", "mae"], ["CCC", "MAE"]),
}


def _ranked(rows: pl.DataFrame, task: str) -> pl.DataFrame:
    main = TASKS[task][0]
    return rows.filter(pl.col("task") == task).sort(main, descending=True, nulls_last=True)


def _overlap_sentence(ranked: pl.DataFrame, metric: str) -> str:
    best = ranked.row(0, named=True)
    low = best[f"{metric}_low"]
    if low is None:
        return ""
    close = [r["experiment"] for r in ranked.iter_rows(named=True)
             if r["experiment"] != best["experiment"] and r[f"{metric}_high"] is not None and r[f"{metric}_high"] >= low]
    text = f"Best: **{md.escape(best['experiment'])}** ({metric.upper()} {md.with_ci(best[metric], low, best[f'{metric}_high'])}). "
    if close:
        text += f"Its 95 % CI overlaps those of {', '.join(md.escape(c) for c in close)}: the data do not separate these clearly."
    elif ranked.height > 1:
        text += "Its 95 % CI overlaps no other experiment's."
    return text + "\n"


def comparison_section(facts: WorkspaceFacts, folder: Path) -> str:
    parts = ["# Experiments compared\n",
             "Every finished experiment of the workspace, on its evaluation split (test, or pooled leave-speakers-out folds), "
             "with bootstrap 95 % confidence intervals.\n"]
    for task, (main, metrics, names) in TASKS.items():
        ranked = _ranked(facts.rows, task)
        if ranked.height == 0:
            continue
        rows = [[md.escape(r["experiment"]), md.escape(r["model"]), md.escape(r["split"]), md.number(r["n"]),
                 *(md.with_ci(r[m], r[f"{m}_low"], r[f"{m}_high"]) for m in metrics)] for r in ranked.iter_rows(named=True)]
        parts.append(f"## {task.capitalize()}\n")
        parts.append(md.table(["experiment", "model", "split", "n", *names], rows,
                              f"{task.capitalize()} experiments, sorted by {main.upper()}", f"tbl-{task}", "lllr" + "r" * len(metrics)))
        parts.append(_overlap_sentence(ranked, main))
        chart = charts.export_chart(charts.comparison_chart(ranked, main), folder, f"compare_{task}")
        parts.append(md.figure(f"fig-{task}", f"{main.upper()} of every {task} experiment with its 95 % CI, best first.", chart.svg, chart.spec, "75%"))
    return "\n".join(parts)


def experiments_section(facts: WorkspaceFacts) -> str:
    rows = []
    for r in facts.rows.sort("experiment").iter_rows(named=True):
        start = r["start"].strftime("%Y-%m-%d %H:%M") if hasattr(r["start"], "strftime") else str(r["start"])
        rows.append([md.escape(r["experiment"]), md.escape(r["features"]), md.escape(start), md.code(r["config_hash"]), md.code(r["split_hash"])])
    return (f"# Manifests\n\nWorkspace: {md.code(facts.root)}. The latest finished run of each experiment; "
            "`nkl report CONFIG.ini` renders one experiment in full.\n\n"
            + md.table(["experiment", "features", "run started (UTC)", "config hash", "split hash"], rows, "Run manifests", "tbl-manifests", "lllll"))


def write_sections(facts: WorkspaceFacts, folder: Path) -> dict[str, str]:
    """Every section of the workspace report: file name → Markdown."""
    return {"_comparison.md": comparison_section(facts, folder), "_experiments.md": experiments_section(facts)}
