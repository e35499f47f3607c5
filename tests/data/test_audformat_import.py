"""Tests of the audformat importer on small databases built over real EmoDB files."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

from nkl.config.sections import DatabaseSection
from nkl.data.audformat_import import read_audformat_database
from nkl.errors import DataError, MissingExtraError

audformat = pytest.importorskip("audformat")
pd = pytest.importorskip("pandas")

# audformat 1.4.3 calls DataFrame.set_index(inplace=True), which pandas 3.1 deprecates; the warning
# comes from inside audformat on every load and nkl cannot avoid it.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning")

FILES = ["wav/03a01Fa.wav", "wav/03a01Nc.wav", "wav/03a01Wa.wav", "wav/08a01Ab.wav", "wav/08a01Fd.wav", "wav/08a01Na.wav"]
TRAIN, TEST = FILES[:4], FILES[4:]
COLUMNS = ["file", "file_id", "start", "end", "speaker", "gender", "age", "emotion", "table_split"]


@pytest.fixture(scope="module")
def emodb() -> Path:
    """The shared EmoDB folder (``NKL_EMODB`` or ``<repo>/../shared/data/emodb``)."""
    folder = Path(os.environ.get("NKL_EMODB") or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "emodb")
    if not (folder / "emodb.csv").is_file():
        pytest.skip(f"EmoDB not found at {folder}; set NKL_EMODB")
    return folder


@pytest.fixture(scope="module")
def truth(emodb: Path) -> dict[str, dict[str, str]]:
    """EmoDB's CSV rows by file path: speaker, gender, age, emotion."""
    with open(emodb / "emodb.csv", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def new_database(root: Path, emodb: Path, truth: dict[str, dict[str, str]]) -> audformat.Database:
    """A database over FILES (copied into ``root``) with a speaker scheme carrying gender and age."""
    for file in FILES:
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(emodb / file, root / file)
    db = audformat.Database("emodb-mini")
    speakers = {truth[f]["speaker"]: {"gender": truth[f]["gender"], "age": int(truth[f]["age"])} for f in FILES}
    db.schemes["speaker"] = audformat.Scheme("str", labels=speakers)
    db.schemes["emotion"] = audformat.Scheme("str", labels=sorted({truth[f]["emotion"] for f in FILES}))
    db["files"] = audformat.Table(audformat.filewise_index(FILES))
    db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
    db["files"]["speaker"].set([truth[f]["speaker"] for f in FILES])
    return db


def add_emotion(db: audformat.Database, table_id: str, files: list[str], truth: dict, column: str = "emotion") -> None:
    """Add a filewise table ``table_id`` with the emotion of ``files``."""
    db[table_id] = audformat.Table(audformat.filewise_index(files))
    db[table_id][column] = audformat.Column(scheme_id="emotion")
    db[table_id][column].set([truth[f]["emotion"] for f in files])


def section(root: Path, **keys: object) -> DatabaseSection:
    """The [DATA] keys of a test database at ``root``."""
    return DatabaseSection(path=str(root), type="audformat", **keys)


@pytest.fixture
def saved(tmp_path: Path, emodb: Path, truth: dict) -> Path:
    """A filewise database: tables ``emotion`` (all FILES) and ``files`` (speaker)."""
    root = tmp_path / "emodb-mini"
    db = new_database(root, emodb, truth)
    add_emotion(db, "emotion", FILES, truth)
    db.save(root)
    return root


def test_filewise_tables_give_speaker_gender_age_and_emotion(saved: Path, truth: dict) -> None:
    df = read_audformat_database("mini", section(saved), "emotion")
    assert df.columns == COLUMNS
    assert df.schema["start"] == pl.Float64 and df.schema["end"] == pl.Float64
    assert all(df.schema[c] == pl.String for c in COLUMNS if c not in ("start", "end"))
    assert df["file_id"].to_list() == FILES
    assert df["file"].to_list() == [str(saved.resolve() / f) for f in FILES]
    assert all(Path(f).is_file() for f in df["file"])
    for row in df.iter_rows(named=True):
        expected = truth[row["file_id"]]
        assert (row["speaker"], row["gender"], row["age"], row["emotion"]) == (
            expected["speaker"],
            expected["gender"],
            expected["age"],
            expected["emotion"],
        )
    first = df.row(0, named=True)
    assert (first["speaker"], first["gender"], first["age"], first["emotion"]) == ("03", "male", "31", "happiness")
    assert df["start"].is_null().all() and df["end"].is_null().all() and df["table_split"].is_null().all()


def test_path_is_relative_to_the_working_folder(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(saved.parent)
    df = read_audformat_database("mini", section(Path(saved.name)), "emotion")
    assert df["file"][0] == str(saved.resolve() / FILES[0])


def test_misc_table_speaker_scheme_with_colnames(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    speakers = sorted({truth[f]["speaker"] for f in FILES})
    db["speakers"] = audformat.MiscTable(pd.Index(speakers, name="speaker", dtype="string"))
    db.schemes["sex"] = audformat.Scheme("str", labels=["female", "male"])
    db.schemes["age"] = audformat.Scheme("int")
    db["speakers"]["sex"] = audformat.Column(scheme_id="sex")
    db["speakers"]["sex"].set([next(truth[f]["gender"] for f in FILES if truth[f]["speaker"] == s) for s in speakers])
    db["speakers"]["age"] = audformat.Column(scheme_id="age")
    db["speakers"]["age"].set([next(int(truth[f]["age"]) for f in FILES if truth[f]["speaker"] == s) for s in speakers])
    db.schemes["speaker"] = audformat.Scheme("str", labels="speakers")
    add_emotion(db, "emotion", FILES, truth, column="emo")
    db.save(root)
    keys = section(root, colnames={"sex": "gender", "emo": "emotion"}, files_tables=["files"], target_tables=["emotion"])
    df = read_audformat_database("mini", keys, "emotion")
    row = df.row(df["file_id"].to_list().index("wav/08a01Ab.wav"), named=True)
    assert (row["speaker"], row["gender"], row["age"], row["emotion"]) == ("08", "female", "34", "fear")
    assert "sex" not in df.columns and "emo" not in df.columns


def test_plain_columns_and_numbers_become_text(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    add_emotion(db, "emotion", FILES, truth)
    db.schemes["age"] = audformat.Scheme("int")
    db.schemes["gender"] = audformat.Scheme("str")
    db.schemes["arousal"] = audformat.Scheme("float")
    db["emotion"]["gender"] = audformat.Column(scheme_id="gender")
    db["emotion"]["gender"].set([truth[f]["gender"] for f in FILES])
    db["emotion"]["age"] = audformat.Column(scheme_id="age")
    db["emotion"]["age"].set([int(truth[f]["age"]) for f in FILES])
    db["emotion"]["arousal"] = audformat.Column(scheme_id="arousal")
    db["emotion"]["arousal"].set([0.5, float("nan"), 0.25, 1.0, 0.75, 0.0])
    db["emotion"]["emotion"].set([None, *[truth[f]["emotion"] for f in FILES[1:]]])
    db.save(root)
    df = read_audformat_database("mini", section(root, target_tables=["emotion"]), "emotion")
    assert df.columns == [*COLUMNS[:-1], "arousal", "table_split"]
    assert df["age"].to_list() == [truth[f]["age"] for f in FILES]
    assert df["arousal"].to_list() == ["0.5", None, "0.25", "1.0", "0.75", "0.0"]
    assert df["emotion"][0] is None and df.height == len(FILES)  # a null target is kept for the caller
    assert df["speaker"].to_list() == [truth[f]["speaker"] for f in FILES]  # from the files table


def test_segmented_table_gives_seconds_and_file_speaker(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    files = ["wav/03a01Fa.wav", "wav/03a01Fa.wav", "wav/08a01Ab.wav"]
    index = audformat.segmented_index(files, starts=[0.0, 0.5, 0.25], ends=[0.5, 1.25, 1.0])
    db["segments"] = audformat.Table(index)
    db["segments"]["emotion"] = audformat.Column(scheme_id="emotion")
    db["segments"]["emotion"].set(["happiness", "neutral", "fear"])
    db.save(root)
    df = read_audformat_database("mini", section(root), "emotion")
    assert df.select("file_id", "start", "end", "speaker", "gender", "age", "emotion").rows() == [
        ("wav/03a01Fa.wav", 0.0, 0.5, "03", "male", "31", "happiness"),
        ("wav/03a01Fa.wav", 0.5, 1.25, "03", "male", "31", "neutral"),
        ("wav/08a01Ab.wav", 0.25, 1.0, "08", "female", "34", "fear"),
    ]


def test_filewise_split_tables_split_segments(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    files = ["wav/03a01Fa.wav", "wav/03a01Fa.wav", "wav/08a01Fd.wav", "wav/08a01Na.wav"]
    db["segments"] = audformat.Table(audformat.segmented_index(files, starts=[0, 1, 0, 0], ends=[1, 2, 1, 1]))
    db["segments"]["emotion"] = audformat.Column(scheme_id="emotion")
    db["segments"]["emotion"].set([truth[f]["emotion"] for f in files])
    add_emotion(db, "emo.train", TRAIN, truth)
    add_emotion(db, "emo.test", TEST[:1], truth)
    db.save(root)
    keys = section(
        root, split_strategy="specified", target_tables=["segments"], train_tables=["emo.train"], test_tables=["emo.test"]
    )
    df = read_audformat_database("mini", keys, "emotion")
    assert df.select("file_id", "start", "table_split").rows() == [
        ("wav/03a01Fa.wav", 0.0, "train"),
        ("wav/03a01Fa.wav", 1.0, "train"),
        ("wav/08a01Fd.wav", 0.0, "test"),
        ("wav/08a01Na.wav", 0.0, None),  # in no split table: the caller decides
    ]


def test_label_is_renamed_to_target(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    add_emotion(db, "emotion", FILES, truth, column="emo")
    db.save(root)
    df = read_audformat_database("mini", section(root, label="emo"), "emotion")
    assert "emo" not in df.columns
    assert df["emotion"].to_list() == [truth[f]["emotion"] for f in FILES]


def test_specified_tables_give_table_split(tmp_path: Path, emodb: Path, truth: dict) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    add_emotion(db, "emo.train", TRAIN, truth)
    add_emotion(db, "emo.test", TEST, truth)
    add_emotion(db, "emotion", FILES[:1], truth)  # has the target but is not listed: not a label table
    db.save(root)
    keys = section(root, split_strategy="specified", train_tables=["emo.train"], test_tables=["emo.test"])
    df = read_audformat_database("mini", keys, "emotion")
    assert dict(df.select("file_id", "table_split").rows()) == {**dict.fromkeys(TRAIN, "train"), **dict.fromkeys(TEST, "test")}
    assert df["emotion"].to_list() == [truth[f]["emotion"] for f in FILES]
    assert df["speaker"].to_list() == [truth[f]["speaker"] for f in FILES]


@pytest.mark.parametrize(
    "names",
    [
        ("emotion.train", "emotion.test"),
        ("emotion_train", "emotion_test"),
        ("emotion.categories.train.gold", "emotion.categories.test.gold"),
    ],
)
def test_database_strategy_reads_target_split_tables(tmp_path: Path, emodb: Path, truth: dict, names: tuple[str, str]) -> None:
    root = tmp_path / "db"
    db = new_database(root, emodb, truth)
    add_emotion(db, "emotion", FILES, truth)
    add_emotion(db, names[0], TRAIN, truth)
    add_emotion(db, names[1], TEST, truth)
    db.save(root)
    df = read_audformat_database("mini", section(root, split_strategy="database"), "emotion")
    assert df.height == len(FILES)  # one row per file although three tables label it
    assert df["table_split"].to_list() == ["train"] * len(TRAIN) + ["test"] * len(TEST)
    assert df.row(0, named=True)["emotion"] == "happiness"


def test_other_strategies_leave_table_split_null(saved: Path) -> None:
    df = read_audformat_database("mini", section(saved, split_strategy="speaker_split"), "emotion")
    assert df["table_split"].is_null().all()


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"audformat database 'mini' not found at .*nowhere.*db\.yaml.*mini\.type = csv"):
        read_audformat_database("mini", section(tmp_path / "nowhere"), "emotion")


def test_folder_without_db_yaml(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("file,emotion\n")
    with pytest.raises(DataError, match=r"expected a folder with db\.yaml"):
        read_audformat_database("mini", section(tmp_path), "emotion")


def test_unknown_target_lists_columns(saved: Path) -> None:
    expected = r"'emotoin' is not in any table; did you mean 'emotion'\? columns: age, emotion, gender, speaker"
    with pytest.raises(DataError, match=expected):
        read_audformat_database("mini", section(saved), "emotoin")


def test_unknown_label_names_the_key(saved: Path) -> None:
    with pytest.raises(DataError, match=r"mini\.label column 'emo'"):
        read_audformat_database("mini", section(saved, label="emo"), "emotion")


def test_target_table_without_target(saved: Path) -> None:
    with pytest.raises(DataError, match="'emotion' is not in tables files; columns: age, gender, speaker"):
        read_audformat_database("mini", section(saved, target_tables=["files"]), "emotion")


@pytest.mark.parametrize("key", ["target_tables", "files_tables", "train_tables", "test_tables"])
def test_unknown_table_lists_tables(saved: Path, key: str) -> None:
    keys = {"split_strategy": "specified", "test_tables": ["emotion"], key: ["emotoin"]}
    expected = rf"table 'emotoin' in mini\.{key} does not exist; did you mean 'emotion'\? tables: emotion, files"
    with pytest.raises(DataError, match=expected):
        read_audformat_database("mini", section(saved, **keys), "emotion")


def test_specified_needs_test_tables(saved: Path) -> None:
    with pytest.raises(DataError, match=r"specified needs mini\.test_tables; tables: emotion, files"):
        read_audformat_database("mini", section(saved, split_strategy="specified", train_tables=["emotion"]), "emotion")


def test_database_strategy_needs_test_table(saved: Path) -> None:
    with pytest.raises(DataError, match=r"needs a table 'emotion\.test'; tables: emotion, files"):
        read_audformat_database("mini", section(saved, split_strategy="database"), "emotion")


def test_files_table_without_speaker(saved: Path) -> None:
    with pytest.raises(DataError, match=r"table 'emotion' in mini\.files_tables has no speaker, gender or age column"):
        read_audformat_database("mini", section(saved, files_tables=["emotion"]), "emotion")


def test_sample_in_two_splits(saved: Path) -> None:
    keys = section(saved, split_strategy="specified", train_tables=["emotion"], test_tables=["emotion"])
    with pytest.raises(DataError, match=r"wav/03a01Fa\.wav is in both the train and the test tables"):
        read_audformat_database("mini", keys, "emotion")


def test_without_audformat(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "audformat", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'nkl\[audformat\]'"):
        read_audformat_database("mini", section(saved), "emotion")
