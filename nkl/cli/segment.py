"""``nkl segment``: cut a config's databases into speech segments (silero or pyannote)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext
from nkl.predict.inputs import config_samples
from nkl.segment.run import duration_plot, segment


def segment_command(config_path: Path, *, verbose: bool, quiet: bool) -> None:
    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose="data")
    for warning in config.warnings:
        log.warning(warning)
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    samples = config_samples(ctx, config, config.segment.sample_selection)
    segments, gaps, csv = segment(ctx, config, samples)
    plots = duration_plot(ctx.workspace.experiment_dir(config.exp.name) / "plots", config.exp.name, samples, segments)
    table = Table(title=f"{config.exp.name}: segmentation ({config.segment.method})")
    for col in ("", "n", "total s", "mean s"):
        table.add_column(col, justify="left" if not col else "right")
    for label, frame in (("samples", samples), ("segments", segments), ("silences", gaps)):
        n = frame.height
        total = float(frame["duration"].sum()) if n else 0.0
        table.add_row(label, str(n), f"{total:.1f}", f"{total / n:.2f}" if n else "-")
    out_console.print(table)
    err_console.print(f"segments: table segments and {csv} (use it as a [DATA] database); plot: {plots[0]}", highlight=False)
