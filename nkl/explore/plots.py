"""Explore plots with Altair: data aggregated in Polars first, saved as PNG + SVG + Vega-Lite JSON, listed as artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl

from nkl.catalog.schemas import ARTIFACTS, check_schema
from nkl.catalog.store import write_text
from nkl.catalog.workspace import Workspace
from nkl.evaluate.plots import save_chart

WIDTH, HEIGHT = 420, 260


@dataclass
class Artifacts:
    """Plots written so far, and where: becomes the ``artifacts`` table (paths relative to the workspace root)."""

    workspace: Workspace
    experiment: str
    folder: Path
    image_format: str = "png"
    titles: bool = True
    rows: list[dict] = field(default_factory=list)

    def save(self, chart: alt.TopLevelMixin, stem: str, kind: str, caption: str) -> Path:
        """Write ``<stem>.png``, ``.svg`` and ``.vl.json``; record the plot; return the preferred image's path."""
        if self.titles:
            chart = chart.properties(title=caption)
        png, svg = save_chart(chart, self.folder / stem)
        spec = write_text(chart.to_json(), self.folder / f"{stem}.vl.json")
        rel = {p.suffix: str(p.relative_to(self.workspace.root)) for p in (png, svg)}
        preferred = rel[".svg"] if self.image_format == "svg" else rel[".png"]
        self.rows.append({"experiment": self.experiment, "kind": kind, "path": preferred, "caption": caption, "source": "explore",
                          "vega_lite": str(spec.relative_to(self.workspace.root)), "png": rel[".png"], "svg": rel[".svg"]})
        return self.workspace.root / preferred

    def write(self) -> None:
        """Replace this experiment's explore rows of ``artifacts``."""
        frame = pl.DataFrame(self.rows, schema=ARTIFACTS) if self.rows else pl.DataFrame(schema=ARTIFACTS)
        self.workspace.write_part("artifacts", f"explore-{self.experiment}", check_schema(frame, ARTIFACTS, "artifacts"))


def _data(frame: pl.DataFrame) -> alt.Data:
    return alt.Data(values=frame.to_dicts())


def count_bars(counts: pl.DataFrame, x: str, color: str | None = None) -> alt.Chart:
    """Bars of ``n`` per ``x`` (stacked by ``color`` when given); ``counts`` is already aggregated."""
    enc = {"x": alt.X(f"{x}:N", title=x), "y": alt.Y("n:Q", title="count"), "tooltip": [f"{x}:N", "n:Q"]}
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
        enc["tooltip"] = [f"{x}:N", f"{color}:N", "n:Q"]
    return alt.Chart(_data(counts)).mark_bar().encode(**enc).properties(width=WIDTH, height=HEIGHT)


def distributions(labels: list[str], values: np.ndarray, group_title: str, value_title: str, dist_type: str = "hist") -> alt.Chart:
    """Distribution of a numeric column per group: histogram counts or a Gaussian KDE, computed before charting."""
    from scipy.stats import gaussian_kde

    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    high = high if high > low else low + 1.0
    rows = []
    labels_arr = np.asarray(labels)
    for group in sorted(set(labels)):
        v = values[labels_arr == group]
        v = v[np.isfinite(v)]
        if dist_type == "kde" and v.size > 2 and np.ptp(v) > 0:
            grid = np.linspace(low, high, 80)
            rows += [{"group": group, "value": float(g), "density": float(d)} for g, d in zip(grid, gaussian_kde(v)(grid), strict=True)]
        else:
            counts, edges = np.histogram(v, bins=20, range=(low, high))
            rows += [{"group": group, "value": float((a + b) / 2), "density": int(c)} for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]
    mark = alt.Chart(alt.Data(values=rows))
    mark = mark.mark_line() if dist_type == "kde" else mark.mark_bar(opacity=0.5, binSpacing=0)
    return mark.encode(
        x=alt.X("value:Q", title=value_title),
        y=alt.Y("density:Q", title="density" if dist_type == "kde" else "count", stack=None),
        color=alt.Color("group:N", title=group_title),
    ).properties(width=WIDTH, height=HEIGHT)


def correlation_scatter(x: np.ndarray, y: np.ndarray, x_title: str, y_title: str) -> alt.Chart:
    """Points of two numeric columns."""
    rows = [{"x": float(a), "y": float(b)} for a, b in zip(x, y, strict=True)]
    return alt.Chart(alt.Data(values=rows)).mark_circle(size=25, opacity=0.6).encode(
        x=alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False)), y=alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False)),
    ).properties(width=WIDTH, height=HEIGHT)


def importance_bars(frame: pl.DataFrame, title: str) -> alt.Chart:
    """Horizontal bars of the top features' importance (``feature``, ``importance``)."""
    return alt.Chart(_data(frame.select("feature", "importance"))).mark_bar().encode(
        x=alt.X("importance:Q", title=title), y=alt.Y("feature:N", sort="-x", title=None), tooltip=["feature:N", "importance:Q"],
    ).properties(width=WIDTH, height=max(120, 18 * frame.height))


def box_summary(frame: pl.DataFrame, value: str, by: list[str]) -> pl.DataFrame:
    """Quartiles and 1.5-IQR whiskers of ``value`` per group: what a box plot draws, computed in Polars."""
    q = frame.group_by(by).agg(
        q1=pl.col(value).quantile(0.25), median=pl.col(value).median(), q3=pl.col(value).quantile(0.75),
        low=pl.col(value).min(), high=pl.col(value).max(), n=pl.len(),
    )
    iqr = pl.col("q3") - pl.col("q1")
    return q.with_columns(low=pl.max_horizontal("low", pl.col("q1") - 1.5 * iqr),
                          high=pl.min_horizontal("high", pl.col("q3") + 1.5 * iqr)).sort(by)


def feature_boxes(summary: pl.DataFrame, feature: str, by: str, split: str | None) -> alt.LayerChart:
    """Box plot of one feature per class (side by side per gender when ``split`` is given) from ``box_summary``."""
    base = alt.Chart(_data(summary)).encode(x=alt.X(f"{by}:N", title=by))
    if split:
        base = base.encode(xOffset=alt.XOffset(f"{split}:N"), color=alt.Color(f"{split}:N", title=split))
    whisker = base.mark_rule().encode(y=alt.Y("low:Q", title=feature, scale=alt.Scale(zero=False)), y2="high:Q")
    box = base.mark_bar(size=14 if split else 24).encode(y="q1:Q", y2="q3:Q", tooltip=[f"{by}:N", "n:Q", "median:Q"])
    median = base.mark_tick(color="black", size=14 if split else 24).encode(y="median:Q")
    return alt.layer(whisker, box, median).properties(width=WIDTH, height=HEIGHT)


def scatter_points(frame: pl.DataFrame, color: str, method: str) -> alt.Chart:
    """2-D projection coloured by a column (``x``, ``y``, ``color`` columns)."""
    return alt.Chart(_data(frame.select("x", "y", pl.col(color).cast(pl.String)))).mark_circle(size=22, opacity=0.7).encode(
        x=alt.X("x:Q", title=f"{method} 1"), y=alt.Y("y:Q", title=f"{method} 2"), color=alt.Color(f"{color}:N", title=color),
    ).properties(width=WIDTH, height=WIDTH)
