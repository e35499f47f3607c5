"""The samples of a config's databases: imported (cached by content), filtered per database and globally."""

from __future__ import annotations

import polars as pl

from nkl.config.config import Config
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.data.filters import apply_filters
from nkl.data.samples import import_database
from nkl.errors import DataError


def min_bytes(config: Config, db: DatabaseSection) -> int:
    """Files smaller than this are rejected: ``check_size`` of [DATA] or the database (nkululeko's 1 means 1000 bytes)."""
    global_bytes = config.data.check_size if config.data.check_size != 1 else 1000
    db_bytes = db.check_size if db.check_size != 1 else 1000
    return max(global_bytes, db_bytes)


def load_database(ctx: RunContext, config: Config, name: str, db: DatabaseSection) -> pl.DataFrame:
    """One database imported and filtered by its own keys, speakers prefixed where ``rename_speakers`` asks.

    A database whose every file is rejected stops with a DataError naming it.
    """
    samples = import_database(ctx, name, db, config.data.target, min_bytes(config, db))
    if samples.height == 0:
        raise DataError(f"[DATA] {name}: no usable audio (every file was rejected); see `nkl query \"select * from rejects\"`")
    samples = apply_filters(ctx, samples, db, f"[DATA] {name}", config.exp.seed)
    if db.rename_speakers:
        samples = samples.with_columns(pl.concat_str(pl.lit(f"{name}_"), pl.col("speaker")).alias("speaker"))
    return samples


def filter_databases(ctx: RunContext, config: Config, frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The databases' samples together, with the global [DATA] filters applied."""
    return apply_filters(ctx, pl.concat(frames, how="diagonal_relaxed"), config.data, "[DATA]", config.exp.seed)


def load_databases(ctx: RunContext, config: Config) -> pl.DataFrame:
    """Every ``[DATA] databases`` entry imported and filtered (per database, then globally)."""
    return filter_databases(ctx, config, [load_database(ctx, config, name, db) for name, db in config.databases])
