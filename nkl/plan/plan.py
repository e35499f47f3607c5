"""The immutable experiment plan: load → filter → split → features → scale → fit → evaluate.

A ``Plan`` is a validated ``Config`` seen as steps. Building one does no work; ``execute`` runs it and
``explain`` prints the steps with what the catalog already holds for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nkl.config.config import Config
from nkl.features.registry import Extractor, build_extractors
from nkl.models.registry import get_model_spec


@dataclass(frozen=True)
class Step:
    """One step of a plan: its kind and a one-line description of what it does."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Plan:
    """What an experiment will do; validated when built, run by ``nkl.plan.execute``."""

    config: Config

    def __post_init__(self) -> None:
        self.config.validate()

    @property
    def name(self) -> str:
        return self.config.exp.name

    @property
    def task(self) -> str:
        return self.config.exp.type or get_model_spec(self.config.model.type).task

    @cached_property
    def extractors(self) -> list[Extractor]:
        return build_extractors(self.config.feats)

    @property
    def steps(self) -> tuple[Step, ...]:
        c = self.config
        steps = [Step("load", f"{name}: {db.type} {db.path}") for name, db in c.databases]
        filters = [f"labels {c.data.labels}" if c.data.labels else "", f"filter {c.data.filter}" if c.data.filter else "",
                   f"min {c.data.min_duration_of_sample} s" if c.data.min_duration_of_sample else "",
                   f"max {c.data.max_duration_of_sample} s" if c.data.max_duration_of_sample else "",
                   f"{c.data.limit_samples_per_speaker} per speaker" if c.data.limit_samples_per_speaker else ""]
        steps.append(Step("filter", f"target {c.data.target} ({self.task}); " + (", ".join(f for f in filters if f) or "no filters")))
        for name, db in c.databases:
            strategy = db.split_strategy if isinstance(db.split_strategy, str) else f"test speakers {db.split_strategy}"
            steps.append(Step("split", f"{name}: {strategy}{' + dev' if c.exp.traindevtest else ''} (seed {c.exp.seed})"))
        for ext in self.extractors:
            steps.append(Step("features", f"{ext.table} {ext.params()} spec {ext.spec_hash}"))
        steps.append(Step("scale", f"{c.feats.scale or 'none'}, NaN → {c.feats.nan_strategy} (fitted on train)"))
        cv = f", speaker-grouped {c.model.logo}-fold" if c.model.logo else ""
        steps.append(Step("fit", f"{c.model.type}, {c.exp.runs} run(s){cv}"))
        steps.append(Step("evaluate", "metrics with bootstrap 95 % CI, plots, best model saved" if c.exp.save else "metrics with bootstrap 95 % CI, plots"))
        return tuple(steps)
