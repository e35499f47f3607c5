"""The stages of an experiment plan: load → filter → split (→ augment) → features (one per extractor) → scale → fit → evaluate.

``execute`` runs each stage's ``run``; ``explain`` asks each the same objects' ``inspect`` (what the catalog
already holds, writing nothing). Stages are built, and their settings checked, when the ``Plan`` is built.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from nkl.catalog.schemas import SPLITS, check_schema
from nkl.context import RunContext
from nkl.data import assign_splits, prepare_target
from nkl.data.load import filter_databases, load_database, min_bytes
from nkl.data.samples import cached_samples, read_source
from nkl.features.cache import ExtractionReport, ensure_features, known_keys
from nkl.features.registry import Extractor
from nkl.models.train import fit_and_predict
from nkl.plan.runs import cached_result, feature_matrix, finish_run, package_versions, plan_hash, record_run


@dataclass
class RunState:
    """What the stages of one execution (or one explanation) hand each other."""

    run_id: str = ""
    started: float = 0.0
    start_time: datetime | None = None
    imported: dict[str, pl.DataFrame] = field(default_factory=dict)
    selected: pl.DataFrame | None = None
    splits: pl.DataFrame | None = None
    split_hash: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    reports: list[ExtractionReport] = field(default_factory=list)
    on_work: Any = None  # called once before the first extraction (starts the prewarm thread)
    plotter: Any = None  # nkl.evaluate.plot_process.PlotProcess: started with the extraction, else before the fit
    workers: int | None = None  # extraction processes asked for on the command line
    engine: Any = None  # where missing rows are computed: None = this machine, a RayEngine = Ray ([EXP] engine)
    plan_hash: str = ""
    cached: Any = None  # the stored RunResult when the fit and evaluation are unchanged
    base_row: dict[str, Any] = field(default_factory=dict)
    design: Any = None
    predictions: pl.DataFrame | None = None
    fitted: list = field(default_factory=list)
    result: Any = None
    folder: Path | None = None
    missing_import: bool = False  # explain: a database is not imported yet, so later stages cannot say more
    pending_copies: int = 0  # explain: augmented copies not imported yet (their features are counted after augmenting)


class Stage:
    """One step of the plan: ``kind`` and ``detail`` describe it; ``run`` does it; ``inspect`` says what is cached."""

    kind: ClassVar[str]

    def __init__(self, plan: Any) -> None:
        self.plan = plan

    @property
    def detail(self) -> str:
        raise NotImplementedError

    def run(self, ctx: RunContext, state: RunState) -> None:
        raise NotImplementedError

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        return ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stage) and (self.kind, self.detail) == (other.kind, other.detail)

    def __hash__(self) -> int:
        return hash((self.kind, self.detail))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


class LoadStage(Stage):
    """Import one database into ``samples`` (cached by the CSV's and the audio files' content) and apply its own filters."""

    kind = "load"

    def __init__(self, plan: Any, name: str, db: Any) -> None:
        super().__init__(plan)
        self.name, self.db = name, db

    @property
    def detail(self) -> str:
        return f"{self.name}: {self.db.type} {self.db.path}"

    def run(self, ctx: RunContext, state: RunState) -> None:
        state.imported[self.name] = load_database(ctx, self.plan.config, self.name, self.db)

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        c = self.plan.config
        _rows, stats, import_hash = read_source(self.name, self.db, c.data.target, min_bytes(c, self.db))
        if cached_samples(ctx, self.name, import_hash) is None:
            state.missing_import = True
            return f"to import: {len(stats)} files to probe and hash"
        self.run(ctx, state)
        return f"cached: {state.imported[self.name].height} samples"


class FilterStage(Stage):
    """Filters over all databases, the labels to keep, and the target cleaned (or binned) for the task."""

    kind = "filter"

    @property
    def detail(self) -> str:
        d = self.plan.config.data
        filters = [f"labels {d.labels}" if d.labels else "", f"filter {d.filter}" if d.filter else "",
                   f"min {d.min_duration_of_sample} s" if d.min_duration_of_sample else "",
                   f"max {d.max_duration_of_sample} s" if d.max_duration_of_sample else "",
                   f"{d.limit_samples_per_speaker} per speaker" if d.limit_samples_per_speaker else ""]
        return f"target {d.target} ({self.plan.task}); " + (", ".join(f for f in filters if f) or "no filters")

    def run(self, ctx: RunContext, state: RunState) -> None:
        c = self.plan.config
        merged = filter_databases(ctx, c, [state.imported[name] for name, _ in c.databases])
        state.selected = prepare_target(ctx, c, merged, self.plan.task)

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        if state.missing_import:
            return "after import"
        self.run(ctx, state)
        return f"{state.selected.height} samples selected"


class SplitStage(Stage):
    """Train/dev/test (or speaker-grouped folds) per database; stored in ``splits`` with the split hash."""

    kind = "split"

    @property
    def detail(self) -> str:
        c = self.plan.config
        parts = []
        for name, db in c.databases:
            strategy = db.split_strategy if isinstance(db.split_strategy, str) else f"test speakers {db.split_strategy}"
            parts.append(f"{name}: {strategy}{' + dev' if c.exp.traindevtest else ''}")
        return "; ".join(parts) + f" (seed {c.exp.seed})"

    def _assign(self, ctx: RunContext, state: RunState) -> None:
        state.splits, state.split_hash = assign_splits(ctx, self.plan.config, state.selected)
        state.counts = dict(state.splits["split"].value_counts().iter_rows())

    def run(self, ctx: RunContext, state: RunState) -> None:
        self._assign(ctx, state)
        store_splits(ctx, self.plan.name, state)

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        if state.missing_import:
            return "after import"
        self._assign(ctx, state)
        return f"{', '.join(f'{k} {v}' for k, v in sorted(state.counts.items()))} (split {state.split_hash})"


def store_splits(ctx: RunContext, name: str, state: RunState) -> None:
    """The experiment's part of ``splits``: each sample's split and the split hash."""
    rows = check_schema(state.splits.select("sample", "split").with_columns(experiment=pl.lit(name), split_hash=pl.lit(state.split_hash)),
                        SPLITS, "splits").select(list(SPLITS))
    ctx.workspace.write_part("splits", name, rows)
    ctx.log.info("%s: %d samples (%s), split %s", name, state.splits.height,
                 ", ".join(f"{k} {v}" for k, v in sorted(state.counts.items())), state.split_hash)


class FeaturesStage(Stage):
    """One extractor's rows for every sample, content-addressed: only missing rows are computed."""

    kind = "features"

    def __init__(self, plan: Any, extractor: Extractor) -> None:
        super().__init__(plan)
        self.extractor = extractor

    @property
    def detail(self) -> str:
        return f"{self.extractor.table}: {self.extractor.describe()}, spec {self.extractor.spec_hash}"

    def run(self, ctx: RunContext, state: RunState) -> None:
        c = self.plan.config
        workers = state.workers if state.workers is not None else c.feats.workers
        state.reports.append(ensure_features(ctx, self.extractor, state.splits, workers=workers, fail_threshold=c.feats.fail_threshold,
                                             on_work=state.on_work, engine=state.engine))

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        if state.splits is None:
            return "after import"
        keys = set(self.extractor.keyed(state.splits)["content_key"].to_list())
        done, failed = known_keys(ctx, self.extractor)
        have, bad = len(keys & done), len(keys & set(failed))
        todo = len(keys) - have - bad
        return (f"cached: {have} of {len(keys)}" + (f", {bad} rejected" if bad else "") + (f"; to extract: {todo}" if todo else "")
                + (f"; + {state.pending_copies} augmented copies after augmenting" if state.pending_copies else ""))


