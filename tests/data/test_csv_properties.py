"""Property tests of the CSV importer: any CSV database gives samples, or one NklError on one line; never a traceback.

Generated CSVs vary the header (missing or duplicated columns, a byte-order mark, spaces), the rows (missing or extra
fields, quotes, other delimiters), the cells (paths to missing, non-audio, empty or unicode-named files; numeric or
empty labels; start/end as text, negative, inverted) and the database keys of the INI. In-process, the stages of
``nkl run`` up to the split (import, filters, target, split) run on each; a few run through ``nkl run``.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nkl.catalog import Workspace
from nkl.config import load_config
from nkl.context import RunContext
from nkl.data.csv_import import read_csv_database
from nkl.errors import NklError
from nkl.plan import Plan
from nkl.plan.stages import FeaturesStage, new_state

SETTINGS = {"deadline": None, "derandomize": True, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}

# ---- the files a CSV can point to --------------------------------------------------------------------------------

AUDIO = ["a.wav", "b c.wav", "ü ñ.wav", "sub/d.wav"]  # real (generated) audio
OTHER = ["text.wav", "noise.wav", "empty.wav", "sub", "missing.wav", "/nonexistent/x.wav", "notes.txt"]


def make_files(folder: Path) -> None:
    """One-second WAVs of a tone (and a half-second one), a text file, random bytes and an empty file named .wav."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate(AUDIO):
        seconds = 0.5 if i == 1 else 1.0
        t = np.arange(int(16000 * seconds)) / 16000
        sf.write(folder / name, (0.1 * np.sin(2 * np.pi * 220 * (i + 1) * t) + 0.01 * rng.standard_normal(t.size)).astype("float32"), 16000)
    (folder / "text.wav").write_text("not audio\n")
    (folder / "notes.txt").write_text("file,speaker\n")
    (folder / "noise.wav").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (folder / "empty.wav").write_bytes(b"")


# ---- strategies ----------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
COLUMNS = ["file", "speaker", "gender", "age", "emotion", "start", "end"]
HEADER_NAMES = st.one_of(st.sampled_from(COLUMNS), st.sampled_from(COLUMNS), st.sampled_from(COLUMNS),
                         st.sampled_from(["File", " file", "file ", "", "emotion ", "x", "\ufefffile", "file_id", "sample"]), TEXT)
CELLS = {
    "file": st.one_of(st.sampled_from(AUDIO), st.sampled_from(AUDIO), st.sampled_from(OTHER), st.sampled_from(["", "  a.wav  ", "./a.wav",
                      "sub/../a.wav", "{abs}/a.wav", "A.WAV"]), TEXT),
    "speaker": st.one_of(st.sampled_from(["s1", "s2", "s3", "s4", "1", ""]), TEXT),
    "gender": st.sampled_from(["female", "male", "", "x"]),
    "age": st.sampled_from(["20", "30.5", "", "old", "-1"]),
    "emotion": st.one_of(st.sampled_from(["anger", "neutral", "happy", "anger", "neutral", "", "1", "2.5", "-3", "nan"]), TEXT),
    "start": st.sampled_from(["0", "0.1", "0.5", "0.9", "", "-1", "abc", "2", "100", "1e309", "nan", "0 days 00:00:00.2", "00:00:01"]),
    "end": st.sampled_from(["1", "0.6", "0.2", "0.5", "", "-1", "abc", "0", "100", "inf", "0 days 00:00:00.8", "0:0:0.9"]),
}


