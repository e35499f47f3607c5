"""Running a plan: each stage reads and writes catalog tables, skipping what is already there."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from nkl.catalog.store import write_text, writing
from nkl.context import RunContext
from nkl.errors import NklError, WorkspaceError
from nkl.features.ray_engine import engine_for
from nkl.plan.plan import Plan
from nkl.plan.prewarm import start_prewarm
from nkl.plan.runs import RunResult, cached_result, count_rejects, package_versions, plan_hash, record_run
from nkl.plan.stages import ScaleStage, new_state

__all__ = ["RunResult", "cached_result", "execute", "package_versions", "plan_hash"]


def _attach_log(ctx: RunContext, folder: Path) -> tuple[logging.Handler, Path]:
    path = folder / "logs" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}.log"
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    ctx.log.addHandler(handler)
    if ctx.log.level == logging.NOTSET or ctx.log.level > logging.DEBUG:
        ctx.log.setLevel(logging.DEBUG)
    return handler, path


def _tidy(ctx: RunContext) -> None:
    """Merge the parts of tables that have grown many (one per experiment, per flush): queries stay fast; remove temp
    files that killed writes left over an hour ago. A failure leaves the parts as they were and never fails the
    finished experiment."""
    from nkl.catalog.maintenance import maybe_compact, sweep_leftovers

    try:
        sweep_leftovers(ctx.workspace)
        maybe_compact(ctx.workspace, ctx.workspace.table_names())
    except (NklError, OSError, pl.exceptions.PolarsError) as exc:
        ctx.log.warning("the workspace's tables were not compacted (%s); run `nkl catalog compact` later", exc)


def execute(plan: Plan, ctx: RunContext, *, workers: int | None = None) -> RunResult:
    """Run every stage of the plan, each skipping what the catalog already holds; return this experiment's results."""
    c, ws, name = plan.config, ctx.workspace, plan.name
    state = new_state()
    state.workers = workers
    state.engine = engine_for(c.exp.engine, c.exp.ray_address)
    state.folder = ws.experiment_dir(name)
    handler, log_path = _attach_log(ctx, state.folder)
    warming: list = []

    def prewarm() -> None:
        if not warming:
            warming.append(start_prewarm(c, plan.task))
            if c.model.type != "finetune":  # the plot libraries load in their own process (this one's memory stays lower)
                from nkl.evaluate.plot_process import PlotProcess

                state.plotter = PlotProcess(idle=True)  # extraction has the cores: it loads in what they leave

    state.on_work = prewarm
    try:
        with ws.deferred_views():  # one refresh of the catalog's views for all the tables this run writes
            for warning in plan.warnings:
                ctx.log.warning(warning)
            text = c.redacted_text()  # secrets (hf_token, ...) stay in the user's own INI only
            ctx.log.debug("config %s:\n%s", c.hash, text)
            write_text(text, state.folder / "config.ini")
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
            _tidy(ctx)
        return result
    except BaseException as exc:
        ctx.log.debug("run failed: %r", exc)
        runs = ws.read_part("runs", name)
        if runs is not None:
            if state.run_id in runs["run_id"].to_list():
                row = runs.filter(pl.col("run_id") == state.run_id).row(0, named=True)
                try:
                    record_run(ctx, plan, {**row, "duration_s": time.monotonic() - state.started,
                                           "status": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"})
                except WorkspaceError as failed:  # a full or read-only disk: report the error that stopped the run
                    ctx.log.debug("could not mark the run failed: %s", failed)
        raise
    finally:
        if state.engine is not None:
            state.engine.close()
        ctx.log.removeHandler(handler)
        handler.close()
