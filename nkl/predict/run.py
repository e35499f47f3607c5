"""Run predictors over samples; estimates land in ``estimates_<target>`` tables and the ``estimates`` view."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import polars as pl

from nkl.config.components import assign_keys, build_settings
from nkl.context import RunContext
from nkl.features.cache import ExtractionReport, ensure_features
from nkl.predict.registry import Predictor, get_predictor_class, registered_predictors, resolve_targets

logger = logging.getLogger(__name__)


def build_predictors(targets: list[str], config: Any = None, *, section: str = "PREDICT") -> list[Predictor]:
    """One configured predictor per target name, with its own keys from ``config``'s ``[PREDICT]`` (or ``[FEATS]``)."""
    from nkl.config.nkululeko_keys import ignored_keys
    from nkl.config.sections import FeatsSection, PredictSection

    chosen = [(t, get_predictor_class(t)) for t in resolve_targets(targets)]
    items = config.component_items(section) if config is not None else {}
    common = tuple(f.name for f in dataclasses.fields(PredictSection if section == "PREDICT" else FeatsSection))
    per_target, warnings = assign_keys(section, items, chosen, registered_predictors(), ignored=ignored_keys(section), common=common)
    for warning in warnings:
        logger.warning(warning)
    if config is None:
        return [cls(kind=target) for target, cls in chosen]
    common_section = config.predict if section == "PREDICT" else config.feats
    device = common_section.device or config.model.device or "cpu"
    predictors = []
    for target, cls in chosen:
        settings = build_settings(cls.Settings, per_target[target], cls.key_prefix, f"[{section}]")
        extra: dict[str, Any] = {"experiment": config.exp.name}
        if getattr(settings, "hf_token", None) == "" and config.model.hf_token:
            extra["hf_token"] = config.model.hf_token
        predictors.append(cls(settings, kind=target, device=device, batch_size=common_section.batch_size, extra=extra))
    return predictors


def estimate(ctx: RunContext, predictors: list[Predictor], samples: pl.DataFrame, *, workers: int = 0,
             fail_threshold: float = 0.5, engine: Any = None) -> list[ExtractionReport]:
    """Make sure every sample has every estimate; compute only what is missing (content-addressed), on ``engine``
    (None = this machine, a ``RayEngine`` = Ray)."""
    reports = []
    for predictor in predictors:
        reports.append(ensure_features(ctx, predictor, samples, workers=workers, fail_threshold=fail_threshold, engine=engine))
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
