"""``nkl run`` and ``nkl explain``."""

from __future__ import annotations

from pathlib import Path

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.cli.summary import summary_tables
from nkl.config import load_config
from nkl.context import RunContext
from nkl.plan import Plan, execute, explain_text


def _plan(config, aug_train: bool) -> Plan:
    """The experiment's plan; for ``nkl aug_train`` with the augment stage after the split."""
    if not aug_train:
        return Plan(config)
    from nkl.cli.audio_files import augment_settings

    return Plan(config, augment=augment_settings(config))


def run_command(config_path: Path, *, workers: int | None, verbose: bool, quiet: bool, aug_train: bool = False) -> None:
    log = setup_logging(verbose, quiet)
    config = load_config(config_path)
    if config.exp.no_warnings and not verbose:
        for handler in log.handlers:
            handler.setLevel(max(handler.level, 40))
    plan = _plan(config, aug_train)
    if config.report is not None:
        from nkl.report import ReportOptions

        ReportOptions.from_section(config.report).check()  # a missing quarto or template stops the run before any work
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    result = execute(plan, ctx, workers=workers)
    for table in summary_tables(result, ctx.workspace):
        out_console.print(table)
    extracted = sum(r.computed for r in result.extraction)
    cached = sum(r.cached for r in result.extraction)
    err_console.print(
        f"features: {extracted} extracted, {cached} from cache"
        + ("; model: unchanged, results from the catalog" if result.cached else "")
        + (f"\nrejected files: {result.rejected} (nkl query \"select * from rejects\")" if result.rejected else "")
        + f"\nexperiment folder: {ctx.workspace.experiment_dir(plan.name)}"
        + (f"\nlog: {result.log_file}" if result.log_file else ""),
        highlight=False,
    )
    if config.report is not None:  # [REPORT]: render the experiment's report from what the run just stored
        from nkl.cli.report import report_at_end_of_run

        report_at_end_of_run(config_path, ctx.workspace, plan.name, ReportOptions.from_section(config.report), log)


def explain_command(config_path: Path, *, aug_train: bool = False) -> None:
    setup_logging(False, True)
    config = load_config(config_path)
    plan = _plan(config, aug_train)
    print(explain_text(plan, RunContext(Workspace(config.exp.root))))
