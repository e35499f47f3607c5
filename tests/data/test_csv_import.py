"""CSV databases in nkululeko's layout: path resolution, colnames, mapping, segments, the samples table."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl
import pytest
import soundfile as sf

from nkl.audio import load_audio
from nkl.catalog import Workspace
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.data import import_database
from nkl.data.csv_import import read_csv_database
from nkl.errors import DataError

FILES = ["wav/03a01Fa.wav", "wav/03a01Nc.wav", "wav/08a01Ab.wav", "wav/08a01Fd.wav"]


@pytest.fixture
def local_db(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path) -> Path:
    """A folder with a copy of four EmoDB files and a CSV that lists them with relative paths."""
    folder = tmp_path / "db"
    for file in FILES:
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(emodb / file, folder / file)
    rows = emodb_table.filter(pl.col("file").is_in(FILES)).sort("file")
    rows.write_csv(folder / "db.csv")
    return folder


def ctx_for(tmp_path: Path) -> RunContext:
    return RunContext(Workspace(tmp_path / "ws"), logging.getLogger("nkl.test"))


def test_relative_paths_resolve_against_the_csv_folder(local_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the CSV's folder
    rows = read_csv_database("db", DatabaseSection(path=str(local_db / "db.csv")), "emotion")
    assert rows["file"].to_list() == [str(local_db / f) for f in FILES]
    assert rows["file_id"].to_list() == FILES


def test_audio_path_is_joined_to_relative_paths(local_db, tmp_path):
    (local_db / "audio").mkdir()
    shutil.move(local_db / "wav", local_db / "audio" / "wav")
    db = DatabaseSection(path=str(local_db / "db.csv"), audio_path="audio")
    rows = read_csv_database("db", db, "emotion")
    assert rows["file"].to_list() == [str(local_db / "audio" / f) for f in FILES]
    samples = import_database(ctx_for(tmp_path), "db", db, "emotion")
    assert samples.height == len(FILES)


def test_absolute_path_true_means_relative_to_the_working_folder(local_db, tmp_path, monkeypatch):
    monkeypatch.chdir(local_db)
    csv = tmp_path / "elsewhere" / "db.csv"
    csv.parent.mkdir()
    shutil.copy(local_db / "db.csv", csv)
    rows = read_csv_database("db", DatabaseSection(path=str(csv), absolute_path=True), "emotion")
    assert rows["file"].to_list() == [str(local_db / f) for f in FILES]


def test_absolute_paths_stay_as_they_are(emodb, tmp_path, emodb_table):
    csv = tmp_path / "abs.csv"
    emodb_table.head(3).with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file")).write_csv(csv)
    rows = read_csv_database("db", DatabaseSection(path=str(csv), audio_path="ignored"), "emotion")
    assert rows["file"].to_list() == [f"{emodb}/{f}" for f in emodb_table.head(3)["file"]]


def test_colnames_rename_columns(local_db, tmp_path):
    table = pl.read_csv(local_db / "db.csv", infer_schema=False).rename({"file": "path", "speaker": "spk", "gender": "sex", "emotion": "emo"})
    table.write_csv(local_db / "renamed.csv")
    db = DatabaseSection(path=str(local_db / "renamed.csv"), colnames={"path": "file", "spk": "speaker", "sex": "gender"})
    samples = import_database(ctx_for(tmp_path), "db", db, "emo")
    assert samples["speaker"].to_list() == ["03", "03", "08", "08"]
    assert samples["gender"].to_list() == ["male", "male", "female", "female"]
    assert samples["emo"].to_list() == ["happiness", "neutral", "fear", "happiness"]
    with pytest.raises(DataError, match=r"colnames renames \['nope'\].*columns: path, spk, sex, age, emo"):
        read_csv_database("db", DatabaseSection(path=str(local_db / "renamed.csv"), colnames={"nope": "file"}), "emo")


def test_mapping_renames_labels_including_comma_lists(local_db):
    csv = str(local_db / "db.csv")
    plain = read_csv_database("db", DatabaseSection(path=csv, mapping={"happiness": "joy"}), "emotion")
    assert plain["emotion"].to_list() == ["joy", "neutral", "fear", "joy"]  # unmapped labels are kept
    grouped = read_csv_database("db", DatabaseSection(path=csv, mapping={"happiness, neutral": "calm", "fear": "negative"}), "emotion")
    assert grouped["emotion"].to_list() == ["calm", "calm", "negative", "calm"]
    per_column = read_csv_database("db", DatabaseSection(path=csv, mapping={"gender": {"male": "m"}}), "emotion")
    assert per_column["gender"].to_list() == ["m", "m", "female", "female"]
    with pytest.raises(DataError, match="mapping names column 'sex'"):
        read_csv_database("db", DatabaseSection(path=csv, mapping={"sex": {"male": "m"}}), "emotion")


def test_empty_file_cell_names_the_row(local_db):
    text = (local_db / "db.csv").read_text().splitlines()
    text[3] = "," + text[3].split(",", 1)[1]
    (local_db / "holes.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"holes\.csv row 4: the file cell is empty"):
        read_csv_database("db", DatabaseSection(path=str(local_db / "holes.csv")), "emotion")


def test_missing_file_column_suggests_colnames(local_db):
    pl.read_csv(local_db / "db.csv").rename({"file": "wav"}).write_csv(local_db / "nofile.csv")
    with pytest.raises(DataError, match=r"no 'file' column.*colnames = \{'wav': 'file'\}"):
        read_csv_database("db", DatabaseSection(path=str(local_db / "nofile.csv")), "emotion")


def test_samples_table_holds_header_facts_and_hashes(local_db, tmp_path):
    samples = import_database(ctx_for(tmp_path), "db", DatabaseSection(path=str(local_db / "db.csv")), "emotion")
    assert samples["sample"].to_list() == [f"db/{f}" for f in FILES]
    for row in samples.iter_rows(named=True):
        info = sf.info(row["file"])
        assert row["sample_rate"] == info.samplerate
        assert row["channels"] == 1
        assert row["duration"] == pytest.approx(info.frames / info.samplerate)
        assert row["start"] == 0.0 and row["end"] == pytest.approx(row["duration"])
        assert row["bytes"] == Path(row["file"]).stat().st_size
        assert row["content_key"] == row["audio_hash"]
        assert row["age"] in (31.0, 34.0)
    assert samples["audio_hash"].n_unique() == len(FILES)


def test_segments_give_one_sample_each_with_its_duration(local_db, tmp_path):
    wav = local_db / FILES[0]
    length = sf.info(wav).duration
    segments = pl.DataFrame({
        "file": [FILES[0]] * 4,
        "start": ["0", "0 days 00:00:00.5", "1.0", "0 days 00:00:01.25"],
        "end": ["0.5", "0 days 00:00:01.5", "", "0 days 01:00:00"],
        "speaker": ["03"] * 4, "gender": ["male"] * 4, "age": ["31"] * 4, "emotion": ["happiness"] * 4,
    })
    segments.write_csv(local_db / "segments.csv")
    ctx = ctx_for(tmp_path)
    samples = import_database(ctx, "seg", DatabaseSection(path=str(local_db / "segments.csv")), "emotion")
    assert samples["start"].to_list() == [0.0, 0.5, 1.0]
    assert samples["end"].to_list() == pytest.approx([0.5, 1.5, length])  # an empty end is the file's end
    assert samples["duration"].to_list() == pytest.approx([0.5, 1.0, length - 1.0])
    assert samples["sample"].n_unique() == 3 and samples["content_key"].n_unique() == 3
    assert samples["audio_hash"].n_unique() == 1
    assert all(key.startswith(samples["audio_hash"][0] + "@") for key in samples["content_key"])
    for row in samples.iter_rows(named=True):
        signal, rate = load_audio(row["file"], row["start"], row["end"], 16000)
        assert len(signal) / rate == pytest.approx(row["duration"], abs=1 / rate)
    rejects = ctx.workspace.scan("rejects").collect()
    assert rejects.height == 1 and "outside the file" in rejects["reason"][0]  # the 1-hour end


def test_duplicate_rows_are_rejected_once(local_db, tmp_path):
    text = (local_db / "db.csv").read_text()
    (local_db / "dup.csv").write_text(text + text.splitlines()[1] + "\n")
    ctx = ctx_for(tmp_path)
    samples = import_database(ctx, "db", DatabaseSection(path=str(local_db / "dup.csv")), "emotion")
    assert samples.height == len(FILES)
    assert ctx.workspace.scan("rejects").collect()["reason"].to_list() == ["duplicate row (same file and segment listed twice)"]


def test_check_size_rejects_small_files(local_db, tmp_path):
    for file in FILES[:2]:  # halve two files: they fall below the limit
        signal, rate = sf.read(local_db / file)
        sf.write(local_db / file, signal[: len(signal) // 2], rate, subtype="PCM_16")
    limit = (local_db / FILES[0]).stat().st_size + 1
    ctx = ctx_for(tmp_path)
    samples = import_database(ctx, "db", DatabaseSection(path=str(local_db / "db.csv")), "emotion", min_bytes=limit)
    assert sorted(samples["file_id"]) == FILES[2:]
    assert all("check_size" in r for r in ctx.workspace.scan("rejects").collect()["reason"])


def test_second_import_reuses_the_samples_and_a_changed_file_is_probed_again(local_db, tmp_path, monkeypatch):
    ctx = ctx_for(tmp_path)
    db = DatabaseSection(path=str(local_db / "db.csv"))
    first = import_database(ctx, "db", db, "emotion")

    def no_probe(*args, **kwargs):
        raise AssertionError("probed again although nothing changed")

    monkeypatch.setattr("nkl.data.samples.probe", no_probe)
    assert import_database(ctx, "db", db, "emotion").equals(first)
    monkeypatch.undo()
    signal, rate = sf.read(local_db / FILES[0])
    sf.write(local_db / FILES[0], signal[: len(signal) // 2], rate)
    again = import_database(ctx, "db", db, "emotion")
    assert again["audio_hash"][0] != first["audio_hash"][0]
    assert again["duration"][0] == pytest.approx(first["duration"][0] / 2, abs=1e-3)
    assert again["audio_hash"][1:].equals(first["audio_hash"][1:])
