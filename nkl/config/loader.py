"""Read an INI file (nkl's or nkululeko's) into a validated, typed ``Config``."""

from __future__ import annotations

import configparser
import dataclasses
from pathlib import Path
from typing import Any

from nkl.config.config import Config
from nkl.config.nkululeko_keys import NOT_IMPLEMENTED, NOT_IMPLEMENTED_PREFIXES, OTHER_MODULE_SECTIONS
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
    field_meta,
)
from nkl.config.values import check_choice, coerce, did_you_mean, expand_env, parse_literal
from nkl.errors import ConfigError

SECTIONS: dict[str, type] = {
    "EXP": ExpSection,
    "DATA": DataSection,
    "FEATS": FeatsSection,
    "MODEL": ModelSection,
    "PLOT": PlotSection,
    "PREDICT": PredictSection,
    "SEGMENT": SegmentSection,
    "EXPL": ExplSection,
    "REPORT": ReportSection,
}
# sections whose keys beyond the common ones belong to the chosen components (resolved when the plan is built)
COMPONENT_SECTIONS = ("FEATS", "MODEL", "PREDICT")


def _lookup(meta: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Lower-cased key and alias spellings → field name (configparser lower-cases keys)."""
    names: dict[str, str] = {}
    for name, m in meta.items():
        names[name.lower()] = name
        for alias in m["aliases"]:
            names[alias.lower()] = name
    return names


def _not_implemented(section: str, name: str) -> bool:
    if name in {k.lower() for k in NOT_IMPLEMENTED.get(section, ())}:
        return True
    return any(name.startswith(p.lower()) for p in NOT_IMPLEMENTED_PREFIXES.get(section, ()))


def _build(cls: type, items: dict[str, str], where: str, section_id: str, warnings: list[str], *,
           components: dict[str, str] | None = None) -> Any:
    """Validate the raw items of one section against its dataclass and build it.

    With ``components`` (a dict), keys that are not the section's own are put there as written: they belong to
    the section's components and are checked when the plan chooses them.
    """
    meta = field_meta(cls)
    names = _lookup(meta)
    values: dict[str, Any] = {}
    for raw_key, raw_value in items.items():
        name = names.get(raw_key.lower())
        if name is None and components is not None:
            if "\0" in raw_value:
                raise ConfigError(f"{where} {raw_key}: the value holds a NUL byte; remove it")
            components[raw_key] = raw_value
            continue
        if name is None:
            if _not_implemented(section_id, raw_key.lower()):
                warnings.append(f"{where} key '{raw_key}' is a nkululeko key that nkl does not implement yet; ignored")
                continue
            raise ConfigError(
                f"Unknown key '{raw_key}' in {where}{did_you_mean(raw_key, list(meta))} "
                f"Known keys: {', '.join(sorted(meta))}"
            )
        if name in values:
            raise ConfigError(f"{where} sets '{name}' twice (once as an alias spelling); keep one")
        m = meta[name]
        parsed = parse_literal(raw_value)
        if m["path"] and isinstance(parsed, str):
            parsed = expand_env(parsed)
        label = f"{where}{name}" if where.endswith(".") else f"{where} {name}"  # "[DATA] emodb.colnames", "[MODEL] type"
        value = coerce(parsed, m["type"], label)
        if m["choices"] and isinstance(value, str):
            value = check_choice(value, m["choices"], label)
        values[name] = value
    return cls(**values)


def _build_expl(items: dict[str, str], warnings: list[str]) -> ExplSection:
    """[EXPL] with nkululeko's per-column `<col>.bin_reals = True` keys gathered into `bin_reals`."""
    binned = [k.removesuffix(".bin_reals") for k, v in items.items()
              if k.lower().endswith(".bin_reals") and coerce(parse_literal(v), "bool", f"[EXPL] {k}")]
    rest = {k: v for k, v in items.items() if not k.lower().endswith(".bin_reals")}
    expl = _build(ExplSection, rest, "[EXPL]", "EXPL", warnings)
    return dataclasses.replace(expl, bin_reals=[*expl.bin_reals, *binned]) if binned else expl


def _split_data_items(data: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Separate global [DATA] keys from per-database `<db>` / `<db>.<key>` keys."""
    databases = coerce(parse_literal(data.get("databases", "[]")), "list", "[DATA] databases")
    dbs = [str(d) for d in databases]
    lowered = {d.lower(): d for d in dbs}
    global_items: dict[str, str] = {}
    per_db: dict[str, dict[str, str]] = {d: {} for d in dbs}
    data_keys = {k.lower() for k in _lookup(field_meta(DataSection))}
    for raw_key, raw_value in data.items():
        k = raw_key.lower()
        if k in lowered:
            per_db[lowered[k]]["path"] = raw_value
            continue
        head, dot, tail = k.partition(".")
        if dot and head in lowered:
            per_db[lowered[head]][tail] = raw_value
            continue
        if dot and k not in data_keys and not _not_implemented("DATA", k):
            raise ConfigError(
                f"[DATA] key '{raw_key}': '{head}' is not one of databases {dbs}"
                f"{did_you_mean(head, dbs)} Add it to databases or fix the prefix"
            )
        global_items[raw_key] = raw_value
    return global_items, per_db


def read_ini(path: Path) -> configparser.ConfigParser:
    """Parse the INI syntax only, with errors that name the file and line."""
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}; check the path (run from the folder it is relative to)")
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid INI file: {first}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected an INI file in UTF-8)") from None
    return parser


def parse_config(parser: configparser.ConfigParser, *, name: str = "", source: str = "", path: Path | None = None) -> Config:
    """Validate a parsed INI against the known sections and keys; build a ``Config``."""
    warnings: list[str] = []
    raw: dict[str, dict[str, str]] = {}
    others: dict[str, dict[str, str]] = {}
    known = list(SECTIONS) + list(OTHER_MODULE_SECTIONS)
    for section in parser.sections():
        canonical = next((s for s in known if s.lower() == section.lower()), None)
        if canonical is None:
            raise ConfigError(f"Unknown section [{section}]{did_you_mean(section, known)} Known sections: {', '.join(known)}")
        items = dict(parser.items(section))
        if canonical in OTHER_MODULE_SECTIONS:
            others[canonical] = items
            warnings.append(f"section [{canonical}] is read by `{OTHER_MODULE_SECTIONS[canonical]}` (not implemented yet); `nkl run` ignores it")
        else:
            raw[canonical] = items
    exp = _build(ExpSection, raw.get("EXP", {}), "[EXP]", "EXP", warnings)
    if not exp.name:
        exp = dataclasses.replace(exp, name=name or "exp")
    global_items, per_db = _split_data_items(raw.get("DATA", {}))
    data = _build(DataSection, global_items, "[DATA]", "DATA", warnings)
    dbs = []
    for db, items in per_db.items():
        section = _build(DatabaseSection, items, f"[DATA] {db}.", "DATA.<db>", warnings)
        if not section.path:
            raise ConfigError(f"[DATA] database '{db}' has no path; add a line `{db} = path/to/{db}.csv`")
        if not section.type:
            kind = "csv" if section.path.lower().endswith(".csv") else "audformat"
            section = dataclasses.replace(section, type=kind)
        dbs.append((db, section))
    component_keys: dict[str, dict[str, str]] = {s: {} for s in COMPONENT_SECTIONS}
    feats = _build(FeatsSection, raw.get("FEATS", {}), "[FEATS]", "FEATS", warnings, components=component_keys["FEATS"])
    model = _build(ModelSection, raw.get("MODEL", {}), "[MODEL]", "MODEL", warnings, components=component_keys["MODEL"])
    plot = _build(PlotSection, raw.get("PLOT", {}), "[PLOT]", "PLOT", warnings)
    predict = _build(PredictSection, raw.get("PREDICT", {}), "[PREDICT]", "PREDICT", warnings, components=component_keys["PREDICT"])
    segment = _build(SegmentSection, raw.get("SEGMENT", {}), "[SEGMENT]", "SEGMENT", warnings)
    expl = _build_expl(raw.get("EXPL", {}), warnings)
    report = _build(ReportSection, raw["REPORT"], "[REPORT]", "REPORT", warnings) if "REPORT" in raw else None
    return Config(exp=exp, data=data, databases=tuple(dbs), feats=feats, model=model, plot=plot, predict=predict, segment=segment, expl=expl, report=report,
                  other_sections=tuple((k, tuple(v.items())) for k, v in others.items()),
                  component_keys=tuple((s, tuple(items.items())) for s, items in component_keys.items() if items),
                  source=source, path=path, warnings=tuple(warnings))


def load_config(path: str | Path, purpose: str = "run") -> Config:
    """Read and validate an INI file for a command ('run' or 'predict'); mistakes are raised before any work."""
    path = Path(path)
    parser = read_ini(path)
    config = parse_config(parser, name=path.stem, source=path.read_text(encoding="utf-8"), path=path)
    if purpose == "predict":
        config.validate_predict()
    elif purpose == "data":
        config.validate_data()
    else:
        config.validate()
    return config
