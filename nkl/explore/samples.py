"""The samples an exploration covers: the config's databases after its filters, with the cleaned target and a split.

They are written to ``explore_samples`` (experiment, sample, speaker, split, target, target_num), which the SQL
views of ``sql/`` join with every other column of the sample.
"""

from __future__ import annotations

import polars as pl

from nkl.catalog.schemas import EXPLORE_SAMPLES, check_schema
from nkl.config.config import Config
from nkl.context import RunContext
from nkl.data import assign_splits, load_databases, prepare_target
from nkl.errors import ConfigError, DataError


def explore_task(config: Config, raw: pl.DataFrame) -> str:
    """classification or regression: [EXP] type, else the [MODEL]'s task, else numeric targets with many values are regression."""
    if config.exp.type:
        return config.exp.type
    if config.model.type:
        from nkl.models import get_model_spec

        return get_model_spec(config.model.type).task
    if config.data.type == "continuous":
        return "classification"
    values = raw[config.data.target].drop_nulls()
    numbers = values.cast(pl.Float64, strict=False)
    return "regression" if numbers.null_count() == 0 and values.n_unique() > 10 else "classification"


def explore_samples(ctx: RunContext, config: Config) -> tuple[pl.DataFrame, str]:
    """Selected samples with ``split`` (train/dev/test, or all train when the databases give no test split); and the task."""
    if not config.data.target:
        raise ConfigError("[DATA] target is missing; name the column to explore against, e.g. `target = emotion`")
    df = load_databases(ctx, config)
    task = explore_task(config, df)
    df = prepare_target(ctx, config, df, task)
    try:
        df, _ = assign_splits(ctx, config, df)
    except DataError as exc:
        ctx.log.info("no train/test split (%s); every sample counts as train, importance uses an inner speaker split", exc)
        df = df.with_columns(split=pl.lit("train"))
    selection = config.expl.sample_selection or config.exp.sample_selection
    if selection != "all":
        df = df.filter(pl.col("split") == selection)
        if df.height == 0:
            raise DataError(f"no {selection} samples to explore (sample_selection = {selection})")
    return df, task


def write_explore_samples(ctx: RunContext, name: str, df: pl.DataFrame, target: str) -> None:
    """The explored samples and their target as the table ``explore_samples`` (one part per experiment)."""
    rows = df.select(
        experiment=pl.lit(name), sample="sample", speaker="speaker", split="split",
        target=pl.col(target).cast(pl.String), target_num=pl.col(target).cast(pl.Float64, strict=False),
    )
    ctx.workspace.write_part("explore_samples", name, check_schema(rows, EXPLORE_SAMPLES, "explore_samples"))
