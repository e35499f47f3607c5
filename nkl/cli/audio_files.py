"""``nkl resample`` and ``nkl export``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, out_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext
from nkl.errors import ConfigError

INTERNAL = {"sample", "database", "duration", "sample_rate", "channels", "bytes", "audio_hash", "content_key", "file_id",
            "table_split", "file_duration", "mtime_ns", "import_hash", "source", "split"}


def _metadata(samples: pl.DataFrame) -> pl.DataFrame:
    """The columns a CSV database keeps: file, segment bounds when a sample is part of its file, speaker, gender, age
    and every label column."""
    from nkl.export.audio_files import segment_rows

    segments = segment_rows(samples)
    keep = ["file", *(["start", "end"] if segments.any() else [])]
    keep += [c for c in samples.columns if c not in INTERNAL and c not in keep and c not in ("start", "end")]
    out = samples.with_columns(segment=segments)
    if segments.any():  # whole files keep empty bounds
        out = out.with_columns(start=pl.when(pl.col("segment")).then(pl.col("start")), end=pl.when(pl.col("segment")).then(pl.col("end")))
    return out.select(keep)


def resample_command(config_path: Path | None, *, files: list[Path] | None, folder: Path | None, rate: int | None,
                     out: Path | None, replace: bool, csv: Path | None, verbose: bool, quiet: bool) -> None:
    from nkl.export.audio_files import resample_files, write_csv
    from nkl.predict.inputs import config_samples, listed_files

    log = setup_logging(verbose, quiet)
    progress = RichProgress(enabled=not quiet)
    if config_path is not None:
        config = load_config(config_path, purpose="data")
        keys = config.other_section("RESAMPLE", {"replace": "bool", "target": "str", "rate": "int"})
        ctx = RunContext(Workspace(config.exp.root), log, progress)
        samples = config_samples(ctx, config, config.exp.sample_selection)
        mapping, counts = resample_files(samples["file"].to_list(), int(rate or keys.get("rate") or 16000), out=out,
                                         replace=replace or bool(keys.get("replace", False)), log=log, progress=progress)
        written = _metadata(samples.filter(pl.col("file").is_in(list(mapping))).with_columns(pl.col("file").replace_strict(mapping)))
        destination = csv or Path(str(keys.get("target") or "resampled.csv"))
        if not destination.is_absolute():
            destination = Path(config.exp.root) / destination
    else:
        import re

        sources = [f for f in listed_files(files, folder, None)  # files an earlier resample wrote are not resampled again
                   if not (folder is not None and re.search(r"_\d+(\.\d+)?kHz\.wav$", f))]
        mapping, counts = resample_files(sources, int(rate or 16000), out=out, replace=replace, log=log, progress=progress)
        written = pl.DataFrame({"file": list(mapping.values()), "source": list(mapping)})
        destination = csv or Path("resampled.csv")
    write_csv(written, destination)
    err_console.print(f"resampled: {counts.done} written, {counts.skipped} already done, {counts.failed} unusable; "
                      f"list of files: {destination}", highlight=False)


def export_command(config_path: Path, *, verbose: bool, quiet: bool) -> None:
    from nkl.export.audio_files import export_samples, write_csv
    from nkl.predict.inputs import config_samples

    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose="data")
    keys = config.other_section("EXPORT", {"root": "str", "orig_root": "str", "data_name": "str", "segments_as_files": "bool",
                                       "bundle_path": "str"})
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    samples = config_samples(ctx, config, config.exp.sample_selection)
    root = Path(str(keys.get("root") or "./exported_data")).expanduser().resolve()
    exported, counts = export_samples(samples, root, segments_as_files=bool(keys.get("segments_as_files", False)),
                                      orig_root=str(keys.get("orig_root") or ""), log=log, progress=ctx.progress)
    destination = write_csv(_metadata(exported), root / f"{keys.get('data_name') or 'export'}.csv")
    err_console.print(f"exported: {counts.done} written, {counts.skipped} already there, {counts.failed} unusable, into {root}; "
                      f"database CSV: {destination}", highlight=False)


def augment_command(config_path: Path, *, verbose: bool, quiet: bool, purpose: str = "data") -> tuple[Path, object, object]:
    """Write the augmented copies; returns the database CSV, the config and the context (for aug_train)."""
    from nkl.augment.augment import KEYS, augment_samples, settings_from
    from nkl.catalog.store import write_text
    from nkl.predict.inputs import config_samples

    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose=purpose)
    settings = settings_from(config.other_section("AUGMENT", KEYS), config.exp.seed)
    if purpose == "run" and settings.selection != "train":
        raise ConfigError(f"aug_train augments the training split only; remove [AUGMENT] sample_selection = {settings.selection}")
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    samples = config_samples(ctx, config, settings.selection)
    augmented, table, written = augment_samples(samples, settings, ctx.workspace.root / "augmented", config.exp.name, log, ctx.progress)
    ctx.workspace.write_part("augmentations", config.exp.name, table)
    destination = ctx.workspace.experiment_dir(config.exp.name) / settings.result
    write_text(_metadata(augmented).write_csv() if augmented.height else "", destination)
    err_console.print(f"augmented: {augmented.height} copies of {augmented['source_sample'].n_unique() if augmented.height else 0} "
                      f"{settings.selection} samples ({written} written now, {augmented.height - written} already there) with "
                      f"{', '.join(settings.chains)}; database CSV: {destination}", highlight=False)
    return destination, config, ctx


def aug_train_command(config_path: Path, *, workers: int | None, verbose: bool, quiet: bool) -> None:
    """Augment the training split, then run the experiment on the original rows plus the augmented ones (as a second
    database whose rows all train); dev and test hold original audio only."""
    import dataclasses

    from nkl.cli.summary import summary_tables
    from nkl.config.sections import DatabaseSection
    from nkl.plan import Plan, execute

    csv, config, ctx = augment_command(config_path, verbose=verbose, quiet=quiet, purpose="run")
    name = f"{config.exp.name}_aug"
    if name in dict(config.databases):
        raise ConfigError(f"[DATA] already has a database named '{name}'; rename it (aug_train adds one of that name)")
    if not csv.stat().st_size:
        raise ConfigError("aug_train: nothing was augmented (check [AUGMENT] filter and the training split)")
    extra = DatabaseSection(path=str(csv), type="csv", split_strategy="train")
    trained = dataclasses.replace(config, databases=(*config.databases, (name, extra)),
                                  data=dataclasses.replace(config.data, databases=[*config.data.databases, name]), source="")
    result = execute(Plan(trained), ctx, workers=workers)
    for table in summary_tables(result, ctx.workspace):
        out_console.print(table)
    err_console.print(f"trained on the original training rows plus database '{name}' ({csv}); dev and test are original audio",
                      highlight=False)
