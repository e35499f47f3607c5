"""Result plots render to non-empty PNG and SVG files, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nkl.errors import DataError
from nkl.evaluate import confusion_matrix_chart, regression_scatter_chart, save_chart


def test_confusion_chart_holds_counts_and_row_percents() -> None:
    chart = confusion_matrix_chart([[8, 2], [1, 9]], ["anger", "neutral"], "emodb: UAR 0.85")
    cells = {(v["truth"], v["predicted"]): v for v in chart.to_dict()["data"]["values"]}
    assert cells[("anger", "neutral")]["count"] == 2
    assert cells[("anger", "neutral")]["percent_text"] == "20.0%"
    assert cells[("neutral", "neutral")]["row_percent"] == pytest.approx(90.0)


def test_confusion_chart_rejects_a_shape_that_does_not_match_the_labels() -> None:
    with pytest.raises(DataError, match="does not match 3 labels"):
        confusion_matrix_chart([[1, 2], [3, 4]], ["a", "b", "c"], "")


@pytest.mark.parametrize("kind", ["confusion", "scatter"])
def test_save_chart_writes_png_and_svg(kind: str, tmp_path: Path) -> None:
    if kind == "confusion":
        chart = confusion_matrix_chart([[5, 1, 0], [2, 6, 1], [0, 0, 0]], ["a", "b", "c"], "test")
    else:
        rng = np.random.default_rng(0)
        truth = rng.normal(size=50)
        chart = regression_scatter_chart(truth, truth + rng.normal(scale=0.3, size=50), "test")

    paths = save_chart(chart, tmp_path / "plots" / f"run_{kind}")

    assert [p.name for p in paths] == [f"run_{kind}.png", f"run_{kind}.svg"]
    png, svg = paths
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 1000
    assert "<svg" in svg.read_text()[:500]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [png.name, svg.name]  # no temp files left


def test_scatter_of_constant_values_still_renders(tmp_path: Path) -> None:
    paths = save_chart(regression_scatter_chart([1.0, 1.0], [1.0, 1.0], "flat"), tmp_path / "flat")
    assert all(p.stat().st_size > 0 for p in paths)
