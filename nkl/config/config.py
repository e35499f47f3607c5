"""The validated experiment configuration: one immutable value built from an INI or from Python."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkl.choices import did_you_mean
from nkl.config.sections import (
    DatabaseSection,
    DataSection,
    ExplSection,
    ExpSection,
    FeatsSection,
    ModelSection,
    PlotSection,
    PredictSection,
    ReportSection,
    SegmentSection,
)
from nkl.errors import ConfigError
from nkl.hashing import stable_hash

SPLIT_STRATEGIES = ("speaker_split", "random", "train", "test", "speakers_stated", "specified", "database")


@dataclass(frozen=True)
class Config:
    """Every setting of one experiment, typed, with defaults filled in."""

    exp: ExpSection
    data: DataSection
    databases: tuple[tuple[str, DatabaseSection], ...]
    feats: FeatsSection
    model: ModelSection
    plot: PlotSection
    predict: PredictSection = field(default_factory=PredictSection)
    segment: SegmentSection = field(default_factory=SegmentSection)
    expl: ExplSection = field(default_factory=ExplSection)
    report: ReportSection | None = None  # None without [REPORT]; not part of settings(): a report changes no result
    other_sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # keys of [FEATS], [MODEL], [PREDICT] that belong to components (an extractor's, a model's, a predictor's own keys), as written
    component_keys: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    source: str = ""
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """The settings as plain data (no source text, path or warnings)."""
        return {
            "EXP": dataclasses.asdict(self.exp),
            "DATA": dataclasses.asdict(self.data),
            "databases": {name: dataclasses.asdict(db) for name, db in self.databases},
            "FEATS": dataclasses.asdict(self.feats),
            "MODEL": dataclasses.asdict(self.model),
            "PLOT": dataclasses.asdict(self.plot),
            "PREDICT": dataclasses.asdict(self.predict),
            "SEGMENT": dataclasses.asdict(self.segment),
            "EXPL": dataclasses.asdict(self.expl),
            "components": {section: dict(items) for section, items in self.component_keys},
        }

    @property
    def hash(self) -> str:
        """Hash of the settings: equal for equal settings, whatever the INI's layout or comments."""
        return stable_hash(self.settings())

    def component_items(self, section: str) -> dict[str, Any]:
        """The component keys written in one section (``FEATS``, ``MODEL`` or ``PREDICT``), spelled as written."""
        return dict(dict(self.component_keys).get(section, ()))

    def with_component_keys(self, section: str, **items: Any) -> Config:
        """A copy with more component keys in one section (later values replace earlier ones)."""
        merged = {**self.component_items(section), **items}
        rest = tuple((s, i) for s, i in self.component_keys if s != section)
        return dataclasses.replace(self, component_keys=(*rest, (section, tuple(merged.items()))) if merged else rest)

    def to_ini(self) -> str:
        """The settings as an INI text that loads back to the same ``Config``."""
        lines: list[str] = []
        for section, obj in (("EXP", self.exp), ("DATA", self.data), ("FEATS", self.feats),
                             ("MODEL", self.model), ("PLOT", self.plot), ("PREDICT", self.predict),
                             ("SEGMENT", self.segment), ("EXPL", self.expl),
                             *([("REPORT", self.report)] if self.report is not None else [])):
            lines.append(f"[{section}]")
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                lines.append(f"{f.name} = {value!r}" if not isinstance(value, str) else f"{f.name} = {value}")
            for raw_key, value in self.component_items(section).items():
                lines.append(f"{raw_key} = {value}" if isinstance(value, str) else f"{raw_key} = {value!r}")
            if section == "DATA":
                for name, db in self.databases:
                    lines.append(f"{name} = {db.path}")
                    for f in dataclasses.fields(db):
                        if f.name != "path":
                            value = getattr(db, f.name)
                            text = value if isinstance(value, str) else repr(value)
                            lines.append(f"{name}.{f.name} = {text}")
            lines.append("")
        return "\n".join(lines)

    def replace(self, section: str, **changes: Any) -> Config:
        """A copy with keys of one section changed (``section`` is 'exp', 'data', 'feats', 'model', 'plot', ...).

        In 'feats', 'model' and 'predict', keys that are not the section's own are component keys (``C_val``,
        ``wav2vec2.layer``); they are checked when the plan is built.
        """
        current = getattr(self, section)
        known = {f.name for f in dataclasses.fields(current)}
        own = {k: v for k, v in changes.items() if k in known}
        rest = {k: v for k, v in changes.items() if k not in known}
        config = dataclasses.replace(self, **{section: dataclasses.replace(current, **own)})
        if rest:
            if section.upper() not in ("FEATS", "MODEL", "PREDICT"):
                k = next(iter(rest))
                raise ConfigError(f"Unknown key '{k}' for [{section.upper()}]{did_you_mean(k, sorted(known))}")
            config = config.with_component_keys(section.upper(), **rest)
        return config

    def validate_predict(self) -> None:
        """What `nkl predict CONFIG` needs: databases and known prediction targets."""
        if not self.databases:
            raise ConfigError("[DATA] databases is empty; add e.g. `databases = ['emodb']` and `emodb = path/to/emodb.csv`")
        if not self.predict.targets:
            raise ConfigError("[PREDICT] targets is empty; add e.g. `targets = ['snr', 'mos']`")
        self._validate_databases()

    def validate_data(self) -> None:
        """What reading the databases needs."""
        if not self.databases:
            raise ConfigError("[DATA] databases is empty; add e.g. `databases = ['emodb']` and `emodb = path/to/emodb.csv`")
        self._validate_databases()

    def validate(self) -> None:
        """Check what `nkl run` needs before any work starts; raise ConfigError naming the key.

        Names of components (model type, extractors) and their keys are checked when the plan is built.
        """
        if not self.databases:
            raise ConfigError("[DATA] databases is empty; add e.g. `databases = ['emodb']` and `emodb = path/to/emodb.csv`")
        if not self.data.target:
            raise ConfigError("[DATA] target is missing; name the column to predict, e.g. `target = emotion`")
        if not self.model.type:
            for written in self.component_items("MODEL"):
                if did_you_mean(written, ["type"]):
                    raise ConfigError(f"Unknown key '{written}' in [MODEL]; did you mean 'type'?")
            raise ConfigError("[MODEL] type is missing; choose a model, e.g. `type = svm`")
        if not self.feats.type:
            raise ConfigError("[FEATS] type is empty; use e.g. `type = ['os']`")
        if self.exp.runs < 1:
            raise ConfigError(f"[EXP] runs must be at least 1, got {self.exp.runs}")
        if self.exp.epochs < 1:
            raise ConfigError(f"[EXP] epochs must be at least 1, got {self.exp.epochs}")
        if not 0 <= self.feats.fail_threshold <= 1:
            raise ConfigError(f"[FEATS] fail_threshold must be between 0 and 1, got {self.feats.fail_threshold}")
        if self.model.logo == 1 or self.model.logo < 0:
            raise ConfigError(f"[MODEL] logo must be 0 (off) or at least 2 folds, got {self.model.logo}")
        self._validate_databases()

    def _validate_databases(self) -> None:
        for name, db in self.databases:
            strategy = db.split_strategy
            if isinstance(strategy, str) and strategy not in SPLIT_STRATEGIES:
                raise ConfigError(
                    f"[DATA] {name}.split_strategy: unknown value '{strategy}'{did_you_mean(strategy, SPLIT_STRATEGIES)} "
                    f"Choices: {', '.join(SPLIT_STRATEGIES)}, or a list of test speakers"
                )
            if not isinstance(strategy, (str, list, tuple)):
                raise ConfigError(f"[DATA] {name}.split_strategy: expected a name or a list of test speakers, got {strategy!r}")
            for size_key in ("test_size", "dev_size"):
                size = getattr(db, size_key)
                if not 0 < size < 100:
                    raise ConfigError(f"[DATA] {name}.{size_key} is a percentage between 0 and 100, got {size}")
            if strategy == "speakers_stated" and not db.test:
                raise ConfigError(f"[DATA] {name}.split_strategy = speakers_stated needs `{name}.test = ['spk1', ...]`")
            if strategy == "specified" and not db.test_tables:
                raise ConfigError(f"[DATA] {name}.split_strategy = specified needs `{name}.test_tables = [...]`")
            if strategy in ("specified", "database") and db.type != "audformat":
                raise ConfigError(f"[DATA] {name}.split_strategy = {strategy} works with audformat databases only")

    def other(self, section: str) -> dict[str, str]:
        """Raw keys of a section that another command reads (e.g. EXPL, REPORT)."""
        return dict(dict(self.other_sections).get(section, ()))
