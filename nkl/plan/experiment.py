"""The Python API: an immutable experiment builder that yields the same plan as an INI file.

Example:
    >>> import nkl
    >>> exp = (nkl.Experiment(root="results", name="emodb_svm")
    ...        .load("emodb", "data/emodb/emodb.csv", split_strategy=["03", "08", "09", "10"])
    ...        .target("emotion")
    ...        .features("os", set="eGeMAPSv02")
    ...        .scale("standard")
    ...        .fit("svm", C_val=1.0))
    >>> [s.kind for s in exp.plan().steps]  # doctest: +SKIP
    ['load', 'filter', 'split', 'features', 'scale', 'fit', 'evaluate']
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from nkl.catalog.workspace import Workspace
from nkl.config.config import Config
from nkl.config.loader import load_config
from nkl.config.sections import DatabaseSection, DataSection, ExpSection, FeatsSection, ModelSection, PlotSection
from nkl.context import NullProgress, Progress, RunContext


def _replace(obj: Any, section: str, changes: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(obj)}
    unknown = [k for k in changes if k not in known]
    if unknown:
        from nkl.choices import did_you_mean
        from nkl.errors import ConfigError

        raise ConfigError(f"Unknown key '{unknown[0]}' for [{section}]{did_you_mean(unknown[0], sorted(known))}")
    return dataclasses.replace(obj, **changes)


class Experiment:
    """Builds a ``Config`` step by step; every method returns a new Experiment. Nothing runs until ``run()``."""

    def __init__(self, config: Config | None = None, **exp: Any) -> None:
        base = config or Config(exp=ExpSection(), data=DataSection(), databases=(), feats=FeatsSection(),
                                model=ModelSection(), plot=PlotSection())
        config = dataclasses.replace(base, exp=_replace(base.exp, "EXP", exp)) if exp else base
        if not config.exp.name:
            config = dataclasses.replace(config, exp=dataclasses.replace(config.exp, name="exp"))
        self._config = config

    @classmethod
    def from_ini(cls, path: str | Path) -> Experiment:
        """The experiment an INI file describes (nkl's or nkululeko's)."""
        return cls(load_config(path))

    @property
    def config(self) -> Config:
        return self._config

    def _with(self, **sections: Any) -> Experiment:
        return Experiment(dataclasses.replace(self._config, **sections))

    def load(self, name: str, path: str | Path, **db_keys: Any) -> Experiment:
        """Add a database (CSV file or audformat folder); keys as in ``[DATA] <name>.<key>``."""
        db = _replace(DatabaseSection(path=str(path)), f"DATA {name}.", db_keys)
        if not db.type:
            db = dataclasses.replace(db, type="csv" if str(path).lower().endswith(".csv") else "audformat")
        dbs = (*((n, d) for n, d in self._config.databases if n != name), (name, db))
        data = dataclasses.replace(self._config.data, databases=[n for n, _ in dbs])
        return self._with(databases=dbs, data=data)

    def target(self, column: str, **data_keys: Any) -> Experiment:
        """The column to predict; other ``[DATA]`` keys (labels, filters) may be given too."""
        return self._with(data=_replace(self._config.data, "DATA", {"target": column, **data_keys}))

    def filter(self, **data_keys: Any) -> Experiment:
        """Global ``[DATA]`` filters, e.g. ``min_duration_of_sample=1.0`` or ``filter={'gender': 'female'}``."""
        return self._with(data=_replace(self._config.data, "DATA", data_keys))

    def features(self, *types: str, **feats_keys: Any) -> Experiment:
        """Feature extractors (``[FEATS] type``) and their keys: shared ones (``workers=2``) or an extractor's own, spelled
        as in the INI (``set="ComParE_2016"``, or ``**{"wav2vec2.layer": 2}``)."""
        changes = {"type": list(types)} if types else {}
        return Experiment(self._config.replace("feats", **changes, **feats_keys))

    def scale(self, method: str) -> Experiment:
        """Feature scaling fitted on training data: standard, robust, minmax or speaker."""
        return self._with(feats=_replace(self._config.feats, "FEATS", {"scale": method}))

    def fit(self, model: str, **model_keys: Any) -> Experiment:
        """The model (``[MODEL] type``) and its hyper-parameters (checked when the plan is built)."""
        return Experiment(self._config.replace("model", type=model, **model_keys))

    def options(self, **exp_keys: Any) -> Experiment:
        """``[EXP]`` keys such as runs, epochs, seed, traindevtest."""
        return self._with(exp=_replace(self._config.exp, "EXP", exp_keys))

    def plan(self):
        """The validated plan (raises ConfigError for an incomplete or wrong experiment)."""
        from nkl.plan.plan import Plan

        return Plan(self._config)

    def explain(self) -> str:
        """The plan's steps and what the catalog already holds for each."""
        from nkl.plan.explain import explain_text

        return explain_text(self.plan(), RunContext(Workspace(self._config.exp.root)))

    def run(self, *, progress: Progress | None = None, log: logging.Logger | None = None):
        """Execute the plan; return a ``RunResult``."""
        from nkl.plan.execute import execute

        ctx = RunContext(Workspace(self._config.exp.root), log or logging.getLogger("nkl"), progress or NullProgress())
        return execute(self.plan(), ctx)
