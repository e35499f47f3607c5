"""``nkl resample``, ``nkl export`` and ``nkl augment`` (``nkl aug_train`` is ``nkl run`` with the augment stage)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.cli.console import RichProgress, err_console, setup_logging
from nkl.config import load_config
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.export.metadata import database_csv


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
        written = database_csv(samples.filter(pl.col("file").is_in(list(mapping))).with_columns(pl.col("file").replace_strict(mapping)))
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
    destination = write_csv(database_csv(exported), root / f"{keys.get('data_name') or 'export'}.csv")
    err_console.print(f"exported: {counts.done} written, {counts.skipped} already there, {counts.failed} unusable, into {root}; "
                      f"database CSV: {destination}", highlight=False)


def augment_command(config_path: Path, *, verbose: bool, quiet: bool) -> None:
    """Write the augmented copies of the selected samples, the ``augmentations`` rows and a database CSV."""
    from nkl.augment.augment import KEYS, augment_samples, settings_from
    from nkl.catalog.store import write_text
    from nkl.predict.inputs import config_samples

    log = setup_logging(verbose, quiet)
    config = load_config(config_path, purpose="data")
    settings = settings_from(config.other_section("AUGMENT", KEYS), config.exp.seed)
    ctx = RunContext(Workspace(config.exp.root), log, RichProgress(enabled=not quiet))
    samples = config_samples(ctx, config, settings.selection)
    augmented, table, written = augment_samples(samples, settings, ctx.workspace.root / "augmented", config.exp.name, log, ctx.progress)
    ctx.workspace.write_part("augmentations", config.exp.name, table)
    destination = ctx.workspace.experiment_dir(config.exp.name) / settings.result
    write_text(database_csv(augmented).write_csv() if augmented.height else "", destination)
    err_console.print(f"augmented: {augmented.height} copies of {augmented['source_sample'].n_unique() if augmented.height else 0} "
                      f"{settings.selection} samples ({written} written now, {augmented.height - written} already there) with "
                      f"{', '.join(settings.chains)}; database CSV: {destination}", highlight=False)


def augment_settings(config) -> object:
    """[AUGMENT] for aug_train: the training split only."""
    from nkl.augment.augment import KEYS, settings_from

    settings = settings_from(config.other_section("AUGMENT", KEYS), config.exp.seed)
    if settings.selection != "train":
        raise ConfigError(f"aug_train augments the training split only; remove [AUGMENT] sample_selection = {settings.selection}")
    return settings
