"""Result plots drawn by the plot process (a run whose features were cached) are the same files as those drawn here,
and a plot process that dies leaves the plots to this process instead of losing them."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import polars as pl

from nkl.evaluate.plot_process import PlotProcess
from nkl.evaluate.results import result_plots

LABELS = ["anger", "neutral", "sadness"]
PREDICTIONS = pl.DataFrame({"run": [0] * 6, "split": ["test"] * 6, "sample": [f"s{i}" for i in range(6)],
                            "truth": ["anger", "anger", "neutral", "neutral", "sadness", "sadness"],
                            "predicted": ["anger", "neutral", "neutral", "neutral", "sadness", "anger"]})
RESULTS = pl.DataFrame({"run": [0], "split": ["test"], "metric": ["uar"], "value": [0.667], "ci_low": [0.3], "ci_high": [1.0]})


def draw(folder: Path, plotter: PlotProcess | None) -> dict[str, bytes]:
    """The files drawn: PNG bytes; SVGs by their size (the renderer numbers gradient ids per process)."""
    args = (folder, "exp", "classification", "test", PREDICTIONS, RESULTS, LABELS, 0)
    paths = plotter.result_plots(*args) if plotter is not None else result_plots(*args)
    return {p.name: p.read_bytes() if p.suffix == ".png" else len(p.read_bytes()) for p in paths}


def test_the_plot_process_draws_the_same_files(tmp_path: Path) -> None:
    here = draw(tmp_path / "here", None)
    there = draw(tmp_path / "there", PlotProcess())
    assert set(here) == {"exp_confusion.png", "exp_confusion.svg"} and there == here


def test_a_dead_plot_process_leaves_the_plots_to_this_one(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="nkl")
    plotter = PlotProcess()
    plotter._started.result(timeout=120)  # the process is up (warmed) ...
    for pid in list(plotter._pool._processes):  # ... and then killed
        os.kill(pid, signal.SIGKILL)
    assert draw(tmp_path / "after", plotter) == draw(tmp_path / "here", None)
    assert "drawing them here" in caplog.text
