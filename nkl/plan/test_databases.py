"""``[DATA] tests``: extra databases scored by the experiment's best saved model after training (nkululeko's `testing`).

Each test database is imported and filtered like a training database, its features come from the same content-addressed
cache, and the saved bundle (scaler, classes, model) predicts it: nothing is refitted. Predictions, results (bootstrap
CIs) and splits go to parts named ``<experiment>.tests`` with ``split`` = the database's name. Nothing is recomputed
when neither the fitted plan nor the test databases changed.
"""

from __future__ import annotations

import dataclasses
import json

import polars as pl

from nkl.catalog.schemas import SPLITS, check_schema
from nkl.catalog.store import write_text
from nkl.context import RunContext
from nkl.data.filters import prepare_target
from nkl.data.load import filter_databases, load_database
from nkl.errors import DataError, ModelError
from nkl.evaluate.results import results_table
from nkl.hashing import stable_hash
from nkl.plan.runs import stored_predictions
from nkl.plan.stages import RunState, Stage

CACHE_FILE = "tests.json"


def part_name(experiment: str) -> str:
    return f"{experiment}.tests"


class TestsStage(Stage):
    """Score each ``[DATA] tests`` database with the best saved model."""

    __test__ = False  # not a pytest class
    kind = "tests"

    @property
    def detail(self) -> str:
        dbs = "; ".join(f"{name}: {db.type} {db.path}" for name, db in self.plan.config.test_databases)
        return f"{dbs} (scored by the best saved model, nothing refitted)"

    def _samples(self, ctx: RunContext, name: str, db, labels: list[str]) -> pl.DataFrame:
        c = self.plan.config
        samples = filter_databases(ctx, c, [load_database(ctx, c, name, db)])
        loose = c if c.data.type == "continuous" else dataclasses.replace(c, data=dataclasses.replace(c.data, labels=[]))
        samples = prepare_target(ctx, loose, samples, self.plan.task)
        if self.plan.task == "classification":
            outside = samples.filter(~pl.col(c.data.target).is_in(labels))
            if outside.height:
                ctx.log.warning("test database %s: %d sample(s) with classes the model does not know are left out (%s)", name,
                                outside.height, ", ".join(sorted(set(outside[c.data.target].to_list()))))
                samples = samples.filter(pl.col(c.data.target).is_in(labels))
        if samples.height == 0:
            raise DataError(f"[DATA] tests: database '{name}' has no sample left to score (check its labels and filters)")
        return samples

    def _key(self, state: RunState, imported: dict[str, pl.DataFrame]) -> str:
        hashes = {name: sorted(set(frame["import_hash"].to_list())) if "import_hash" in frame.columns else frame["sample"].to_list()
                  for name, frame in imported.items()}
        return stable_hash([state.plan_hash, hashes, [dataclasses.asdict(db) for _, db in self.plan.config.test_databases]])

    def run(self, ctx: RunContext, state: RunState) -> None:
        from nkl.models.bundle import ModelBundle
        from nkl.predict.apply_model import apply_bundle

        c, ws, name = self.plan.config, ctx.workspace, self.plan.name
        result = state.cached if state.cached is not None else state.result
        folder = ws.experiment_dir(name)
        try:
            bundle = ModelBundle.load(folder / "model")
        except (ModelError, OSError) as exc:
            raise ModelError(f"[DATA] tests: the saved model of '{name}' cannot be loaded ({exc}); run the experiment again") from None
        labels = list(bundle.manifest.get("labels") or [])
        imported = {tname: self._samples(ctx, tname, db, labels) for tname, db in c.test_databases}
        key = self._key(state, imported)
        cache = folder / CACHE_FILE
        stored = ws.read_part("results", part_name(name))
        if stored is not None and cache.is_file() and json.loads(cache.read_text()).get("key") == key:
            ctx.log.info("%s: test databases unchanged since the last run; results from the catalog", name)
            result.tests = stored
            return
        predictions, splits = [], []
        for tname, samples in imported.items():
            applied = apply_bundle(ctx, bundle, samples, workers=state.workers or c.feats.workers, engine=state.engine)
            truth = samples.select("sample", "speaker", pl.col(c.data.target).alias("truth"))
            predictions.append(applied.drop("file").join(truth, on="sample", how="inner").with_columns(
                experiment=pl.lit(name), run=pl.lit(result.best_run, pl.Int64), fold=pl.lit(-1, pl.Int64), split=pl.lit(tname)))
            splits.append(samples.select("sample", split=pl.lit(tname)))
            ctx.log.info("test database %s: %d samples scored", tname, applied.height)
        frame = pl.concat(predictions, how="diagonal_relaxed")
        ordered = ["experiment", "run", "fold", "sample", "speaker", "split", "truth", "predicted"]
        frame = frame.select(*ordered, *[col for col in frame.columns if col not in ordered])
        if self.plan.task != "classification":
            frame = frame.with_columns(pl.col("truth").cast(pl.Float64), pl.col("predicted").cast(pl.Float64),
                                       uncertainty=pl.lit(None, pl.Float64))
        results = results_table(name, self.plan.task, frame, labels, c.exp.seed)
        ws.write_part("predictions", part_name(name), stored_predictions(frame, self.plan.task))
        ws.write_part("results", part_name(name), results)
        split_rows = pl.concat(splits).with_columns(experiment=pl.lit(name), split_hash=pl.lit(key))
        ws.write_part("splits", part_name(name), check_schema(split_rows, SPLITS, "splits").select(list(SPLITS)))
        write_text(json.dumps({"key": key}), cache)
        result.tests = results

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        stored = ctx.workspace.read_part("results", part_name(self.plan.name))
        return "scored before (rescored only if the model or a test database changed)" if stored is not None else "to score"
