"""The ``nkl`` command line: parse, build a plan, run it; user errors become one red line and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from nkl.cli.console import err_console, print_error
from nkl.errors import ConfigError, NklError, is_interrupt

app = typer.Typer(
    name="nkl",
    help="Speech machine-learning experiments as queries over a catalog of Parquet tables (nkululeko-compatible INI files).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="List the workspace's tables (rows, size); check, repair, compact or rebuild them.", invoke_without_command=True)
app.add_typer(catalog_app, name="catalog")

ConfigArg = Annotated[Path | None, typer.Argument(help="Experiment INI file (nkl or nkululeko).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Experiment INI file (same as the argument).")]
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder ([EXP] root). Default: $NKL_WORKSPACE or ./results."),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Show only warnings, errors and results.")]


def _show_version(value: bool) -> None:
    if value:
        from nkl import __version__

        print(f"nkl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True)] = False,
) -> None:
    """Speech machine-learning experiments as queries over a catalog of Parquet tables (nkululeko-compatible INI files)."""


def _config_path(arg: Path | None, opt: Path | None) -> Path:
    path = opt or arg
    if path is None:
        path = Path("exp.ini")
        if not path.exists():
            raise NklError("no config given; run `nkl run CONFIG.ini` (or put an exp.ini in this folder)")
    return path


def workspace_root(workspace: Path | None, config: Path | None = None) -> Path:
    """The workspace a command reads: --workspace, else the config's [EXP] root, else $NKL_WORKSPACE or ./results."""
    if workspace is not None:
        return workspace
    if config is not None:
        from nkl.config import load_config

        return Path(load_config(config).exp.root)
    return Path(os.environ.get("NKL_WORKSPACE", "results"))


@app.command()
def run(config: ConfigArg = None, config_opt: ConfigOpt = None,
        workers: Annotated[int | None, typer.Option(help="Extraction processes (default: [FEATS] workers, 0 = all cores).")] = None,
        verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Run an experiment end to end: load, split, extract features (cached), train, evaluate."""
    from nkl.cli.run import run_command

    run_command(_config_path(config, config_opt), workers=workers, verbose=verbose, quiet=quiet)


@app.command()
def explain(config: ConfigArg = None, config_opt: ConfigOpt = None,
            aug_train: Annotated[bool, typer.Option("--aug-train", help="The plan of `nkl aug_train` (with its augment step).")] = False
            ) -> None:
    """Show an experiment's plan and what the catalog already holds for each step (runs nothing)."""
    from nkl.cli.run import explain_command

    explain_command(_config_path(config, config_opt), aug_train=aug_train)


@app.command()
def predict(
    paths: Annotated[list[Path] | None, typer.Argument(help="A config (.ini) with [PREDICT] targets, and/or audio files.", show_default=False)] = None,
    config_opt: ConfigOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="A target (snr, mos, ...) or a saved experiment (name or folder).")] = None,
    file: Annotated[list[Path] | None, typer.Option("--file", help="Audio file(s); more may follow as arguments.")] = None,
    folder: Annotated[Path | None, typer.Option("--folder", help="All audio files below this folder.")] = None,
    listing: Annotated[Path | None, typer.Option("--list", help="CSV whose first (or 'file') column lists audio paths.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV for the results (default for files: prediction_result.csv).")] = None,
    workspace: WorkspaceOpt = None,
    workers: Annotated[int | None, typer.Option(help="Parallel processes (default: [PREDICT] workers, 0 = all cores).")] = None,
    verbose: Verbose = False, quiet: Quiet = False,
) -> None:
    """Estimate speaker and signal characteristics (est_* columns in the estimates table), or apply a saved model."""
    from nkl.cli.predict import predict_command

    predict_command(paths or [], config_opt=config_opt, model=model, files=file, folder=folder, listing=listing, out=out,
                    workspace=workspace, workers=workers, verbose=verbose, quiet=quiet)


@app.command()
def ensemble(
    members: Annotated[list[Path] | None, typer.Argument(help="Member experiments: INI files or experiment names.", show_default=False)] = None,
    workspace: WorkspaceOpt = None,
    experiments: Annotated[list[str] | None, typer.Option("--experiments", "-e", help="Shell pattern(s) of experiment names, e.g. 'exp_os_*'.")] = None,
    method: Annotated[str, typer.Option("--method", help="mean, majority_voting, max, sum, max_class, uncertainty_threshold, "
                                        "uncertainty_weighted, confidence_weighted, performance_weighted; regression: mean, median.")] = "mean",
    weights: Annotated[str, typer.Option("--weights", help="'performance' (each member's dev UAR) or one number per member: 0.5,0.3,0.2.")] = "",
    threshold: Annotated[float, typer.Option("--threshold", help="uncertainty_threshold: use the surest member when its uncertainty is at most this.")] = 1.0,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name of the ensemble experiment (default ensemble_<method>).")] = None,
    intersect: Annotated[bool, typer.Option("--intersect", help="Fuse only the samples every member evaluated (else differing sets: error).")] = False,
    outfile: Annotated[Path | None, typer.Option("--outfile", "-o", help="Also write the fused predictions to this CSV.")] = None,
    verbose: Verbose = False, quiet: Quiet = False,
) -> None:
    """Fuse finished experiments' predictions, aligned by sample, into a new experiment (results with CIs, plot, report)."""
    from nkl.cli.ensemble import ensemble_command

    ensemble_command(members or [], workspace=workspace, patterns=experiments or [], method=method, weights=weights,
                     threshold=threshold, name=name, intersect=intersect, outfile=outfile, verbose=verbose, quiet=quiet)


