"""``nkl optim`` and ``nkl flags``."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.cli.summary import summary_tables
from nkl.config import load_config
from nkl.context import RunContext


def search_command(kind: str, config_path: Path, *, workers: int | None, verbose: bool, quiet: bool, top: int = 10) -> None:
    from nkl.search.run import run_flags, run_optim

    log = setup_logging(verbose, quiet)
    config = load_config(config_path)
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    table, result = (run_optim if kind == "optim" else run_flags)(ctx, config, workers=workers)
    ranked = table.filter(table["rank"].is_not_null())
    shown = Table(title=f"{config.exp.name}: {ranked.height} combination(s) scored on {table['scored_on'][0]} "
                        f"({table['metric'][0].upper()}, mean ± sd); the test set was not used")
    for column in ("rank", *(["features"] if kind == "flags" else []), "params", "score"):
        shown.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for row in ranked.head(top).iter_rows(named=True):
        shown.add_row(str(row["rank"]), *([row["features"]] if kind == "flags" else []), row["params"], f"{row['score']:.3f} ± {row['std']:.3f}")
    out_console.print(shown)
    for t in summary_tables(result, ctx.workspace):
        out_console.print(t)
    err_console.print(f"the best combination ran once as experiment '{config.exp.name}' (its test results above); all combinations: "
                      f"nkl query -w {ctx.workspace.root} \"select * from search_results where experiment = '{config.exp.name}'\"",
                      highlight=False)
