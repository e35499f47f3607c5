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
    "best_run": pl.Int64, "task": pl.String, "eval_split": pl.String,
    "members": pl.String,  # an ensemble's description (JSON: method, members, weights); NULL for other experiments
})
REJECTS = pl.Schema({
    "database": pl.String, "sample": pl.String, "file": pl.String, "stage": pl.String, "reason": pl.String,
    "content_key": pl.String,
})

# Written by `nkl explore` (see sql/ for the views over them).
EXPLORE_SAMPLES = pl.Schema({
    "experiment": pl.String, "sample": pl.String, "speaker": pl.String, "split": pl.String,
    "target": pl.String, "target_num": pl.Float64,
})
BIAS = pl.Schema({
    "experiment": pl.String, "source": pl.String, "target": pl.String, "attribute": pl.String, "level": pl.String,
    "test": pl.String, "groups": pl.String, "statistic": pl.Float64, "p": pl.Float64, "p_adj": pl.Float64,
    "effect": pl.Float64, "effect_name": pl.String, "effect_label": pl.String, "cohens_d": pl.Float64,
    "n": pl.Int64, "verdict": pl.String,
})
IMPORTANCE = pl.Schema({
    "experiment": pl.String, "method": pl.String, "feature": pl.String, "importance": pl.Float64,
    "std": pl.Float64, "rank": pl.Int64, "n_fit": pl.Int64, "n_eval": pl.Int64, "eval_split": pl.String, "eval_score": pl.Float64,
})
# Every plot or file a command wrote for reports: path relative to the workspace root (PNG or SVG as [PLOT] format says),
# vega_lite = its Vega-Lite JSON (for interactive HTML), svg/png = the other rendering.
ARTIFACTS = pl.Schema({
    "experiment": pl.String, "kind": pl.String, "path": pl.String, "caption": pl.String,
    "source": pl.String, "vega_lite": pl.String, "png": pl.String, "svg": pl.String,
})

SCHEMAS: dict[str, pl.Schema] = {
    "samples": SAMPLES, "splits": SPLITS, "results": RESULTS, "runs": RUNS, "rejects": REJECTS,
}
EXPLORE_SCHEMAS: dict[str, pl.Schema] = {
    "explore_samples": EXPLORE_SAMPLES, "bias": BIAS, "importance": IMPORTANCE, "artifacts": ARTIFACTS,
}


def check_schema(df: pl.DataFrame, schema: pl.Schema, table: str) -> pl.DataFrame:
    """Cast the listed columns to their types and fail loudly if one is missing."""
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise CatalogError(f"table {table}: missing columns {missing} (a bug in the writer)")
    return df.with_columns([pl.col(c).cast(t) for c, t in schema.items()])