@st.composite
def csv_bytes(draw: st.DrawFn, folder: Path) -> bytes:
    """A CSV database over the files in ``folder``: mostly well-formed, with random damage."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(st.one_of(
        st.permutations(COLUMNS).map(lambda cols: ["file", *[c for c in cols if c != "file"]]),
        st.lists(HEADER_NAMES, min_size=1, max_size=8),
    ))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = [draw(CELLS.get(col.strip(), TEXT)).replace("{abs}", str(folder)) for col in header]
        damage = draw(st.sampled_from(["none"] * 8 + ["drop", "extra", "quote"]))
        if damage == "drop" and row:
            row = row[:-1]
        elif damage == "extra":
            row.append(draw(TEXT))
        elif damage == "quote" and row:
            row[0] = '"' + row[0]
        rows.append(row)
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    if draw(st.booleans()):  # quoted by the csv module
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(header)
        writer.writerows(rows)
        text = out.getvalue()
    else:  # joined as written: a cell with a comma or a quote breaks the row
        text = "\n".join(delimiter.join(r) for r in [header, *rows]) + draw(st.sampled_from(["\n", ""]))
    if draw(st.integers(0, 4)) == 0:
        text = "\ufeff" + text
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")


DB_KEYS = st.lists(st.sampled_from([
    "db.absolute_path = True", "db.absolute_path = False", "db.audio_path = sub", "db.audio_path = missing",
    "db.colnames = {'File': 'file'}", "db.colnames = {'speaker': 'file'}", "db.colnames = {'x': 'y'}", "db.colnames = {'emotion': 'speaker'}",
    "db.mapping = {'anger': 'neutral'}", "db.mapping = {'anger, happy': 'bad'}", "db.mapping = {'speaker': {'s1': 's2'}}",
    "db.mapping = {'start': {'0': '1'}}", "db.mapping = {'nope': {'a': 'b'}}",
    "db.label = speaker", "db.label = nope", "db.filter = {'gender': 'female'}", "db.filter = ['gender', 'male']",
    "db.filter = {'age': [20, 30.5]}", "db.required = speaker", "db.required = nope", "db.min_duration_of_sample = 0.5",
    "db.max_duration_of_sample = 0.3", "db.limit_samples = 2", "db.limit_samples_per_speaker = 1", "db.rename_speakers = True",
    "db.check_size = 1", "db.check_size = 100000",
]), max_size=3, unique=True)
SPLITS = st.sampled_from(["speaker_split", "random", "train", "test", "['s1']", "['s1', 's2']", "speakers_stated\ndb.test = ['s2']"])
MODELS = st.sampled_from(["svm", "svm", "svm", "svr"])
DATA_KEYS = st.lists(st.sampled_from(["labels = ['anger', 'neutral']", "type = continuous", "type = continuous\nbins = [-10, 0, 1, 10]",
                                      "filter = {'speaker': ['s1', 's2']}", "target_divide_by = 2", "limit_samples = 3"]),
                     max_size=2, unique=True)

counter = itertools.count()


def write_case(tmp_path: Path, data: bytes, db_keys: list[str], split: str, model: str, data_keys: list[str]) -> Path:
    n = next(counter)
    csv_path = tmp_path / f"db{n}.csv"
    csv_path.write_bytes(data)
    ini = tmp_path / f"exp{n}.ini"
    lines = ["[EXP]", f"root = {tmp_path / f'ws{n}'}", "name = exp", "[DATA]", "databases = ['db']", f"db = {csv_path}",
             f"db.split_strategy = {split}", "db.test_size = 50", "target = emotion", *db_keys, *data_keys,
             "[FEATS]", "type = ['os']", "[MODEL]", f"type = {model}"]
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ini


def run_until_features(ini: Path) -> None:
    """What ``nkl run`` does before the first feature extraction: load the config, build the plan, import, filter, split."""
    config = load_config(ini)
    plan = Plan(config)
    ctx = RunContext(Workspace(config.exp.root), logging.getLogger("nkl.test.csv"))
    state = new_state()
    for stage in plan.stages:
        if isinstance(stage, FeaturesStage):
            break
        stage.run(ctx, state)


def assert_one_line(exc: NklError) -> None:
    message = str(exc)
    assert message.strip(), f"empty message from {type(exc).__name__}"
    assert len(message.splitlines()) == 1, f"not one line: {message!r}"


@pytest.fixture
def files(tmp_path, monkeypatch) -> Path:
    make_files(tmp_path)
    monkeypatch.chdir(tmp_path)  # absolute_path = True: relative to the working folder
    return tmp_path


@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), db_keys=DB_KEYS, split=SPLITS, model=MODELS, data_keys=DATA_KEYS)
def test_generated_csv_imports_or_is_one_line_error(files, data, db_keys, split, model, data_keys):
    ini = write_case(files, data.draw(csv_bytes(files)), db_keys, split, model, data_keys)
    try:
        run_until_features(ini)
    except NklError as exc:
        assert_one_line(exc)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_read_csv_database_returns_rows_or_one_line_error(files, data):
    """The reader alone (no audio probing), on more damaged files."""
    from nkl.config.sections import DatabaseSection

    path = files / f"alone{next(counter)}.csv"
    path.write_bytes(data.draw(csv_bytes(files)))
    db = DatabaseSection(path=str(path), colnames=data.draw(st.sampled_from([{}, {"File": "file"}, {"speaker": "file"}, {"emotion": "age"}])))
    try:
        rows = read_csv_database("db", db, "emotion")
    except NklError as exc:
        assert_one_line(exc)
    else:
        assert {"file", "file_id", "start", "end", "speaker", "gender", "age", "emotion"} <= set(rows.columns)
        assert rows["file"].null_count() == 0


# ---- a few through the real CLI ------------------------------------------------------------------------------------

@settings(max_examples=3, **SETTINGS)
@given(data=st.data(), db_keys=DB_KEYS, split=SPLITS)
def test_generated_csv_through_nkl_run(files, run_cli, data, db_keys, split):
    ini = write_case(files, data.draw(csv_bytes(files)), db_keys, split, "svm", [])
    done = run_cli("run", ini, cwd=files, timeout=240)
    assert done.returncode in (0, 2), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if done.returncode == 2:
        assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1, done.stderr[-3000:]
