"""``nkl multidb``: the cross-database matrix."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext


def multidb_command(config_path: Path, *, workers: int | None, verbose: bool, quiet: bool) -> None:
    from nkl.multidb.run import heatmap, run_multidb

    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose="multidb")
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    table = run_multidb(ctx, config, workers=workers)
    names = list(dict.fromkeys(table["train"].to_list()))
    metric = table["metric"][0].upper()
    matrix = Table(title=f"{config.exp.name}: {metric} [95 % CI], rows = training database, columns = test database")
    matrix.add_column("train \\ test")
    for name in names:
        matrix.add_column(name, justify="right")
    by_cell = {(r["train"], r["test"]): r for r in table.iter_rows(named=True)}
    for i in names:
        matrix.add_row(i, *[f"{by_cell[i, j]['value']:.3f} [{by_cell[i, j]['ci_low']:.3f}, {by_cell[i, j]['ci_high']:.3f}]" for j in names])
    out_console.print(matrix)
    plots = heatmap(table, ctx.workspace.experiment_dir(config.exp.name) / "plots", config.exp.name, config.plot.titles)
    cached = int(table["cached"].sum())
    err_console.print(f"{table.height} cells ({cached} unchanged, results from the catalog); heatmap: {plots[0]}\n"
                      f"query it: nkl query -w {ctx.workspace.root} \"select * from crossdb where experiment = '{config.exp.name}'\"",
                      highlight=False)
