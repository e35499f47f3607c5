"""Schemas of the catalog's core tables, checked where tables are written.

Tables may carry more columns than listed (label columns in ``samples``, one probability column per
class in ``predictions``); the listed ones must be there with these types.
"""

from __future__ import annotations

import polars as pl

from nkl.errors import CatalogError

SAMPLES = pl.Schema({
    "sample": pl.String, "database": pl.String, "file": pl.String, "start": pl.Float64, "end": pl.Float64,
    "duration": pl.Float64, "sample_rate": pl.Int64, "channels": pl.Int64, "bytes": pl.Int64,
    "audio_hash": pl.String, "content_key": pl.String, "speaker": pl.String, "gender": pl.String, "age": pl.Float64,
})
SPLITS = pl.Schema({"experiment": pl.String, "sample": pl.String, "split": pl.String, "split_hash": pl.String})
PREDICTIONS = pl.Schema({
    "experiment": pl.String, "run": pl.Int64, "fold": pl.Int64, "sample": pl.String, "speaker": pl.String, "split": pl.String,
    "truth": pl.String, "predicted": pl.String, "uncertainty": pl.Float64,
})
RESULTS = pl.Schema({
    "experiment": pl.String, "run": pl.Int64, "split": pl.String, "metric": pl.String,
    "value": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
})
RUNS = pl.Schema({
    "experiment": pl.String, "run_id": pl.String, "config_text": pl.String, "config_hash": pl.String,
    "plan_hash": pl.String, "split_hash": pl.String, "feature_spec": pl.String, "versions": pl.String,
    "seed": pl.Int64, "start": pl.Datetime("us", "UTC"), "duration_s": pl.Float64, "status": pl.String,
    "best_run": pl.Int64,
})
REJECTS = pl.Schema({
    "database": pl.String, "sample": pl.String, "file": pl.String, "stage": pl.String, "reason": pl.String,
    "content_key": pl.String,
})

SCHEMAS: dict[str, pl.Schema] = {
    "samples": SAMPLES, "splits": SPLITS, "results": RESULTS, "runs": RUNS, "rejects": REJECTS,
}


def check_schema(df: pl.DataFrame, schema: pl.Schema, table: str) -> pl.DataFrame:
    """Cast the listed columns to their types and fail loudly if one is missing."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise CatalogError(f"table {table}: missing columns {missing} (a bug in the writer)")
    return df.with_columns([pl.col(c).cast(t) for c, t in schema.items()])
