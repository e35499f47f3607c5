"""Property tests of the INI loader: any INI text gives a Config and a Plan, or one NklError on one line; never a traceback.

Generated INIs are mutations of a valid nkululeko INI (sections and keys dropped, duplicated or added, values
replaced by random text, numbers, lists, dicts, unbalanced brackets, control characters, wrong types), plus raw
bytes in the encodings Windows editors save. In-process for the many examples; a few through ``nkl run``.
"""

from __future__ import annotations

import codecs
import dataclasses
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nkl.config import load_config
from nkl.config.components import spellings
from nkl.config.loader import SECTIONS
from nkl.config.nkululeko_keys import NOT_IMPLEMENTED, OTHER_MODULE_SECTIONS
from nkl.config.sections import DatabaseSection
from nkl.errors import NklError
from nkl.features.registry import registered_components
from nkl.models.registry import MODELS
from nkl.plan import Plan

SETTINGS = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}

# ---- a valid nkululeko INI, as (section, [(key, value), ...]) ------------------------------------------------------

BASE: list[tuple[str, list[tuple[str, str]]]] = [
    ("EXP", [("root", "{root}"), ("name", "exp"), ("runs", "1"), ("epochs", "1")]),
    ("DATA", [("databases", "['db']"), ("db", "{csv}"), ("db.split_strategy", "['03', '08']"), ("db.test_size", "20"),
              ("target", "emotion"), ("labels", "['anger', 'neutral']")]),
    ("FEATS", [("type", "['os']"), ("scale", "standard"), ("workers", "1")]),
    ("MODEL", [("type", "svm"), ("C_val", "1.0"), ("kernel", "rbf")]),
    ("PLOT", [("format", "png")]),
]


def _known_keys() -> list[str]:
    keys: set[str] = set()
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            keys.add(f.name)
            keys.update(f.metadata.get("aliases", ()))
    for f in dataclasses.fields(DatabaseSection):
        keys.add(f"db.{f.name}")
    for spec in MODELS.values():
        keys.update(spellings(spec.settings, spec.key_prefix))
    for _, cls in registered_components():
        keys.update(spellings(cls.Settings, cls.key_prefix))
    for names in NOT_IMPLEMENTED.values():
        keys.update(names)
    keys.update({"C_val", "other.split_strategy", "db.", ".", "db..x"})
    return sorted(keys)


KNOWN_KEYS = _known_keys()
SECTION_NAMES = [*SECTIONS, *OTHER_MODULE_SECTIONS, "exp", "Model", "DEFAULT", "NOPE", " EXP", "EXP ", "DATA.db"]

# values of the types the keys expect, and of the wrong ones
WORDS = ["svm", "svr", "mlp", "xgb", "os", "praat", "wav2vec2", "speaker_split", "random", "train", "test", "speakers_stated",
         "specified", "database", "standard", "speaker", "classification", "regression", "continuous", "csv", "audformat",
         "emotion", "age", "abc", "True", "False", "None", "yes", "off", "nan", "inf", "-inf", "1e309", "$HOME", "${X:-y}", "~"]
CONTROL = st.sampled_from(["\0", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\x85", "\u2028", "\x1f"])
SCALARS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["-1", "0", "1", "2", "99", "100", "200", "0.5", "-0.5", "1.5", "1e9", "1j", "0x1F", "1_000"]),
    st.builds(lambda n: "9" * n, st.sampled_from([400, 5000])),  # beyond int's 4300-digit limit
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(repr),
)
LITERALS = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.lists(inner, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ",)"),
    st.lists(st.tuples(inner, inner), max_size=3).map(lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
    st.lists(inner, max_size=3).map(lambda xs: "{" + ", ".join(xs) + "}"),  # a set
), max_leaves=8)
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30)
VALUES = st.one_of(
    LITERALS,
    TEXT,
    st.sampled_from(["", " ", "[", "]", "['a', 1", "{'a': ", "((", "'unclosed", '"', "[[[[[[[[[[", "{}", "[]", "()", "''",
                     "['nonsense']", "{'x': {'y': ['z']}}", "#comment", "; comment", "a # inline", "%(x)s", "x = y", "\\"]),
    st.builds(lambda a, c, b: a + c + b, TEXT, CONTROL, TEXT),
    st.integers(1000, 20000).map(lambda n: "a" * n),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=50).map(repr),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF, blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20),
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,15}", fullmatch=True), TEXT.filter(lambda t: "=" not in t))


