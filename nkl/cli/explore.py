"""``nkl explore``: the [EXPL] analyses of a config; tables bias/importance/scatter/artifacts, plots, and a summary."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext
from nkl.explore import explore
from nkl.explore.summary import findings, p_text


def _stats_table(result) -> Table:
    table = Table(title=f"{result.experiment}: every test (Benjamini–Hochberg p_adj)")
    for col in ("attribute", "level", "test", "groups", "p", "p_adj", "effect", "n"):
        table.add_column(col, justify="left" if col in ("attribute", "level", "test", "groups") else "right")
    for r in result.bias.sort("source", "attribute", "level").iter_rows(named=True):
        effect = f"{r['effect_name']} {r['effect']:.2f} {r['effect_label']}" if r["effect"] is not None else ""
        table.add_row(r["attribute"], r["level"], r["test"], r["groups"] or "", p_text(r["p"]), p_text(r["p_adj"]), effect, str(r["n"]))
    return table


def explore_command(config_path: Path, *, verbose: bool, quiet: bool) -> None:
    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose="data")
    for warning in config.warnings:
        log.warning(warning)
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    result = explore(ctx, config)
    for note in result.notes:
        log.warning(note)
    significant, others = findings(result.bias, config.expl.alpha)
    out_console.print(f"[bold]{result.experiment}[/]: {result.n_samples} samples, {result.n_speakers} speakers, target {result.target} ({result.task})",
                      highlight=False)
    if config.expl.print_stats and result.bias.height:
        out_console.print(_stats_table(result))
    for line in significant:
        out_console.print(f"[red]•[/] {line}", highlight=False)
    for line in others:
        out_console.print(f"  {line}", highlight=False)
    if not significant and not others:
        out_console.print("no tests were run (set [EXPL] value_counts or feature_distributions)")
    root = ctx.workspace.root
    err_console.print(f"{len(result.artifacts)} plots in {root / 'experiments' / result.experiment / 'explore'}; tables bias, artifacts"
                      f"{', importance' if result.importance is not None else ''}; e.g. nkl query -w {root} "
                      "\"select attribute, level, test, p_adj, effect_label from bias order by p_adj limit 10\"", highlight=False)
