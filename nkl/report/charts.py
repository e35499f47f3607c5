"""The report's charts: Altair specs built from catalog summaries, exported as SVG (PDF) and Vega-Lite JSON (HTML).

The HTML page draws the Vega-Lite spec itself (interactive, tooltips); the PDF includes the SVG
that vl-convert renders from the same spec, so both show the same chart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

from nkl.catalog.store import write_bytes, write_text

SPLIT_ORDER = ["train", "dev", "test"]


@dataclass(frozen=True)
class ChartFiles:
    """A chart exported for the report: its SVG (relative to the report folder) and its Vega-Lite spec."""

    svg: str
    spec: dict[str, Any]


def export_chart(chart: alt.TopLevelMixin, folder: Path, stem: str) -> ChartFiles:
    """Write ``figures/<stem>.svg`` and ``figures/<stem>.vl.json`` under ``folder`` (atomically)."""
    import vl_convert

    spec = chart.to_dict(validate=False)  # built by this module's code; schema validation costs ~0.2 s per chart
    figures = folder / "figures"
    write_bytes(vl_convert.vegalite_to_svg(spec).encode("utf-8"), figures / f"{stem}.svg")
    write_text(json.dumps(spec, indent=1), figures / f"{stem}.vl.json")
    return ChartFiles(svg=f"figures/{stem}.svg", spec=spec)


def _values(frame: pl.DataFrame) -> alt.Data:
    return alt.Data(values=frame.to_dicts())


def class_counts_chart(counts: pl.DataFrame, target: str) -> alt.Chart:
    """Samples per class, stacked by split (``counts``: class, split, n)."""
    splits = [s for s in SPLIT_ORDER if s in counts["split"].to_list()] + sorted(set(counts["split"].to_list()) - set(SPLIT_ORDER))
    return alt.Chart(_values(counts)).mark_bar().encode(
        x=alt.X("n:Q", title="samples"),
        y=alt.Y("class:N", title=target or "class", sort=sorted(set(counts["class"].to_list()))),
        color=alt.Color("split:N", sort=splits, scale=alt.Scale(scheme="tableau10")),
        order=alt.Order("split_order:Q"),
        tooltip=["class:N", "split:N", "n:Q"],
    ).transform_calculate(split_order=f"indexof({json.dumps(splits)}, datum.split)").properties(width=420, height=22 * counts["class"].n_unique())


def duration_chart(samples: pl.DataFrame) -> alt.Chart:
    """Histogram of sample durations (seconds), stacked by split."""
    data = samples.select("duration", "split").drop_nulls()
    return alt.Chart(_values(data)).mark_bar().encode(
        x=alt.X("duration:Q", bin=alt.Bin(maxbins=30), title="duration (s)"),
        y=alt.Y("count():Q", title="samples"),
        color=alt.Color("split:N", scale=alt.Scale(scheme="tableau10")),
        tooltip=[alt.Tooltip("count():Q", title="samples"), "split:N"],
    ).properties(width=420, height=160)


def group_chart(groups: pl.DataFrame, metric: str) -> alt.LayerChart | alt.Chart:
    """Metric per group (rows: attribute, group, n, metric[, ci_low, ci_high]), one row of panels per attribute."""
    data = groups.with_columns(label=pl.concat_str(pl.col("attribute"), pl.lit(": "), pl.col("group").cast(pl.String)))
    base = alt.Chart(_values(data)).encode(y=alt.Y("label:N", title=None, sort=data["label"].to_list()))
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X(f"{metric}:Q", title=metric.upper(), scale=alt.Scale(zero=False)),
        color=alt.Color("attribute:N", legend=None, scale=alt.Scale(scheme="tableau10")),
        tooltip=["attribute:N", "group:N", "n:Q", alt.Tooltip(f"{metric}:Q", format=".3f")],
    )
    if "ci_low" not in data.columns:
        return points.properties(width=420, height=22 * data.height)
    rules = base.mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", color=alt.Color("attribute:N", legend=None))
    return alt.layer(rules, points).properties(width=420, height=22 * data.height)


def comparison_chart(rows: pl.DataFrame, metric: str) -> alt.LayerChart:
    """Every experiment's headline metric with its 95 % CI, best first (rows: experiment, metric, metric_low, metric_high)."""
    order = rows["experiment"].to_list()
    base = alt.Chart(_values(rows.select("experiment", "model", metric, f"{metric}_low", f"{metric}_high"))).encode(
        y=alt.Y("experiment:N", sort=order, title=None))
    rules = base.mark_rule(strokeWidth=2).encode(x=alt.X(f"{metric}_low:Q", title=f"{metric.upper()} (95 % CI)", scale=alt.Scale(zero=False)),
                                                 x2=f"{metric}_high:Q")
    points = base.mark_point(filled=True, size=80, color="black").encode(
        x=f"{metric}:Q", tooltip=["experiment:N", "model:N", alt.Tooltip(f"{metric}:Q", format=".3f"),
                                 alt.Tooltip(f"{metric}_low:Q", format=".3f"), alt.Tooltip(f"{metric}_high:Q", format=".3f")])
    return alt.layer(rules, points).properties(width=420, height=26 * len(order))