@st.composite
def mutated_ini(draw: st.DrawFn) -> list[tuple[str, list[tuple[str, str]]]]:
    """The base INI with a few random edits."""
    sections = [(name, list(items)) for name, items in BASE]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop_section", "dup_section", "new_section", "drop_key", "drop_key", "dup_key", "new_key",
                                   "new_key", "new_key", "rename_key", *["set_value"] * 8]))
        if op == "new_section" or not sections:
            sections.insert(draw(st.integers(0, len(sections))), (draw(st.one_of(st.sampled_from(SECTION_NAMES), TEXT)), []))
            continue
        i = draw(st.integers(0, len(sections) - 1))
        name, items = sections[i]
        if op == "drop_section":
            del sections[i]
        elif op == "dup_section":
            sections.append((name, list(items)))
        elif op == "new_key" or not items:
            items.insert(draw(st.integers(0, len(items))), (draw(KEYS), draw(VALUES)))
        else:
            j = draw(st.integers(0, len(items) - 1))
            key, value = items[j]
            if op == "drop_key":
                del items[j]
            elif op == "dup_key":
                items.append((key, draw(st.one_of(st.just(value), VALUES))))
            elif op == "rename_key":
                items[j] = (draw(KEYS), value)
            else:
                items[j] = (key, draw(VALUES))
    return sections


def render(sections: list[tuple[str, list[tuple[str, str]]]], tmp: Path) -> str:
    """The INI text; the placeholders {root} and {csv} become paths in ``tmp``."""
    paths = {"{root}": str(tmp / "ws"), "{csv}": str(tmp / "db.csv")}
    lines = ["# generated"]
    for name, items in sections:
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {paths.get(value, value)}" for key, value in items)
    return "\n".join(lines) + "\n"


def check_loads(path: Path, purpose: str = "run") -> None:
    """The property: a Config and a Plan, or an NklError whose text is one non-empty line."""
    try:
        config = load_config(path, purpose)
        if purpose == "run":
            Plan(config)
    except NklError as exc:
        message = str(exc)
        assert message.strip(), f"empty message from {type(exc).__name__}"
        assert len(message.splitlines()) == 1, f"not one line: {message!r}"


counter = itertools.count()


def new_path(tmp_path: Path, suffix: str = ".ini") -> Path:
    return tmp_path / f"exp{next(counter)}{suffix}"


def test_the_base_ini_is_valid(tmp_path):
    path = new_path(tmp_path)
    path.write_text(render(BASE, tmp_path), encoding="utf-8")
    assert Plan(load_config(path)).config.model.type == "svm"


@settings(max_examples=200, **SETTINGS)
@given(sections=mutated_ini(), purpose=st.sampled_from(["run", "run", "run", "predict", "data"]))
@example(sections=[(n, [(k, "abc" if k == "C_val" else v) for k, v in items]) for n, items in BASE], purpose="run")
@example(sections=[*BASE[:1], ("EXP", [("epochs", "-1")]), *BASE[1:]], purpose="run")
@example(sections=[(n, [(k, "200" if k == "db.test_size" else v) for k, v in items]) for n, items in BASE], purpose="run")
@example(sections=[(n, [(k, "['nonsense']" if k == "type" else v) for k, v in items]) for n, items in BASE], purpose="run")
def test_mutated_ini_loads_or_is_one_line_error(tmp_path, sections, purpose):
    path = new_path(tmp_path)
    path.write_text(render(sections, tmp_path), encoding="utf-8")
    check_loads(path, purpose)


# raw bytes: encodings, byte-order marks, control characters, stray lines
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"])


@settings(max_examples=100, **SETTINGS)
@given(sections=mutated_ini(), encoding=ENCODINGS,
       junk=st.lists(st.tuples(st.integers(0, 40), st.binary(max_size=6)), max_size=2))
