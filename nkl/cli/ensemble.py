"""``nkl ensemble``: fuse finished experiments (named by INI files, names or patterns) into a new experiment."""

from __future__ import annotations

from pathlib import Path

from nkl.catalog.store import write_text
from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.cli.summary import summary_tables
from nkl.context import RunContext
from nkl.errors import ConfigError


def _members_of(inis: list[Path]) -> tuple[list[str], Path | None]:
    """Experiment names and the shared workspace of INI files (a name that is no file is an experiment name)."""
    from nkl.config import load_config

    names, roots = [], set()
    for item in inis:
        if item.suffix.lower() == ".ini" or item.is_file():
            config = load_config(item, purpose="data")
            names.append(config.exp.name)
            roots.add(Path(config.exp.root).expanduser().resolve())
        else:
            names.append(str(item))
    if len(roots) > 1:
        raise ConfigError(f"the INI files use different workspaces ([EXP] root: {', '.join(map(str, sorted(roots)))}); "
                          "ensemble members must share one (or pass --workspace)")
    return names, (roots.pop() if roots else None)


def ensemble_command(members: list[Path], *, workspace: Path | None, patterns: list[str], method: str, weights: str,
                     threshold: float, name: str | None, intersect: bool, outfile: Path | None, verbose: bool, quiet: bool) -> None:
    from nkl.ensemble.members import resolve_names
    from nkl.ensemble.run import EnsembleSpec, run_ensemble

    log = setup_logging(verbose, quiet)
    names, root = _members_of(members)
    import os

    root = workspace or root or Path(os.environ.get("NKL_WORKSPACE", "results"))
    ws = Workspace(root)
    if not ws.tables_dir.is_dir():
        raise ConfigError(f"{ws.root} is not an nkl workspace (no tables/ folder); run the member experiments first or pass --workspace")
    names = resolve_names(ws, names, patterns)
    spec = EnsembleSpec(name=name or f"ensemble_{method}", members=tuple(names), method=method, weights=weights,
                        threshold=threshold, intersect=intersect)
    ctx = RunContext(ws, log, RichProgress(enabled=not quiet))
    result = run_ensemble(ctx, spec)
    for table in summary_tables(result, ws):
        out_console.print(table)
    if outfile is not None:
        rows = ws.read_part("predictions", spec.name)
        write_text(rows.write_csv() if rows is not None else "", outfile)
        err_console.print(f"fused predictions written to {outfile}")
    err_console.print(f"ensemble '{spec.name}' of {', '.join(names)} ({method}); experiment folder: {ws.experiment_dir(spec.name)}\n"
                      f"query it: nkl query -w {ws.root} \"select * from ensemble_results where experiment = '{spec.name}'\"",
                      highlight=False)
