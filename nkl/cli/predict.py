"""``nkl predict``: estimates (snr, mos, ...) for a config's databases or for files; or a saved model applied to files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
from rich.table import Table

from nkl.catalog.store import write_text
from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.features.ray_engine import engine_for
from nkl.predict.inputs import config_samples, file_samples, listed_files
from nkl.predict.registry import PREDICTORS, TARGET_ALIASES
from nkl.predict.run import build_predictors, estimate, estimates_for


def _summary(frame: pl.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for col in ("estimate", "n", "mean", "std", "min", "max"):
        table.add_column(col, justify="left" if col == "estimate" else "right")
    for col in [c for c in frame.columns if c.startswith("est_")]:
        values = frame[col].drop_nulls()
        if values.len() == 0:
            continue
        if not values.dtype.is_numeric():  # labels, e.g. est_speaker
            table.add_row(col, str(values.len()), f"{values.n_unique()} distinct", "", "", "")
            continue
        table.add_row(col, str(values.len()), f"{values.mean():.3f}", f"{values.std() or 0:.3f}", f"{values.min():.3f}", f"{values.max():.3f}")
    return table


def predict_command(paths: list[Path], *, config_opt: Path | None, model: str | None, files: list[Path] | None,
                    folder: Path | None, listing: Path | None, out: Path | None, workspace: Path | None,
                    workers: int | None, verbose: bool, quiet: bool) -> None:
    log = setup_logging(verbose, quiet)
    inis = [p for p in paths if p.suffix.lower() == ".ini"]
    audio = [p for p in paths if p.suffix.lower() != ".ini"] + list(files or [])
    config_path = config_opt or (inis[0] if inis else None)
    config = load_config(config_path, purpose="predict" if model is None else "data") if config_path else None
    if config is None and model is None:
        raise ConfigError("nothing to predict: give a config with [PREDICT] targets, or --model TARGET_OR_EXPERIMENT with --file/--folder/--list")
    root = workspace or (Path(config.exp.root) if config else Path(os.environ.get("NKL_WORKSPACE", "results")))
    ctx = RunContext(Workspace(root), log, RichProgress(enabled=not quiet))
    for warning in (config.warnings if config else ()):
        log.warning(warning)
    predictors = None
    if model is None or model in PREDICTORS or model in TARGET_ALIASES:  # names and keys checked before any work
        predictors = build_predictors([model] if model is not None else [str(t) for t in config.predict.targets], config)
    engine = engine_for(config.exp.engine, config.exp.ray_address) if config is not None else None  # engine = ray needs the extra
    try:
        _predict(ctx, config, model, predictors, audio, folder, listing, out, workers, engine)
    finally:
        if engine is not None:
            engine.close()


def _predict(ctx: RunContext, config, model: str | None, predictors, audio: list[Path], folder: Path | None, listing: Path | None,
             out: Path | None, workers: int | None, engine) -> None:
    if audio or folder or listing:
        samples = file_samples(ctx, listed_files(audio, folder, listing))
    elif config is not None:
        samples = config_samples(ctx, config)
    else:
        raise ConfigError("no audio given: use --file A.wav [B.wav ...], --folder DIR or --list FILES.csv (or a config)")
    n_workers = workers if workers is not None else (config.predict.workers if config else 0)
    threshold = config.predict.fail_threshold if config else 0.5

    if model is not None and model not in PREDICTORS and model not in TARGET_ALIASES:
        from nkl.ensemble.run import ensemble_spec
        from nkl.models.bundle import ModelBundle
        from nkl.predict.apply_model import apply_bundle, find_bundle

        spec = ensemble_spec(ctx.workspace.experiment_dir(model))
        tuned = next((f for f in (Path(model), Path(model) / "model", ctx.workspace.experiment_dir(model) / "model")
                      if (f / "finetune.json").is_file()), None)
        if tuned is not None:  # a fine-tuned transformer: its own weights, label map and audio rate
            from nkl.finetune.fit import apply_finetuned

            result = apply_finetuned(ctx, tuned, samples)
            finetuned = json.loads((tuned / "finetune.json").read_text())
            name, task = finetuned.get("experiment", model), finetuned["task"]
        elif spec is not None:  # an ensemble: each member's saved model, then the same fusion
            from nkl.ensemble.apply import apply_ensemble

            result = apply_ensemble(ctx, spec, samples, workers=n_workers)
            name, task = model, spec.get("task", "classification")
        else:
            bundle = ModelBundle.load(find_bundle(model, ctx.workspace))
            result = apply_bundle(ctx, bundle, samples, workers=n_workers, engine=engine)
            name, task = bundle.manifest.get("experiment", "model"), bundle.manifest["task"]
        ctx.workspace.write_part("applied_predictions", f"{name}-{samples['sample'].hash().sum()}",
                                 result.with_columns(model=pl.lit(name)))
        destination = out or Path("prediction_result.csv")
        write_text(result.write_csv(), destination)
        if task == "classification":
            counts = result["predicted"].value_counts().sort("count", descending=True)
            table = Table(title=f"{name}: predicted classes of {result.height} files")
            table.add_column("class")
            table.add_column("n", justify="right")
            for label, n in counts.iter_rows():
                table.add_row(str(label), str(n))
            out_console.print(table)
        err_console.print(f"{result.height} predictions written to {destination} and to table applied_predictions")
        return

    assert predictors is not None
    reports = estimate(ctx, predictors, samples, workers=n_workers, fail_threshold=threshold, engine=engine)
    frame = estimates_for(ctx, samples)
    out_console.print(_summary(frame, f"estimates of {frame.height} samples"))
    if out is not None or audio or folder or listing:
        destination = out or Path("prediction_result.csv")
        write_text(frame.write_csv(), destination)
        err_console.print(f"{frame.height} rows written to {destination}")
    computed = sum(r.computed for r in reports)
    cached = sum(r.cached for r in reports)
    err_console.print(f"estimates: {computed} computed, {cached} from cache; query them with "
                      f"nkl query -w {ctx.workspace.root} \"select * from estimates\"", highlight=False)