def test_any_bytes_load_or_are_one_line_error(tmp_path, sections, encoding, junk):
    text = render(sections, tmp_path)
    try:
        data = bytearray(text.encode(encoding))
    except UnicodeEncodeError:
        data = bytearray(text.encode("utf-8"))
    for line, chunk in junk:  # bytes spliced in at the start of a line
        at = sum(len(x) + 1 for x in bytes(data).split(b"\n")[:line])
        data[min(at, len(data)):min(at, len(data))] = chunk
    path = new_path(tmp_path)
    path.write_bytes(bytes(data))
    check_loads(path)


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                               ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_a_byte_order_mark_is_read(tmp_path, encoding, bom):
    path = new_path(tmp_path)
    path.write_bytes(bom + render(BASE, tmp_path).replace("name = exp", "name = exp_äß").encode(encoding))
    config = load_config(path)
    assert config.exp.name == "exp_äß" and config.source.startswith("# generated\n[EXP]")


@pytest.mark.parametrize(("data", "words"), [
    ("[EXP]\nname = x\u00e4\n".encode("latin-1"), ["line 2 is not UTF-8", "0xe4", "save the file as UTF-8"]),
    ("[EXP]\nname = x\n".encode("utf-16-le"), ["UTF-16", "without a byte-order mark"]),
    (codecs.BOM_UTF16_LE + b"[\x00E\x00X", ["not valid UTF-16", "save it as UTF-8"]),
    (b"[EXP]\nname = x\x00y\n", ["line 2 ([EXP] name)", "NUL byte"]),
    (b"[EXP]\nname = x\n  more\x00\n", ["line 3 ([EXP] name)", "NUL byte"]),
    (b"[DATA]\ndb.filter = {'a': '\x1b[31m'}\n", ["line 2 ([DATA] db.filter)", "U+001B"]),
    (b"# a comment \x07\n[EXP]\n", ["line 1 holds", "U+0007"]),
    (b"[EX\x00P]\nname = x\n", ["line 1 ([EX?P])", "NUL byte"]),
    (b"name = x\n", ["line 1 'name = x' comes before any [SECTION] header"]),
    (b"[EXP]\nname = x\njunk\n", ["line 3 'junk' is not `key = value`"]),
])
def test_encoding_and_control_character_errors_name_file_and_line(tmp_path, data, words):
    path = new_path(tmp_path)
    path.write_bytes(data)
    with pytest.raises(NklError) as info:
        load_config(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: ")
    for word in words:
        assert word in message


# ---- a few through the real CLI ------------------------------------------------------------------------------------

def assert_one_line_exit_2_or_ok(done) -> None:
    assert done.returncode in (0, 2), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if done.returncode == 2:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, done.stderr[-3000:]


@pytest.mark.parametrize("value", ["x\0y", "\x1b[2J", "a\x0cb"])
def test_nul_byte_in_a_value_is_one_line_exit_2(make_ini, balanced_csv, run_cli, tmp_path, value):
    ini = make_ini(balanced_csv)
    ini.write_bytes(ini.read_bytes().replace(b"name = exp", b"name = " + value.encode()))
    done = run_cli("run", ini, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and f"{ini.name}: line 3 ([EXP] name) holds" in done.stderr


@pytest.mark.parametrize("where", ["root", "db"])
def test_nul_byte_in_a_path_is_one_line_exit_2(make_ini, balanced_csv, run_cli, tmp_path, where):
    ini = make_ini(balanced_csv)
    text = ini.read_bytes()
    key = f"{where} = ".encode()
    ini.write_bytes(text.replace(key, key + b"/tmp/a\x00b/", 1))
    done = run_cli("run", ini, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and f"({where.replace('db', '[DATA] db').replace('root', '[EXP] root')})" in done.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_windows_encodings_through_the_cli(make_ini, balanced_csv, run_cli, tmp_path, encoding):
    ini = make_ini(balanced_csv, name="exp_é")
    ini.write_bytes(ini.read_text(encoding="utf-8").encode(encoding))
    done = run_cli("explain", ini, cwd=tmp_path, timeout=60)
    if encoding == "utf-16":  # with its byte-order mark: read as it is
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not UTF-8 text" in done.stderr, done.stderr


@settings(max_examples=4, **SETTINGS)
@given(sections=mutated_ini())
def test_mutated_ini_through_nkl_run(tmp_path, run_cli, sections):
    path = new_path(tmp_path)
    path.write_text(render(sections, tmp_path), encoding="utf-8")  # db.csv does not exist: stops before any work
    assert_one_line_exit_2_or_ok(run_cli("run", path, cwd=tmp_path, timeout=120))