class ScaleStage(Stage):
    """Scaling and NaN filling, fitted on the rows each model trains on (part of the fit's cache key)."""

    kind = "scale"

    @property
    def detail(self) -> str:
        f = self.plan.config.feats
        return f"{f.scale or 'none'}, NaN → {f.nan_strategy} (fitted on train)"

    def run(self, ctx: RunContext, state: RunState) -> None:
        state.plan_hash = plan_hash(self.plan, state.split_hash)
        state.cached = cached_result(ctx, self.plan, state.plan_hash)
        model = ctx.workspace.experiment_dir(self.plan.name) / "model" / "bundle.json"
        if state.cached is not None and self.plan.config.test_databases and not model.is_file():
            ctx.log.info("%s: results are stored but the saved model that [DATA] tests needs is not; fitting again", self.plan.name)
            state.cached = None

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        if state.splits is None:
            return "after import"
        self.run(ctx, state)
        return f"cached: results unchanged (plan {state.plan_hash})" if state.cached is not None else "to compute"


class FitStage(Stage):
    """The model's runs (or speaker-grouped folds) on the feature matrix; the best run is chosen on dev."""

    kind = "fit"

    @property
    def detail(self) -> str:
        c = self.plan.config
        cv = (f", speaker-grouped {c.model.logo}-fold" if c.model.logo
              else f", stratified speaker-grouped {c.model.k_fold_cross}-fold" if c.model.k_fold_cross else "")
        shown = ", ".join(f"{k} {v}" for k, v in self.plan.model_settings_dict.items())
        return f"{c.model.type}{f' ({shown})' if shown else ''}, {c.exp.runs} run(s){cv}"

    def run(self, ctx: RunContext, state: RunState) -> None:
        if state.cached is not None:
            return
        c, name = self.plan.config, self.plan.name
        state.base_row = {"experiment": name, "run_id": state.run_id, "config_text": c.redacted_text(), "config_hash": c.hash,
                          "plan_hash": state.plan_hash, "split_hash": state.split_hash,
                          "feature_spec": json.dumps([e.spec() for e in self.plan.extractors], sort_keys=True),
                          "versions": json.dumps(package_versions(), sort_keys=True), "seed": c.exp.seed,
                          "start": state.start_time, "duration_s": None, "status": "running", "best_run": None,
                          "task": self.plan.task, "eval_split": self.plan.eval_split}
        record_run(ctx, self.plan, state.base_row)
        if c.model.type == "finetune":  # trains on the audio of the splits, not on a feature matrix
            from nkl.finetune.fit import fit_finetune

            fit_finetune(ctx, self.plan, state, ctx.progress)
            return
        if state.plotter is None:  # features were cached: the plot libraries load in a second process during the fit
            from nkl.evaluate.plot_process import PlotProcess

            state.plotter = PlotProcess()
        state.design = feature_matrix(ctx, self.plan, state.splits)
        ctx.log.debug("feature matrix %s ready after %.2f s", state.design.X.shape, time.monotonic() - state.started)
        predictions, state.fitted = fit_and_predict(c, state.design, ctx.log, ctx.progress)
        state.predictions = predictions.with_columns(experiment=pl.lit(name)).select("experiment", pl.exclude("experiment"))
        ctx.log.debug("trained after %.2f s", time.monotonic() - state.started)

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        if state.splits is None:
            return "after import"
        return f"cached: results unchanged (plan {state.plan_hash})" if state.cached is not None else "to compute"


