"""The samples of a config's databases: imported (cached by content), filtered per database and globally."""

from __future__ import annotations

import polars as pl

from nkl.config.config import Config
from nkl.context import RunContext
from nkl.data.filters import apply_filters
from nkl.data.samples import import_database
from nkl.errors import DataError


def load_databases(ctx: RunContext, config: Config) -> pl.DataFrame:
    """Every ``[DATA] databases`` entry imported and filtered, speakers prefixed where ``rename_speakers`` asks.

    ``check_size`` (bytes; nkululeko's default 1 means 1000) rejects files smaller than that. A database whose every
    file is rejected stops with a DataError naming it.
    """
    min_bytes = config.data.check_size if config.data.check_size != 1 else 1000
    frames = []
    for name, db in config.databases:
        db_bytes = db.check_size if db.check_size != 1 else 1000
        samples = import_database(ctx, name, db, config.data.target, max(min_bytes, db_bytes))
        if samples.height == 0:
            raise DataError(f"[DATA] {name}: no usable audio (every file was rejected); see `nkl query \"select * from rejects\"`")
        samples = apply_filters(ctx, samples, db, f"[DATA] {name}", config.exp.seed)
        if db.rename_speakers:
            samples = samples.with_columns(pl.concat_str(pl.lit(f"{name}_"), pl.col("speaker")).alias("speaker"))
        frames.append(samples)
    return apply_filters(ctx, pl.concat(frames, how="diagonal_relaxed"), config.data, "[DATA]", config.exp.seed)
