"""``nkl report``: render an experiment's report, or one comparing a workspace's experiments, from the catalog."""

from __future__ import annotations

import logging
from pathlib import Path

from nkl.catalog.workspace import Workspace
from nkl.cli.console import err_console, setup_logging
from nkl.config import load_config
from nkl.report import ReportOptions, ReportResult, experiment_report, workspace_report


def print_report(result: ReportResult) -> None:
    """Where the report went, which engine rendered it, and how long it took."""
    for path in result.files:
        err_console.print(f"report: {path}", highlight=False, soft_wrap=True)
    engine = "quarto" if result.engine == "quarto" else "pandoc + typst"
    err_console.print(f"({engine}, {result.seconds:.1f} s; template and sections in {result.sources})", highlight=False, soft_wrap=True)


def report_at_end_of_run(config_path: Path, workspace: Workspace, experiment: str, options: ReportOptions, log: logging.Logger) -> None:
    """The hook of ``nkl run`` for a config with [REPORT]; a failure says the results are safe."""
    from nkl.errors import NklError

    try:
        result = experiment_report(workspace, experiment, options, log)
    except NklError:
        err_console.print(f"the experiment's results are stored; after fixing the report, `nkl report {config_path}` renders it again",
                          highlight=False)
        raise
    print_report(result)


def report_command(config_path: Path | None, *, workspace: Path | None, experiment: str | None, fmt: str | None, name: str | None,
                   out: Path | None, template: Path | None, engine: str | None, title: str | None, author: str | None,
                   verbose: bool, quiet: bool, default_workspace: Path) -> None:
    log = setup_logging(verbose, quiet)
    overrides = {"format": fmt, "name": name, "out_dir": out, "template": str(template) if template else None, "engine": engine,
                 "title": title, "author": author}
    if config_path is not None:
        config = load_config(config_path)
        ws = Workspace(workspace or config.exp.root)
        options = ReportOptions.from_section(config.report, **overrides)
        print_report(experiment_report(ws, experiment or config.exp.name, options, log))
        return
    ws = Workspace(workspace or default_workspace)
    options = ReportOptions.from_section(None, **overrides)
    if experiment:
        print_report(experiment_report(ws, experiment, options, log))
    else:
        print_report(workspace_report(ws, options, log))