@app.command()
def multidb(config: ConfigArg = None, config_opt: ConfigOpt = None,
            workers: Annotated[int | None, typer.Option(help="Extraction processes (default: [FEATS] workers, 0 = all cores).")] = None,
            verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Cross-database matrix: train on each of [EXP] databases, test on each (cells cached like experiments), heatmap."""
    from nkl.cli.multidb import multidb_command

    multidb_command(_config_path(config, config_opt), workers=workers, verbose=verbose, quiet=quiet)


@app.command()
def optim(config: ConfigArg = None, config_opt: ConfigOpt = None,
          workers: Annotated[int | None, typer.Option(help="Extraction processes (default: [FEATS] workers, 0 = all cores).")] = None,
          verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Search [OPTIM] model settings on dev or speaker folds of train (never test); the best runs once as the experiment."""
    from nkl.cli.search import search_command

    search_command("optim", _config_path(config, config_opt), workers=workers, verbose=verbose, quiet=quiet)


@app.command()
def flags(config: ConfigArg = None, config_opt: ConfigOpt = None,
          workers: Annotated[int | None, typer.Option(help="Extraction processes (default: [FEATS] workers, 0 = all cores).")] = None,
          verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Try every combination of [FLAGS] models, features, balancing, scale, ... on training data; the best runs once."""
    from nkl.cli.search import search_command

    search_command("flags", _config_path(config, config_opt), workers=workers, verbose=verbose, quiet=quiet)


@app.command()
def augment(config: ConfigArg = None, config_opt: ConfigOpt = None, verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Write augmented copies of the selected (training) samples ([AUGMENT]): seeded, by content hash, with a CSV."""
    from nkl.cli.audio_files import augment_command

    augment_command(_config_path(config, config_opt), verbose=verbose, quiet=quiet)


@app.command("aug_train")
def aug_train(config: ConfigArg = None, config_opt: ConfigOpt = None,
              workers: Annotated[int | None, typer.Option(help="Extraction processes (default: [FEATS] workers, 0 = all cores).")] = None,
              verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Augment the training split ([AUGMENT]), then train on original + augmented rows; dev and test stay original."""
    from nkl.cli.run import run_command

    run_command(_config_path(config, config_opt), workers=workers, verbose=verbose, quiet=quiet, aug_train=True)


@app.command()
def resample(config: ConfigArg = None,
             file: Annotated[list[Path] | None, typer.Option("--file", help="Audio file(s) to resample.")] = None,
             folder: Annotated[Path | None, typer.Option("--folder", help="Every audio file below this folder.")] = None,
             rate: Annotated[int | None, typer.Option("--rate", help="Target rate in Hz (default [RESAMPLE] rate, else 16000).")] = None,
             out: Annotated[Path | None, typer.Option("--out", "-o", help="Write into this folder (default: beside each source).")] = None,
             replace: Annotated[bool, typer.Option("--replace", help="Overwrite the sources (also [RESAMPLE] replace = True).")] = False,
             csv: Annotated[Path | None, typer.Option("--csv", help="CSV of the written files (default resampled.csv).")] = None,
             verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Convert audio to mono WAV at one rate (16 kHz): files, a folder, or an INI's databases; writes a CSV of them."""
    from nkl.cli.audio_files import resample_command

    if config is None and not file and folder is None:
        raise ConfigError("nothing to resample: give a config (.ini), --file A.wav [--file B.wav] or --folder DIR")
    resample_command(config, files=file, folder=folder, rate=rate, out=out, replace=replace, csv=csv, verbose=verbose, quiet=quiet)


@app.command()
def export(config: ConfigArg = None, config_opt: ConfigOpt = None, verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Copy (or cut into segment files) an INI's selected samples under [EXPORT] root, with a database CSV."""
    from nkl.cli.audio_files import export_command

    export_command(_config_path(config, config_opt), verbose=verbose, quiet=quiet)


@app.command()
def segment(config: ConfigArg = None, config_opt: ConfigOpt = None, verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Cut recordings into speech segments ([SEGMENT] method, min_length, max_length); writes segments and a CSV."""
    from nkl.cli.segment import segment_command

    segment_command(_config_path(config, config_opt), verbose=verbose, quiet=quiet)


@app.command()
def explore(config: ConfigArg = None, config_opt: ConfigOpt = None, verbose: Verbose = False, quiet: Quiet = False) -> None:
    """Explore data and bias ([EXPL]): tests of the target against columns, feature importance, scatter plots."""
    from nkl.cli.explore import explore_command

    explore_command(_config_path(config, config_opt), verbose=verbose, quiet=quiet)


@app.command()
def report(
    config: ConfigArg = None, config_opt: ConfigOpt = None, workspace: WorkspaceOpt = None,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Report this experiment of the workspace (no INI needed).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="pdf, html or both (default: [REPORT] format, else both).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="File name without extension (default: [REPORT] latex, else <experiment>_report).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the report (default: the experiment's folder, or the workspace).")] = None,
    template: Annotated[Path | None, typer.Option("--template", "-t", help="Your copy of a template from reports/ (.qmd).")] = None,
    engine: Annotated[str | None, typer.Option(help="auto (quarto if on PATH, else pandoc + typst), quarto or pandoc.")] = None,
    title: Annotated[str | None, typer.Option(help="Title (default: [REPORT] title).")] = None,
    author: Annotated[str | None, typer.Option(help="Author (default: [REPORT] author).")] = None,
    verbose: Verbose = False, quiet: Quiet = False,
) -> None:
    """Render a PDF/HTML report from the catalog (nothing is recomputed): one experiment (CONFIG or --experiment), or every experiment of --workspace."""
    from nkl.cli.report import report_command

    report_command(config_opt or config, workspace=workspace, experiment=experiment, fmt=fmt, name=name, out=out, template=template,
                   engine=engine, title=title, author=author, verbose=verbose, quiet=quiet, default_workspace=workspace_root(None))


@app.command()
def query(sql: Annotated[str, typer.Argument(help="SQL over the catalog's tables; files ('meta.csv') can be joined.")],
          workspace: WorkspaceOpt = None,
          config: Annotated[Path | None, typer.Option("--config", "-c", help="Take the workspace from this INI's [EXP] root.")] = None,
          fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv, json or parquet.")] = "table",
          out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result to this file.")] = None,
          limit: Annotated[int, typer.Option(help="Rows shown in table format (0 = all).")] = 50,
          allow_write: Annotated[bool, typer.Option("--allow-write", help="Also run statements that write files or change "
                                                    "settings (COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, ...).")] = False) -> None:
    """Run SQL on the catalog (read-only) and print or save the result."""
    from nkl.cli.query import query_command

    query_command(sql, workspace_root(workspace, config), fmt, out, limit, allow_write=allow_write)


@catalog_app.callback()
def catalog(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """List the tables with their rows and sizes."""
    ctx.obj = workspace_root(workspace)
    if ctx.invoked_subcommand is None:
        from nkl.cli.query import list_tables

        list_tables(ctx.obj)


@catalog_app.command("rebuild")
def catalog_rebuild(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Recreate the DuckDB index from the Parquet tables alone."""
    from nkl.cli.query import rebuild

    rebuild(workspace if workspace is not None else ctx.obj)


@catalog_app.command("check")
def catalog_check(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """List unreadable parts, keys stored twice and a damaged catalog.duckdb (changes nothing; exit 1 if any)."""
    from nkl.cli.catalog import check_command

    raise typer.Exit(check_command(workspace if workspace is not None else ctx.obj))


@catalog_app.command("repair")
def catalog_repair(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Move unreadable parts to tables/.quarantine/, remove duplicated rows, rebuild catalog.duckdb."""
    from nkl.cli.catalog import repair_command

    repair_command(workspace if workspace is not None else ctx.obj)


@catalog_app.command("compact")
def catalog_compact(ctx: typer.Context, workspace: WorkspaceOpt = None,
                    min_parts: Annotated[int, typer.Option("--min-parts", help="Compact tables with at least this many parts.")] = 2) -> None:
    """Merge each table's parts into one file (nkl run does it by itself once a table has over 48 parts)."""
    from nkl.cli.catalog import compact_command

    compact_command(workspace if workspace is not None else ctx.obj, min_parts)


INTERRUPTED = "[yellow]interrupted[/]: everything computed so far is kept; run the same command again to resume"


def main() -> None:
    """Console entry point."""
    try:
        code = app(standalone_mode=False)  # typer turns Ctrl-C into a returned 130
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - _report re-raises what is neither Ctrl-C nor an error of the command line
        if is_interrupt(exc):
            err_console.print(INTERRUPTED)
            sys.exit(130)
        _report(exc)
    if code == 130:
        err_console.print(INTERRUPTED)
    if isinstance(code, int) and code:
        sys.exit(code)


def _report(exc: Exception) -> NoReturn:
    """Exit for an error of the command line: nkl's own errors in one line (exit 2), usage errors as click shows them."""
    if isinstance(exc, NklError):
        print_error(str(exc))
        sys.exit(2)
    if isinstance(exc, typer.Exit):
        sys.exit(exc.exit_code)
    if isinstance(exc, typer.Abort):
        sys.exit(1)
    # usage errors (unknown option, missing argument): typer ≥ 0.20 raises its vendored click's exceptions
    # (subclasses of typer.TyperException), older typer raises click's own
    import click

    if isinstance(exc, click.ClickException | getattr(typer, "TyperException", click.ClickException)) and hasattr(exc, "show"):
        exc.show()
        sys.exit(getattr(exc, "exit_code", 2))
    raise exc


if __name__ == "__main__":
    main()