class EvaluateStage(Stage):
    """Metrics with bootstrap CIs, the result plots, and (with [EXP] save) the best run's model bundle."""

    kind = "evaluate"

    @property
    def detail(self) -> str:
        return "metrics with bootstrap 95 % CI, plots" + (", best model saved" if self.plan.config.exp.save else "")

    def run(self, ctx: RunContext, state: RunState) -> None:
        if state.cached is None:
            finish_run(ctx, self.plan, state)

    inspect = FitStage.inspect


def build_stages(plan: Any) -> tuple[Stage, ...]:
    from nkl.plan.test_databases import TestsStage

    c = plan.config
    tests = (TestsStage(plan),) if c.test_databases else ()
    augment: tuple[Stage, ...] = ()
    if plan.augment is not None:
        from nkl.plan.augment_stage import AugmentStage

        augment = (AugmentStage(plan, plan.augment),)
    return (*(LoadStage(plan, name, db) for name, db in c.databases), FilterStage(plan), SplitStage(plan), *augment,
            *(FeaturesStage(plan, ext) for ext in plan.extractors), ScaleStage(plan), FitStage(plan), EvaluateStage(plan), *tests)


def new_state() -> RunState:
    start_time = datetime.now(UTC)
    return RunState(run_id=f"{start_time:%Y%m%dT%H%M%S%f}", started=time.monotonic(), start_time=start_time)
