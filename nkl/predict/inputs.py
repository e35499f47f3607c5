"""The audio that ``nkl predict`` works on: a config's databases, or files given on the command line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from nkl.catalog.store import write_text
from nkl.config.config import Config
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.data import assign_splits, import_database, load_databases
from nkl.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


def config_samples(ctx: RunContext, config: Config, selection: str | None = None) -> pl.DataFrame:
    """Samples of the config's databases after their filters, limited to a split (default: [PREDICT] sample_selection)."""
    df = load_databases(ctx, config)
    selection = selection or config.predict.sample_selection
    if selection != "all":
        df, _ = assign_splits(ctx, config, df)
        df = df.filter(pl.col("split") == selection)
    if df.height == 0:
        raise DataError(f"no samples to predict ([PREDICT] sample_selection = {selection}); check the databases and filters")
    return df


def listed_files(files: list[Path] | None, folder: Path | None, listing: Path | None) -> list[str]:
    """Absolute paths from --file, --folder (recursive, audio suffixes) or --list (a CSV whose first column is the path)."""
    paths: list[Path] = []
    if files:
        paths += files
    if folder is not None:
        if not folder.is_dir():
            raise DataError(f"--folder {folder} is not a folder")
        paths += sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not paths:
            raise DataError(f"--folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    if listing is not None:
        if not listing.is_file():
            raise DataError(f"--list {listing} does not exist; give a CSV whose first column holds audio paths")
        table = pl.read_csv(listing, infer_schema=False)
        if table.height == 0:
            raise DataError(f"--list {listing} has no rows")
        column = "file" if "file" in table.columns else table.columns[0]
        paths += [p if p.is_absolute() else listing.parent / p for p in map(Path, table[column].to_list())]
    if not paths:
        raise DataError("no audio given: use --file A.wav [B.wav ...], --folder DIR or --list FILES.csv")
    return [str(p.resolve()) for p in paths]


def file_samples(ctx: RunContext, paths: list[str], name: str = "files") -> pl.DataFrame:
    """Import a list of files as an ad-hoc database (kept in the workspace like any other) and return its samples."""
    digest = hashlib.blake2b("\n".join(paths).encode(), digest_size=8).hexdigest()
    csv = ctx.workspace.root / "inputs" / f"{name}-{digest}.csv"
    if not csv.exists():
        write_text(pl.DataFrame({"file": paths}).write_csv(), csv)
    db = DatabaseSection(path=str(csv), type="csv", absolute_path=False)
    samples = import_database(ctx, name, db, "")
    if samples.height == 0:
        raise DataError("none of the given files is usable audio; see `nkl query \"select * from rejects\"`")
    return samples
