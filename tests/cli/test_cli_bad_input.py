"""Every bad input of issue 2 through the real command line: one-line errors with exit code 2 before any
extraction, or, for a single unusable audio file, a recorded and reported skip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

import nkl


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single error line of a failed run (exit code 2, no traceback, nothing else on stderr)."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def feature_tables(root: Path) -> list[Path]:
    return sorted((root / "tables").glob("features_*"))


def edit(ini: Path, old: str, new: str) -> Path:
    text = ini.read_text()
    assert old in text
    ini.write_text(text.replace(old, new, 1))
    return ini


# ---- config mistakes: caught before the workspace is even touched -------------------------------------------------

@pytest.mark.parametrize(("old", "new", "words"), [
    ("[MODEL]", "[MODLE]", ["[MODLE]", "did you mean 'MODEL'"]),
    ("type = svm", "tpye = svm", ["'tpye'", "[MODEL]", "did you mean 'type'"]),
    ("type = svm", "type = svn", ["'svn'", "[MODEL] type", "did you mean 'svm'"]),
    ("scale = standard", "scale = standart", ["'standart'", "[FEATS] scale", "did you mean 'standard'"]),
], ids=["section", "key", "value", "choice"])
def test_config_typo_is_one_line_with_a_hint(make_ini, balanced_csv, run_cli, tmp_path, old, new, words):
    ini = edit(make_ini(balanced_csv), old, new)
    line = one_line_error(run_cli("run", ini, cwd=tmp_path))
    for word in words:
        assert word in line
    assert not (tmp_path / "ws").exists(), "a config mistake must stop the run before any work starts"


def test_missing_config_file(run_cli, tmp_path):
    line = one_line_error(run_cli("run", tmp_path / "nope.ini", cwd=tmp_path))
    assert "Config file not found" in line and "nope.ini" in line
    assert "no config given" in one_line_error(run_cli("run", cwd=tmp_path))


# ---- data mistakes: one line naming the file / key, no extraction --------------------------------------------------

def test_csv_path_that_does_not_exist(make_ini, run_cli, tmp_path):
    missing = tmp_path / "data" / "nope.csv"
    line = one_line_error(run_cli("run", make_ini(missing), cwd=tmp_path))
    assert str(missing) in line and "not found" in line and "[DATA] db" in line
    assert not feature_tables(tmp_path / "ws")


def test_empty_csv(make_ini, run_cli, tmp_path):
    csv = tmp_path / "data" / "empty.csv"
    csv.parent.mkdir()
    csv.write_bytes(b"")
    line = one_line_error(run_cli("run", make_ini(csv), cwd=tmp_path))
    assert str(csv) in line and "empty" in line and "header row like file,speaker" in line
    assert not feature_tables(tmp_path / "ws")


def test_header_only_csv(make_ini, run_cli, tmp_path, balanced_csv):
    csv = tmp_path / "data" / "header.csv"
    csv.parent.mkdir()
    csv.write_text(balanced_csv.read_text().splitlines()[0] + "\n")
    line = one_line_error(run_cli("run", make_ini(csv), cwd=tmp_path))
    assert str(csv) in line and "no rows" in line and "one row per audio file" in line
    assert not feature_tables(tmp_path / "ws")


def test_unknown_target_column(make_ini, run_cli, tmp_path, balanced_csv):
    ini = edit(make_ini(balanced_csv), "target = emotion", "target = emotino")
    line = one_line_error(run_cli("run", ini, cwd=tmp_path))
    assert "'emotino'" in line and str(balanced_csv) in line and "did you mean 'emotion'" in line
    assert not feature_tables(tmp_path / "ws")


def test_labels_naming_a_class_without_data(make_ini, run_cli, tmp_path, balanced_csv):
    ini = make_ini(balanced_csv, labels="labels = ['anger', 'amusement']")
    line = one_line_error(run_cli("run", ini, cwd=tmp_path))
    assert "[DATA] labels" in line and "'amusement'" in line and "labels found: anger, boredom" in line
    assert not feature_tables(tmp_path / "ws")


def test_speakers_shared_between_train_and_test(make_ini, run_cli, tmp_path, balanced_csv):
    ini = make_ini(balanced_csv, split="speakers_stated")
    ini = edit(ini, "db.split_strategy = speakers_stated", "db.split_strategy = speakers_stated\ndb.test = ['03']\ndb.train = ['03', '08']")
    line = one_line_error(run_cli("run", ini, cwd=tmp_path))
    assert "[DATA] db" in line and "03" in line and "test and train" in line and "disjoint_speakers = False" in line
    assert not feature_tables(tmp_path / "ws")


def test_label_not_in_labels_is_dropped_and_logged(make_ini, run_cli, tmp_path, balanced_csv, ws_copy):
    keep = ["anger", "neutral", "sadness"]
    rows = pl.read_csv(balanced_csv, infer_schema=False)
    dropped = rows.filter(~pl.col("emotion").is_in(keep))
    done = run_cli("run", make_ini(balanced_csv, labels=f"labels = {keep}"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    log = " ".join(done.stderr.split())
    assert f"[DATA] labels: dropped {dropped.height} of {rows.height} samples" in log
    for emotion, n in dropped["emotion"].value_counts().iter_rows():
        assert f"{emotion} ({n})" in log
    assert "0 extracted" in log
    truths = nkl.connect(ws_copy).sql("select distinct truth from predictions where experiment = 'exp'")["truth"]
    assert set(truths) <= set(keep)


# ---- per-file audio problems: recorded in rejects, reported, the run goes on --------------------------------------

BAD_FILES = {
    "missing.wav": ("import", "file not found"),
    "random.wav": ("import", "not a readable audio file"),
    "zero.wav": ("import", "empty file (0 bytes)"),
    "silent.wav": ("features:features_os_egemapsv02", "silent"),
    "short.wav": ("features:features_os_egemapsv02", "too short (5 ms"),
}


def write_bad_audio(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "random.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (folder / "zero.wav").write_bytes(b"")
    sf.write(folder / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(folder / "short.wav", np.random.default_rng(1).normal(0, 0.1, 80).astype(np.float32), 16000)  # 5 ms
    return [folder / name for name in BAD_FILES]


@pytest.fixture(scope="module")
def bad_audio_run(trained, balanced_csv, run_cli, tmp_path_factory):
    """The 60 good files plus one row for each bad file, run on a copy of the trained workspace."""
    folder = tmp_path_factory.mktemp("bad_audio")
    bad = write_bad_audio(folder / "bad")
    good = pl.read_csv(balanced_csv, infer_schema=False)
    rows = pl.DataFrame({"file": [str(p) for p in bad], "speaker": ["11", "12", "13", "14", "15"],
                         "gender": ["male"] * 5, "age": ["30"] * 5, "emotion": ["anger"] * 5})
    csv = folder / "with_bad.csv"
    pl.concat([good, rows]).write_csv(csv)
    shutil.copytree(trained.root / "tables", folder / "ws" / "tables")
    ini = folder / "exp.ini"
    ini.write_text(trained.ini.read_text().replace(str(trained.root), str(folder / "ws")).replace(str(balanced_csv), str(csv)))
    return folder / "ws", run_cli("run", ini, cwd=folder)


def test_bad_audio_files_do_not_stop_the_run(bad_audio_run):
    root, done = bad_audio_run
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    predicted = set(nkl.connect(root).sql("select sample from predictions")["sample"])
    assert predicted and not any(Path(s).name in BAD_FILES for s in predicted)


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_each_bad_file_is_a_reject_with_its_reason(bad_audio_run, name):
    root, _ = bad_audio_run
    rows = nkl.connect(root).sql(f"select stage, reason, file from rejects where file like '%/{name}'")
    assert rows.height == 1, rows
    stage, reason = BAD_FILES[name]
    assert rows["stage"][0] == stage
    assert reason in rows["reason"][0]


def test_rejects_are_reported(bad_audio_run):
    _, done = bad_audio_run
    log = " ".join(done.stderr.split())
    assert "3 of 65 files rejected" in log
    for name in ("missing.wav", "random.wav", "zero.wav"):
        assert name in log
    assert "2 file(s) could not be used and were recorded in rejects" in log
    assert "rejected files: 5" in log  # the closing summary counts import and extraction rejects alike


def test_good_features_are_kept_and_reused_next_to_rejects(bad_audio_run):
    root, done = bad_audio_run
    assert "0 extracted, 60 from cache" in " ".join(done.stderr.split())
    assert nkl.connect(root).sql("select count(*) n from features_os_egemapsv02")["n"][0] == 60


def test_failures_above_fail_threshold_abort_and_keep_what_was_extracted(emodb_table, emodb, make_ini, run_cli, tmp_path):
    good = emodb_table.filter(pl.col("speaker").is_in(["03", "11"])).sort("file").group_by("speaker", maintain_order=True).head(2)
    good = good.with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file")).select("file", "speaker", "gender", "age", "emotion")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = []
    for i in range(3):  # distinct contents: silent files of different lengths, 5 ms noise with different seeds
        sf.write(bad_dir / f"silent{i}.wav", np.zeros(8000 + 800 * i, dtype=np.float32), 16000)
        sf.write(bad_dir / f"short{i}.wav", np.random.default_rng(i).normal(0, 0.1, 80).astype(np.float32), 16000)
        bad += [bad_dir / f"silent{i}.wav", bad_dir / f"short{i}.wav"]
    rows = pl.DataFrame({"file": [str(p) for p in bad], "speaker": ["03", "11"] * 3, "gender": ["male"] * 6,
                         "age": ["30"] * 6, "emotion": ["anger"] * 6})
    csv = tmp_path / "data" / "mostly_bad.csv"
    csv.parent.mkdir()
    pl.concat([good, rows]).write_csv(csv)
    ini = edit(make_ini(csv, split="['03']"), "workers = 1", "workers = 1\nfail_threshold = 0.5")
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    line = errors[0]
    assert "fail_threshold = 0.5" in line and "6 of 10 files failed" in line and "rejects" in line
    root = tmp_path / "ws"
    catalog = nkl.connect(root)
    assert catalog.sql("select count(*) n from features_os_egemapsv02")["n"][0] == 4
    assert catalog.sql("select count(*) n from rejects where stage like 'features:%'")["n"][0] == 6
    explained = run_cli("explain", ini, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "cached: 4 of 10, 6 rejected" in explained.stdout


def test_an_unknown_option_is_a_usage_message_not_a_traceback(tmp_path, run_cli) -> None:
    done = run_cli("run", "--bogus", cwd=tmp_path)
    assert done.returncode == 2 and "No such option: --bogus" in done.stderr and "Traceback" not in done.stderr


def test_catalog_rebuild_takes_the_workspace_after_the_subcommand(ws_copy, run_cli, tmp_path) -> None:
    done = run_cli("catalog", "rebuild", "-w", ws_copy, cwd=tmp_path)  # ws_copy holds tables only, no catalog.duckdb
    assert done.returncode == 0, done.stderr
    assert (ws_copy / "catalog.duckdb").is_file()
