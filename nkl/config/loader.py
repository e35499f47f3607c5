"""Read an INI file (nkl's or nkululeko's) into a validated, typed ``Config``."""

from __future__ import annotations

import codecs
import configparser
import dataclasses
import re
from pathlib import Path
from typing import Any

from nkl.config.config import Config
from nkl.config.nkululeko_keys import NOT_IMPLEMENTED, NOT_IMPLEMENTED_PREFIXES, OTHER_MODULE_SECTIONS
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
    field_meta,
)
from nkl.config.values import check_choice, coerce, did_you_mean, expand_env, parse_literal
from nkl.errors import ConfigError, NklError

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
    "CROSSDB": CrossdbSection,
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


def _listed(items: dict[str, str], name: str, where: str) -> list[str]:
    raw = next((v for k, v in items.items() if k.lower() == name), "[]")
    return [str(x) for x in coerce(parse_literal(raw) or [], "list", where)]


def _split_data_items(data: dict[str, str], more: list[str] = ()) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Separate global [DATA] keys from per-database `<db>` / `<db>.<key>` keys (of databases, tests and ``more``: the
    databases that [EXP] databases and [CROSSDB] train_extra name for `nkl multidb`)."""
    databases = coerce(parse_literal(data.get("databases", "[]")), "list", "[DATA] databases")
    tests = _listed(data, "tests", "[DATA] tests")
    dbs = list(dict.fromkeys([str(d) for d in databases] + tests + list(more)))  # test and multidb databases are declared alike
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
                f"[DATA] key '{raw_key}': '{head}' is not one of the databases {dbs}"
                f"{did_you_mean(head, dbs)} Add it to [DATA] databases (or tests, or [EXP] databases for nkl multidb) or fix the prefix"
            )
        global_items[raw_key] = raw_value
    return global_items, per_db


_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_LINE_BREAKS = "\u2028\u2029"  # str.splitlines() breaks there: an error quoting such a value would not stay on one line


def _bad_char(line: str) -> str | None:
    """The first control character of a line (a tab is fine), or None."""
    for ch in line:
        if (ch < " " and ch != "\t") or "\x7f" <= ch <= "\x9f" or ch in _LINE_BREAKS:
            return ch
    return None


def _check_characters(text: str, path: Path) -> None:
    """A NUL byte or another control character is an error naming the file, line, section and key."""
    section, key = "", ""
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        header = re.match(r"\[([^\]]*)\]", stripped)
        if header:
            section, key = header.group(1), ""
        elif stripped and line[0] not in " \t" and stripped[0] not in "#;":
            key = re.split(r"[=:]", stripped, maxsplit=1)[0].strip()
        elif stripped and stripped[0] in "#;":
            key = ""
        ch = _bad_char(line)
        if ch is None:
            continue
        what = "a NUL byte" if ch == "\0" else f"the control character U+{ord(ch):04X}"
        where = f"[{_printable(section)}]" if section else ""
        if key and not header:
            where += f" {_printable(key)}" if where else _printable(key)
        raise ConfigError(f"{path}: line {number}{f' ({where})' if where else ''} holds {what}; remove it (INI values are plain text)")


def _printable(text: str) -> str:
    return "".join(ch if _bad_char(ch) is None else "?" for ch in text)[:80]


def read_ini_text(path: Path) -> str:
    """The text of an INI file: UTF-8 (with or without a byte-order mark), or UTF-16/32 with one; newlines as \\n.

    Anything else (Latin-1 or Windows-1252 bytes, UTF-16 without a byte-order mark, NUL bytes, control
    characters) is a ConfigError naming the file and line.
    """
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}; check the path (run from the folder it is relative to)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and len(data) >= 8 and max(data[0::2].count(0), data[1::2].count(0)) > len(data) // 4:
        raise ConfigError(f"{path}: looks like UTF-16 text without a byte-order mark; save it as UTF-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            raise ConfigError(f"{path}: not valid {encoding.upper()} text (it starts with a {encoding.upper()} byte-order mark); "
                              "save it as UTF-8") from None
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
                          "(it may have been saved as Latin-1 or Windows-1252)") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    _check_characters(text, path)
    return text


def read_ini(path: Path, text: str | None = None) -> configparser.ConfigParser:
    """Parse the INI syntax only, with errors that name the file and line (``text``: the file's text, already read)."""
    if text is None:
        text = read_ini_text(path)
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"{path}: not a valid INI file: line {exc.lineno} {str(exc.line).strip()[:80]!r} comes before "
                          "any [SECTION] header") from None
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0] if getattr(exc, "errors", None) else ("?", "")
        text = str(line).strip().replace("\\n'", "'").replace('\\n"', '"')  # configparser gives repr(line)
        if len(text) > 80:
            text = text[:77] + "..."
        raise ConfigError(f"{path}: not a valid INI file: line {lineno} {text} is not `key = value`") from None
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"{path}: not a valid INI file: line {exc.lineno} starts section [{exc.section}] a second time; merge the two into one") from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"{path}: not a valid INI file: line {exc.lineno} sets [{exc.section}] {exc.option} a second time; keep one") from None
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid INI file: {first}") from None
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
            built = canonical in ("OPTIM", "FLAGS", "RESAMPLE", "EXPORT", "AUGMENT")
            warnings.append(f"section [{canonical}] is read by `{OTHER_MODULE_SECTIONS[canonical]}`"
                            f"{'' if built else ' (not implemented yet)'}; `nkl run` ignores it")
        else:
            raw[canonical] = items
    exp = _build(ExpSection, raw.get("EXP", {}), "[EXP]", "EXP", warnings)
    if not exp.name:
        exp = dataclasses.replace(exp, name=name or "exp")
    crossed = _listed(raw.get("EXP", {}), "databases", "[EXP] databases") + _listed(raw.get("CROSSDB", {}), "train_extra", "[CROSSDB] train_extra")
    global_items, per_db = _split_data_items(raw.get("DATA", {}), crossed)
    data = _build(DataSection, global_items, "[DATA]", "DATA", warnings)
    dbs, test_dbs, other_dbs = [], [], []
    train_names = {str(d) for d in data.databases}
    for db, items in per_db.items():
        section = _build(DatabaseSection, items, f"[DATA] {db}.", "DATA.<db>", warnings)
        if not section.path:
            raise ConfigError(f"[DATA] database '{db}' has no path; add a line `{db} = path/to/{db}.csv`")
        if not section.type:
            kind = "csv" if section.path.lower().endswith(".csv") else "audformat"
            section = dataclasses.replace(section, type=kind)
        if db in train_names:
            dbs.append((db, section))
        if db in {str(t) for t in data.tests}:
            test_dbs.append((db, section))
        if db not in train_names and db not in {str(t) for t in data.tests}:
            other_dbs.append((db, section))
    component_keys: dict[str, dict[str, str]] = {s: {} for s in COMPONENT_SECTIONS}
    feats = _build(FeatsSection, raw.get("FEATS", {}), "[FEATS]", "FEATS", warnings, components=component_keys["FEATS"])
    model = _build(ModelSection, raw.get("MODEL", {}), "[MODEL]", "MODEL", warnings, components=component_keys["MODEL"])
    plot = _build(PlotSection, raw.get("PLOT", {}), "[PLOT]", "PLOT", warnings)
    predict = _build(PredictSection, raw.get("PREDICT", {}), "[PREDICT]", "PREDICT", warnings, components=component_keys["PREDICT"])
    segment = _build(SegmentSection, raw.get("SEGMENT", {}), "[SEGMENT]", "SEGMENT", warnings)
    expl = _build_expl(raw.get("EXPL", {}), warnings)
    report = _build(ReportSection, raw["REPORT"], "[REPORT]", "REPORT", warnings) if "REPORT" in raw else None
    crossdb = _build(CrossdbSection, raw.get("CROSSDB", {}), "[CROSSDB]", "CROSSDB", warnings)
    return Config(exp=exp, data=data, databases=tuple(dbs), test_databases=tuple(test_dbs), crossdb=crossdb,
                  other_databases=tuple(other_dbs),
                  feats=feats, model=model, plot=plot, predict=predict, segment=segment, expl=expl, report=report,
                  other_sections=tuple((k, tuple(v.items())) for k, v in others.items()),
                  component_keys=tuple((s, tuple(items.items())) for s, items in component_keys.items() if items),
                  source=source, path=path, warnings=tuple(warnings))


def config_from_text(text: str, name: str) -> Config | None:
    """The ``Config`` a run was made with (from ``runs.config_text``); None if it no longer parses."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
        return parse_config(parser, name=name, source=text)
    except (configparser.Error, NklError):
        return None


def load_config(path: str | Path, purpose: str = "run") -> Config:
    """Read and validate an INI file for a command ('run' or 'predict'); mistakes are raised before any work."""
    path = Path(path)
    text = read_ini_text(path)
    config = parse_config(read_ini(path, text), name=path.stem, source=text, path=path)
    if purpose == "predict":
        config.validate_predict()
    elif purpose == "data":
        config.validate_data()
    elif purpose == "multidb":  # each cell of the matrix is validated as an experiment of its own
        pass
    else:
        config.validate()
    return config
