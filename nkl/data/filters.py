"""Filters that choose an experiment's samples: labels, durations, column values, per-speaker limits."""

from __future__ import annotations

from typing import Any

import polars as pl

from nkl.config.config import Config
from nkl.config.sections import DatabaseSection, DataSection
from nkl.context import RunContext
from nkl.errors import DataError


def _dropped(ctx: RunContext, where: str, before: int, after: int, why: str) -> None:
    if after < before:
        ctx.log.info("%s: dropped %d of %d samples: %s", where, before - after, before, why)


def _value_filter(df: pl.DataFrame, spec: Any, where: str) -> pl.DataFrame:
    """Keep rows whose columns match ``{'col': value or [values]}`` (or a legacy list of [col, value])."""
    if isinstance(spec, (list, tuple)) and spec and not isinstance(spec[0], (list, tuple)):
        spec = [spec]
    pairs = spec.items() if isinstance(spec, dict) else [(p[0], p[1]) for p in spec]
    for column, wanted in pairs:
        if column not in df.columns:
            raise DataError(f"{where} filter names column '{column}', which the data does not have; columns: {', '.join(df.columns)}")
        values = [str(v) for v in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
        df = df.filter(pl.col(column).cast(pl.String).is_in(values))
        if df.height == 0:
            raise DataError(f"{where} filter {{'{column}': {wanted!r}}} leaves no samples; check the values in that column")
    return df


def _limit_per_speaker(df: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed).with_columns(
        _rank=pl.int_range(pl.len()).over("speaker")
    )
    return shuffled.filter(pl.col("_rank") < n).drop("_rank").sort("sample")


def apply_filters(ctx: RunContext, df: pl.DataFrame, f: DataSection | DatabaseSection, where: str, seed: int) -> pl.DataFrame:
    """The filters that exist both per database and globally, in nkululeko's order."""
    if getattr(f, "required", ""):
        if f.required not in df.columns:
            raise DataError(f"{where} required names column '{f.required}', which the data does not have")
        before = df.height
        df = df.filter(pl.col(f.required).is_not_null() & (pl.col(f.required).cast(pl.String) != ""))
        _dropped(ctx, where, before, df.height, f"empty {f.required}")
    if f.filter:
        before = df.height
        df = _value_filter(df, f.filter, where)
        _dropped(ctx, where, before, df.height, f"filter {f.filter}")
    if f.min_duration_of_sample:
        before = df.height
        df = df.filter(pl.col("duration") >= f.min_duration_of_sample)
        _dropped(ctx, where, before, df.height, f"shorter than {f.min_duration_of_sample} s")
    if f.max_duration_of_sample:
        before = df.height
        df = df.filter(pl.col("duration") <= f.max_duration_of_sample)
        _dropped(ctx, where, before, df.height, f"longer than {f.max_duration_of_sample} s")
    if f.limit_samples_per_speaker:
        before = df.height
        df = _limit_per_speaker(df, f.limit_samples_per_speaker, seed)
        _dropped(ctx, where, before, df.height, f"more than {f.limit_samples_per_speaker} per speaker")
    if f.limit_samples and df.height > f.limit_samples:
        before = df.height
        df = df.sample(n=f.limit_samples, seed=seed).sort("sample")
        _dropped(ctx, where, before, df.height, f"limit_samples = {f.limit_samples}")
    return df


def prepare_target(ctx: RunContext, config: Config, df: pl.DataFrame, task: str) -> pl.DataFrame:
    """Clean the target column: drop empty labels, bin or scale numbers, keep only ``labels``."""
    data = config.data
    target = data.target
    if target not in df.columns:
        raise DataError(f"target column '{target}' is in no database; columns: {', '.join(df.columns)}")
    before = df.height
    df = df.filter(pl.col(target).is_not_null() & (pl.col(target).cast(pl.String) != ""))
    _dropped(ctx, "[DATA]", before, df.height, f"no {target} label")
    if task == "regression" or data.type == "continuous":
        numbers = df[target].cast(pl.Float64, strict=False)
        bad = df.filter(numbers.is_null())
        if bad.height:
            raise DataError(
                f"target '{target}' must be numeric for {task if data.type != 'continuous' else 'type = continuous'}; "
                f"sample {bad['sample'][0]} has '{bad[target][0]}'. Use a classification model or fix the value"
            )
        df = df.with_columns(numbers.alias(target))
        if data.target_divide_by:
            df = df.with_columns(pl.col(target) / data.target_divide_by)
    if data.type == "continuous":
        df = _bin_target(df, target, data.bins, data.labels)
    if task == "classification":
        df = df.with_columns(pl.col(target).cast(pl.String))
        found = sorted(df[target].unique().to_list())
        if data.labels and data.type != "continuous":
            labels = [str(x) for x in data.labels]
            empty = [label for label in labels if label not in found]
            if empty:
                raise DataError(
                    f"[DATA] labels names {', '.join(repr(e) for e in empty)} but no sample has "
                    f"{'that' if len(empty) == 1 else 'those'} {target}; labels found: {', '.join(found)}"
                )
            before = df.height
            outside = df.filter(~pl.col(target).is_in(labels))[target].value_counts().sort(target)
            df = df.filter(pl.col(target).is_in(labels))
            _dropped(ctx, "[DATA] labels", before, df.height, f"{target} not in labels: " +
                     ", ".join(f"{r[0]} ({r[1]})" for r in outside.iter_rows()))
    if df.height == 0:
        raise DataError("no samples left after filtering; check [DATA] labels, filter and the duration limits")
    return df


def _bin_target(df: pl.DataFrame, target: str, bins: list, labels: list) -> pl.DataFrame:
    """Turn a numeric target into classes (nkululeko's ``type = continuous``)."""
    if bins:
        edges = [float(b) for b in bins]
        inner = edges[1:-1] if len(edges) > 2 else edges
    else:
        inner = df[target].quantile(1 / 3), df[target].quantile(2 / 3)
        inner = [float(x) for x in inner]
    names = [str(x) for x in labels] if labels else ["0_low", "1_middle", "2_high"][: len(inner) + 1]
    if len(names) != len(inner) + 1:
        raise DataError(f"[DATA] bins {bins} make {len(inner) + 1} classes but labels has {len(names)}")
    return df.with_columns(pl.col(target).cut(inner, labels=names).cast(pl.String))
