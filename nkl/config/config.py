"""The validated experiment configuration: one immutable value built from an INI or from Python."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nkl.choices import did_you_mean
from nkl.config.sections import (
    CrossdbSection,
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


def _public(section: Any) -> dict[str, Any]:
    """A section as plain data with its secret keys at their defaults."""
    data = dataclasses.asdict(section)
    for f in dataclasses.fields(section):
        if f.metadata.get("secret"):
            data[f.name] = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
    return data


SPLIT_STRATEGIES = ("speaker_split", "balanced", "random", "train", "test", "speakers_stated", "specified", "database")


def _check_file_name(name: str, where: str) -> None:
    """A name that becomes part of a file or folder name in the workspace (an experiment, a database)."""
    if name in (".", "..") or "/" in name or "\\" in name or len(name.encode("utf-8", "replace")) > 200:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ConfigError(f"{where} {shown!r} is used as a file name in the workspace; use a name without '/' or '\\', "
                          "not '.' or '..', of at most 200 bytes")


def _check_filters(section: Any, where: str) -> None:
    """The filter keys shared by [DATA] and each database: a filter's shape and non-negative limits."""
    label = where if where.endswith(".") else where + " "  # "[DATA] db.filter", "[DATA] filter"
    spec = section.filter
    if spec:
        pairs = [spec] if isinstance(spec, (list, tuple)) and not isinstance(spec[0], (list, tuple)) else spec
        if not isinstance(spec, dict) and not (isinstance(pairs, (list, tuple))
                                               and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs)):
            raise ConfigError(f"{label}filter: expected a dict like {{'gender': 'female'}} or {{'emotion': ['anger', 'neutral']}}, "
                              f"got {spec!r}")
    for key in ("limit_samples", "limit_samples_per_speaker", "check_size"):
        if getattr(section, key) < 0:
            raise ConfigError(f"{label}{key} must be 0 (off) or more, got {getattr(section, key)}")


def _check_bins(bins: list) -> None:
    """[DATA] bins: finite numbers in increasing order."""
    if not bins:
        return
    if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bins):
        raise ConfigError(f"[DATA] bins: expected finite numbers like [0, 30, 50, 100], got {bins!r}")
    if any(a >= b for a, b in itertools.pairwise(bins)):
        raise ConfigError(f"[DATA] bins must increase, like [0, 30, 50, 100], got {bins!r}")


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
    test_databases: tuple[tuple[str, DatabaseSection], ...] = ()  # [DATA] tests: scored by the best model after training
    other_databases: tuple[tuple[str, DatabaseSection], ...] = ()  # declared for `nkl multidb` only ([EXP] databases, train_extra)
    crossdb: CrossdbSection = field(default_factory=CrossdbSection)
    other_sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # keys of [FEATS], [MODEL], [PREDICT] that belong to components (an extractor's, a model's, a predictor's own keys), as written
    component_keys: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    source: str = ""
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """The settings as plain data (no source text, path or warnings); secrets (``key(..., secret=True)``, component keys
        such as ``speaker.hf_token``) are left at their defaults or out, so they never enter a hash."""
        from nkl.config.redact import is_secret_key

        return {
            "EXP": _public(self.exp),
            "DATA": _public(self.data),
            "databases": {name: _public(db) for name, db in self.databases},
            "FEATS": _public(self.feats),
            "MODEL": _public(self.model),
            "PLOT": _public(self.plot),
            "PREDICT": _public(self.predict),
            "SEGMENT": _public(self.segment),
            "EXPL": _public(self.expl),
            "components": {section: {k: v for k, v in items if not is_secret_key(section, k)}
                           for section, items in self.component_keys},
        } | ({"test_databases": {name: _public(db) for name, db in self.test_databases}} if self.test_databases else {})

    @property
    def hash(self) -> str:
        """Hash of the settings: equal for equal settings, whatever the INI's layout, comments or secrets."""
        return stable_hash(self.settings())

    def secret_values(self) -> list[str]:
        """The values of every secret key that is set (``[MODEL] hf_token``, ``[PREDICT] speaker.hf_token``, ...)."""
        from nkl.config.redact import is_secret_key, secret_fields

        sections = [self.exp, self.data, self.feats, self.model, self.plot, self.predict, self.segment, self.expl,
                    *([self.report] if self.report is not None else []), *(db for _, db in self.databases)]
        values = [getattr(obj, f.name) for obj in sections for f in secret_fields(type(obj))]
        values += [v for section, items in self.component_keys for k, v in items if is_secret_key(section, k)]
        return [str(v) for v in values if v not in ("", None)]

    def redacted_text(self) -> str:
        """The INI text (as written, else ``to_ini()``) with every secret's value written ``***``: what nkl stores
        (the experiment's config.ini, ``runs.config_text``, logs, reports)."""
        from nkl.config.redact import redact_ini_text

        return redact_ini_text(self.source or self.to_ini(), self.secret_values())

    def raw_section(self, name: str) -> dict[str, str]:
        """The keys of a section another command reads ([OPTIM], [AUGMENT], ...) as written."""
        return dict(dict(self.other_sections).get(name, ()))

    def other_section(self, name: str, known: dict[str, str]) -> dict[str, Any]:
        """A section read by another command ([AUGMENT], [RESAMPLE], [EXPORT]): its keys typed (``known``: key → type
        name for ``coerce``); an unknown key is a ConfigError listing the known ones."""
        from nkl.config.values import coerce, parse_literal

        out: dict[str, Any] = {}
        for key, raw in self.raw_section(name).items():
            if key not in known:
                raise ConfigError(f"Unknown key '{key}' in [{name}]{did_you_mean(key, list(known))} Known keys: {', '.join(known)}")
            out[key] = coerce(parse_literal(raw), known[key], f"[{name}] {key}")
        return out

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
                             *([("REPORT", self.report)] if self.report is not None else []),
                             *([("CROSSDB", self.crossdb)] if self.crossdb != CrossdbSection() else [])):
            lines.append(f"[{section}]")
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                lines.append(f"{f.name} = {value!r}" if not isinstance(value, str) else f"{f.name} = {value}")
            for raw_key, value in self.component_items(section).items():
                lines.append(f"{raw_key} = {value}" if isinstance(value, str) else f"{raw_key} = {value!r}")
            if section == "DATA":
                declared = dict([*self.other_databases, *self.test_databases, *self.databases])
                for name, db in declared.items():
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
        if self.model.k_fold_cross == 1 or self.model.k_fold_cross < 0:
            raise ConfigError(f"[MODEL] k_fold_cross must be 0 (off) or at least 2 folds, got {self.model.k_fold_cross}")
        if self.model.logo and self.model.k_fold_cross:
            raise ConfigError("[MODEL] logo and k_fold_cross are both set; choose one kind of cross-validation")
        _check_file_name(self.exp.name, "[EXP] name")
        if self.plot.name:
            _check_file_name(self.plot.name, "[PLOT] name")
        _check_filters(self.data, "[DATA]")
        _check_bins(self.data.bins)
        self._validate_databases()

    def _validate_databases(self) -> None:
        if self.data.tests and not self.exp.save:
            raise ConfigError("[DATA] tests are scored with the saved best model; set [EXP] save = True (the default)")
        for name, _db in self.test_databases:
            _check_file_name(name, "[DATA] tests: the name")
        for name, db in self.databases:
            _check_file_name(name, "[DATA] databases: the name")
            _check_filters(db, f"[DATA] {name}.")
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
