"""The augment stage of ``nkl aug_train``: augmented copies of the training rows join the training split.

It runs after the split, so only rows that train are augmented (never a dev or test speaker's audio). The copies are
written by content hash (``nkl.augment``), listed in the ``augmentations`` table and imported as a database of their
own (``<experiment>_aug``) whose samples are in ``samples`` like any other; each copy keeps its source's speaker and
prepared target. The split hash covers the copies, so the fit is cached per augmentation, and the copies' features are
cached like any other audio's.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from nkl.context import RunContext
from nkl.hashing import stable_hash
from nkl.plan.stages import RunState, Stage, store_splits


class AugmentStage(Stage):
    """Augmented copies of the training rows ([AUGMENT]), added to the training split; dev and test stay original."""

    kind = "augment"

    def __init__(self, plan: Any, settings: Any) -> None:
        super().__init__(plan)
        self.settings = settings

    @property
    def database(self) -> str:
        return f"{self.plan.name}_aug"

    @property
    def detail(self) -> str:
        return f"{self.settings.describe()} -> database '{self.database}', training split only"

    def _training_rows(self, state: RunState) -> pl.DataFrame:
        """The training rows as imported (raw labels, so the copies' CSV reads like the source's)."""
        train = state.splits.filter(pl.col("split") == "train")["sample"]
        raw = pl.concat([state.imported[name] for name, _ in self.plan.config.databases], how="diagonal_relaxed")
        return raw.filter(pl.col("sample").is_in(train.implode()))

    def _folder(self, ctx: RunContext) -> Any:
        return ctx.workspace.root / "augmented"

    def _csv(self, ctx: RunContext) -> Any:
        return ctx.workspace.experiment_dir(self.plan.name) / self.settings.result

    def _joined(self, state: RunState, imported: pl.DataFrame) -> None:
        """Add the imported copies to the training split, each with its source's prepared target."""
        target = self.plan.config.data.target
        prepared = state.splits.filter(pl.col("split") == "train").select(pl.col("sample").alias("source_sample"), target)
        copies = imported.drop(target).join(prepared, on="source_sample", how="inner").with_columns(split=pl.lit("train"))
        state.splits = pl.concat([state.splits, copies], how="diagonal_relaxed").sort("split", "sample")
        state.split_hash = stable_hash([state.split_hash, self.settings.spec_hash,
                                        sorted(zip(copies["sample"].to_list(), copies["content_key"].to_list(), strict=True))])
        state.counts = dict(state.splits["split"].value_counts().iter_rows())

    def run(self, ctx: RunContext, state: RunState) -> None:
        from nkl.augment.augment import augment_samples
        from nkl.catalog.store import write_text
        from nkl.config.sections import DatabaseSection
        from nkl.data.load import load_database
        from nkl.errors import ConfigError
        from nkl.export.metadata import database_csv

        if self.database in dict(self.plan.config.databases):
            raise ConfigError(f"[DATA] already has a database named '{self.database}'; rename it (aug_train adds one of that name)")
        augmented, table, written = augment_samples(self._training_rows(state), self.settings, self._folder(ctx), self.plan.name,
                                                    ctx.log, ctx.progress)
        ctx.workspace.write_part("augmentations", self.plan.name, table)
        if augmented.height == 0:
            raise ConfigError("aug_train: nothing was augmented; check [AUGMENT] filter against the training split")
        write_text(database_csv(augmented).write_csv(), self._csv(ctx))
        ctx.log.info("%s: %d augmented copies of %d training samples (%d written now)", self.plan.name, augmented.height,
                     augmented["source_sample"].n_unique(), written)
        db = DatabaseSection(path=str(self._csv(ctx)), type="csv", split_strategy="train")
        self._joined(state, load_database(ctx, self.plan.config, self.database, db))
        store_splits(ctx, self.plan.name, state)

    def inspect(self, ctx: RunContext, state: RunState) -> str:
        from nkl.augment.augment import planned_copies

        if state.splits is None:
            return "after import"
        copies = planned_copies(self._training_rows(state), self.settings, self._folder(ctx))
        have = sum(copy.path.is_file() for copy in copies)
        status = f"cached: {have} of {len(copies)} augmented files" + (f"; to write: {len(copies) - have}" if have < len(copies) else "")
        stored = ctx.workspace.read_part("samples", self.database)  # imported before: later stages can count the copies too
        if stored is not None and {str(copy.path) for copy in copies} <= set(stored["file"].to_list()):
            self._joined(state, stored.filter(pl.col("file").is_in([str(copy.path) for copy in copies])))
            return status + (" (seeded: the same audio again)" if have < len(copies) else "")
        state.pending_copies = len(copies)
        return status + "; their features after augmenting"
