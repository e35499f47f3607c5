"""Running a plan: each stage reads and writes catalog tables, skipping what is already there."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from nkl.catalog.store import write_text
from nkl.context import RunContext
from nkl.plan.plan import Plan
from nkl.plan.prewarm import start_prewarm
from nkl.plan.runs import RunResult, cached_result, count_rejects, package_versions, plan_hash, record_run
from nkl.plan.stages import ScaleStage, new_state

__all__ = ["RunResult", "cached_result", "execute", "package_versions", "plan_hash"]


def _attach_log(ctx: RunContext, folder: Path) -> tuple[logging.Handler, Path]:
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    path = folder / "logs" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    ctx.log.addHandler(handler)
    if ctx.log.level == logging.NOTSET or ctx.log.level > logging.DEBUG:
        ctx.log.setLevel(logging.DEBUG)
    return handler, path


def execute(plan: Plan, ctx: RunContext, *, workers: int | None = None) -> RunResult:
    """Run every stage of the plan, each skipping what the catalog already holds; return this experiment's results."""
    c, ws, name = plan.config, ctx.workspace, plan.name
    state = new_state()
    state.workers = workers
    state.folder = ws.experiment_dir(name)
    handler, log_path = _attach_log(ctx, state.folder)
    warming: list = []

    def prewarm() -> None:
        if not warming:
            warming.append(start_prewarm(c, plan.task))

    state.on_work = prewarm
    try:
        for warning in plan.warnings:
            ctx.log.warning(warning)
        ctx.log.debug("config %s:\n%s", c.hash, c.source or c.to_ini())
        write_text(c.source or c.to_ini(), state.folder / "config.ini")
        for stage in plan.stages:
            if isinstance(stage, ScaleStage):  # the fit needs the libraries that the prewarm thread is loading
                ctx.log.debug("features ready after %.2f s", time.monotonic() - state.started)
                for thread in warming:
                    thread.join()
            stage.run(ctx, state)
            if isinstance(stage, ScaleStage) and state.cached is not None:
                ctx.log.info("%s: fit and evaluation unchanged since the last run (plan %s); nothing to recompute", name, state.plan_hash)
        result = state.cached if state.cached is not None else state.result
        result.extraction, result.log_file, result.n_samples = state.reports, log_path, state.counts
        result.rejected = count_rejects(ctx, plan, state.splits)
        return result
    except BaseException as exc:
        ctx.log.debug("run failed: %r", exc)
        if ws.part_path("runs", name).exists():
            runs = pl.read_parquet(ws.part_path("runs", name))
            if state.run_id in runs["run_id"].to_list():
                row = runs.filter(pl.col("run_id") == state.run_id).row(0, named=True)
                record_run(ctx, plan, {**row, "duration_s": time.monotonic() - state.started,
                                       "status": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"})
        raise
    finally:
        ctx.log.removeHandler(handler)
        handler.close()
