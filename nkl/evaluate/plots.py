"""Result plots as Altair charts, saved as PNG and SVG through vl-convert.

Charts are built from small inline data (``alt.Data(values=[...])``), so plotting needs neither
pandas nor a data server, and the row limit for data frames does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np

from nkl.catalog.store import write_bytes
from nkl.errors import DataError

PNG_SCALE = 2.0
CELL_PIXELS = 48


def confusion_matrix_chart(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> alt.LayerChart:
    """Heatmap of a confusion matrix: truth on y, prediction on x, counts and row percents.

    Args:
        confusion: ``K x K`` counts, rows truth, columns prediction, in ``labels`` order.
        labels: Class names.
        title: Chart title.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    if counts.shape != (len(labels), len(labels)):
        raise DataError(f"Confusion matrix of shape {counts.shape} does not match {len(labels)} labels")
    row_totals = counts.sum(axis=1)
    cells = [
        {
            "truth": str(truth),
            "predicted": str(predicted),
            "count": int(counts[i, j]),
            "row_percent": 100.0 * counts[i, j] / row_totals[i] if row_totals[i] else 0.0,
        }
        for i, truth in enumerate(labels)
        for j, predicted in enumerate(labels)
    ]
    for cell in cells:
        cell["percent_text"] = f"{cell['row_percent']:.1f}%"
    order = [str(label) for label in labels]
    longest = max(len(label) for label in order)
    size = CELL_PIXELS * max(len(labels), 3)
    base = alt.Chart(alt.Data(values=cells)).encode(
        x=alt.X("predicted:N", sort=order, title="Predicted", axis=alt.Axis(labelAngle=-45 if longest > 5 else 0)),
        y=alt.Y("truth:N", sort=order, title="Truth"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "row_percent:Q",
            scale=alt.Scale(scheme="blues", domain=[0, 100]),
            title="Row %",
        ),
        tooltip=["truth:N", "predicted:N", "count:Q", "percent_text:N"],
    )
    text_color = alt.when(alt.datum.row_percent > 50).then(alt.value("white")).otherwise(alt.value("black"))
    count_text = base.mark_text(dy=-7, fontSize=12).encode(text="count:Q", color=text_color)
    percent_text = base.mark_text(dy=8, fontSize=9).encode(text="percent_text:N", color=text_color)
    return alt.layer(heat, count_text, percent_text).properties(title=title, width=size, height=size)


def regression_scatter_chart(y_true: Any, y_pred: Any, title: str) -> alt.LayerChart:
    """Scatter of predicted against true values, with the identity line ``y = x``."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    if truth.shape != predicted.shape or truth.ndim != 1 or truth.size == 0:
        raise DataError(f"y_true and y_pred must be 1-D, non-empty and of equal length; got {truth.shape} and {predicted.shape}")
    points = [{"truth": float(t), "predicted": float(p)} for t, p in zip(truth, predicted, strict=True)]
    low = float(min(truth.min(), predicted.min()))
    high = float(max(truth.max(), predicted.max()))
    domain = [low, high] if high > low else [low - 1.0, high + 1.0]
    scale = alt.Scale(domain=domain)
    scatter = (
        alt.Chart(alt.Data(values=points))
        .mark_circle(size=30, opacity=0.6)
        .encode(
            x=alt.X("truth:Q", scale=scale, title="Truth"),
            y=alt.Y("predicted:Q", scale=scale, title="Predicted"),
        )
    )
    identity = alt.Chart(alt.Data(values=[{"v": domain[0]}, {"v": domain[1]}])).mark_line(color="gray", strokeDash=[4, 4]).encode(x="v:Q", y="v:Q")
    return alt.layer(scatter, identity).properties(title=title, width=360, height=360)


def roc_chart(fpr: Any, tpr: Any, positive: str, title: str) -> alt.LayerChart:
    """ROC curve of a binary task (``positive`` = the class whose probability ranks), with the chance diagonal and the
    line where false acceptances equal false rejections (its crossing is the EER)."""
    points = [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr, strict=True)]
    curve = alt.Chart(alt.Data(values=points)).mark_line(point=False).encode(
        x=alt.X("fpr:Q", title=f"False positive rate ({positive})", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title=f"True positive rate ({positive})", scale=alt.Scale(domain=[0, 1])))
    chance = alt.Chart(alt.Data(values=[{"v": 0.0}, {"v": 1.0}])).mark_line(color="gray", strokeDash=[4, 4]).encode(x="v:Q", y="v:Q")
    equal = alt.Chart(alt.Data(values=[{"x": 0.0, "y": 1.0}, {"x": 1.0, "y": 0.0}])).mark_line(color="firebrick", strokeDash=[2, 2]).encode(
        x="x:Q", y="y:Q")
    return alt.layer(curve, chance, equal).properties(title=title, width=360, height=360)


def training_curve_chart(rows: Sequence[dict], best_epoch: int, title: str) -> alt.LayerChart:
    """Per-epoch values (``epoch``, ``split``, ``metric``, ``value``: train loss, dev UAR/CCC) with the chosen epoch dashed."""
    points = [{"epoch": r["epoch"], "value": r["value"], "series": f"{r['split']} {r['metric']}"} for r in rows]
    line = alt.Chart(alt.Data(values=points)).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1)), y=alt.Y("value:Q", title=None),
        color=alt.Color("series:N", title=None))
    rule = alt.Chart(alt.Data(values=[{"epoch": best_epoch}])).mark_rule(color="gray", strokeDash=[4, 4]).encode(x="epoch:Q")
    return alt.layer(line, rule).properties(title=title, width=420, height=260)


def save_chart(chart: alt.TopLevelMixin, stem: Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` atomically; return both paths.

    Each file is rendered into a temporary name in the same folder, then moved into place,
    so a reader never sees a half-written image.
    """
    import vl_convert

    stem = Path(stem)
    spec = chart.to_dict()
    png = vl_convert.vegalite_to_png(spec, scale=PNG_SCALE)
    svg = vl_convert.vegalite_to_svg(spec).encode("utf-8")
    written = []
    for suffix, payload in ((".png", png), (".svg", svg)):
        target = stem.with_name(stem.name + suffix)
        write_bytes(payload, target)
        written.append(target)
    return written

