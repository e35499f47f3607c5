"""Run predictors over samples; estimates land in ``estimates_<target>`` tables and the ``estimates`` view."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from nkl.context import RunContext
from nkl.features.cache import ExtractionReport, ensure_features
from nkl.predict.registry import Predictor, get_predictor_class, resolve_targets


def build_predictors(targets: list[str], options_for: Callable[[str], dict] | None = None) -> list[Predictor]:
    """One configured predictor per target name; ``options_for(target)`` gives its options (model, device)."""
    return [get_predictor_class(t)(options_for(t) if options_for else None) for t in resolve_targets(targets)]


def estimate(ctx: RunContext, predictors: list[Predictor], samples: pl.DataFrame, *, workers: int = 0,
             fail_threshold: float = 0.5) -> list[ExtractionReport]:
    """Make sure every sample has every estimate; compute only what is missing (content-addressed)."""
    reports = []
    for predictor in predictors:
        reports.append(ensure_features(ctx, predictor, samples, workers=workers, fail_threshold=fail_threshold))
        predictor.finalize(ctx, samples)  # database-level targets (speaker clustering) work on all rows at once
    return reports


def estimates_for(ctx: RunContext, samples: pl.DataFrame) -> pl.DataFrame:
    """The ``estimates`` rows of these samples (sample, database, est_* columns)."""
    con = ctx.workspace.connect(read_only=True)
    try:
        frame = con.sql("select * from estimates").pl()
    finally:
        con.close()
    return samples.select("sample", "file").join(frame.drop("content_key", "database"), on="sample", how="inner")
