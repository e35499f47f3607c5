"""`nkl augment`: seeded copies of training samples only (a catalog query proves it), filtered to a category, written
once by content hash (a rerun writes nothing; a deleted file comes back byte for byte), one-line mistakes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import polars as pl
import pytest
import soundfile as sf

from nkl.catalog import Catalog
from tests.conftest import TEST_SPEAKERS

pytest.importorskip("audiomentations")


def augment_ini(folder: Path, csv: Path, augment: str) -> Path:
    path = folder / "aug.ini"
    path.write_text(f"[EXP]\nroot = {folder / 'ws'}\nname = aug\ntraindevtest = True\n[DATA]\ndatabases = ['db']\ndb = {csv}\n"
                    f"db.split_strategy = speakers_stated\ndb.test = {TEST_SPEAKERS}\ndb.dev = ['11']\ntarget = emotion\n[AUGMENT]\n{augment}")
    return path


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()


def test_only_training_speakers_of_the_chosen_category_are_augmented(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    ini = augment_ini(tmp_path, balanced_csv, "augment = ['traditional', 'random_splice']\n"
                                              "filter = {'gender': ['female'], 'emotion': ['anger', 'happiness']}\n")
    done = run_cli("augment", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = Catalog(tmp_path / "ws")
    sources = catalog.sql("select a.chain, x.speaker, x.gender, x.emotion, a.path from augmentations a "
                          "join samples x on x.sample = a.source_sample")
    assert sources.height > 0 and set(sources["chain"]) == {"traditional", "random_splice"}
    assert not set(sources["speaker"]) & {*TEST_SPEAKERS, "11"}  # no test or dev speaker
    assert set(sources["gender"]) == {"female"} and set(sources["emotion"]) <= {"anger", "happiness"}
    table = pl.read_csv(tmp_path / "ws" / "experiments" / "aug" / "augmented.csv")
    assert table.height == sources.height and table["augmented"].all() and "source_sample" in table.columns
    first = Path(sources["path"][0])
    source_info = sf.info(first)
    assert source_info.frames > 0 and source_info.subtype == "PCM_16"
    before = digest(first)
    again = run_cli("augment", ini, cwd=tmp_path)
    assert again.returncode == 0 and "(0 written now" in " ".join(again.stderr.split())
    first.unlink()
    third = run_cli("augment", ini, cwd=tmp_path)
    assert third.returncode == 0 and "(1 written now" in " ".join(third.stderr.split())
    assert digest(first) == before  # seeded by content, chain and seed: the same audio again


def test_augment_mistakes_are_one_line(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    cases = [
        ("augment = ['reverb']\n", "unknown transform chain 'reverb'"),
        ("p_noise = 1.5\n", "p_noise is a probability"),
        ("sample_selection = test\n", "set allow_test = True"),
        ("filter = {'colour': ['red']}\n", "filter names column 'colour'"),
        ("volume = 3\n", "Unknown key 'volume' in [AUGMENT]"),
    ]
    for augment, message in cases:
        done = run_cli("augment", augment_ini(tmp_path, balanced_csv, augment), cwd=tmp_path)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, (augment, done.stderr)


def test_aug_train_trains_on_augmented_rows_and_tests_on_originals(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    ini = augment_ini(tmp_path, balanced_csv, "augment = ['traditional']\n")
    ini.write_text(ini.read_text().replace("[AUGMENT]", "[FEATS]\ntype = ['os']\nscale = standard\nworkers = 1\n[MODEL]\ntype = svm\n[AUGMENT]"))
    before = run_cli("explain", "--aug-train", ini, cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert re.search(r"augment\s+traditional .* -> database 'aug_aug', training split only", before.stdout), before.stdout
    done = run_cli("aug_train", ini, cwd=tmp_path)
    assert done.returncode == 0 and "[AUGMENT]" not in done.stderr, done.stderr  # read, not "ignored"
    after = run_cli("explain", "--aug-train", ini, cwd=tmp_path).stdout
    written = int(re.search(r"cached: (\d+) of \1 augmented files\n", after).group(1))
    assert written > 0 and "to extract" not in after and "to compute" not in after, after  # the copies' features are cached
    again = run_cli("aug_train", ini, cwd=tmp_path)
    assert again.returncode == 0 and "0 extracted" in again.stderr and "model: unchanged" in again.stderr, again.stderr
    copies = Catalog(tmp_path / "ws").sql("select path from augmentations where experiment = 'aug'")["path"]
    Path(copies[0]).unlink()
    lost = run_cli("explain", "--aug-train", ini, cwd=tmp_path).stdout
    assert f"cached: {written - 1} of {written} augmented files; to write: 1 (seeded: the same audio again)" in lost, lost
    assert "to extract" not in lost and "to compute" not in lost, lost
    assert "augment" not in run_cli("explain", ini, cwd=tmp_path).stdout.split("\n", 1)[1]  # nkl run's plan has no augment step
    catalog = Catalog(tmp_path / "ws")
    rows = catalog.sql("select s.split, x.database, x.speaker from splits s join samples x using (sample) where s.experiment = 'aug'")
    augmented = rows.filter(pl.col("database") == "aug_aug")
    assert augmented.height > 0 and set(augmented["split"]) == {"train"}
    assert not set(augmented["speaker"]) & {*TEST_SPEAKERS, "11"}
    assert set(rows.filter(pl.col("split").is_in(["dev", "test"]))["database"]) == {"db"}  # dev and test: original audio only
    uar = catalog.sql("select value from results where experiment = 'aug' and metric = 'uar' and split = 'test'")
    assert uar.height == 1 and 0 <= uar["value"][0] <= 1
    refused = augment_ini(tmp_path, balanced_csv, "sample_selection = dev\n")
    refused.write_text(refused.read_text().replace("[AUGMENT]", "[MODEL]\ntype = svm\n[AUGMENT]"))
    done = run_cli("aug_train", refused, cwd=tmp_path)
    assert done.returncode == 2 and "augments the training split only" in done.stderr


def test_augment_killed_midway_resumes_where_it_stopped(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    """kill -9 while copies are being written: no half-written file is left, and a rerun writes only the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import write_balanced_subset

    csv = write_balanced_subset(emodb, emodb_table, tmp_path / "more.csv", per_speaker=20)
    ini = augment_ini(tmp_path, csv, "augment = ['traditional', 'random_splice']\n")
    folder = tmp_path / "ws" / "augmented"
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nkl.cli.app", "augment", str(ini), "--quiet"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(list(folder.rglob("*.wav"))) < 5:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = list(folder.rglob("*.wav"))
    assert 5 <= len(kept), "the augment never started writing"
    # only whole files carry a .wav name; a copy cut off mid-write is at most a hidden temp file
    assert all(p.suffix == ".tmp" and p.name.startswith(".") for p in folder.rglob("*") if p.is_file() and p.suffix != ".wav")
    assert all(sf.info(p).frames > 0 for p in kept)  # every file there is whole
    # temp files of killed writes are swept once they are an hour old (a live writer's are seconds old)
    hour_ago = time.time() - 3700
    leftovers = list(folder.rglob(".*.tmp")) or [kept[0].with_name(f".{kept[0].name}.0123456789abcdef.tmp")]
    fresh = kept[0].with_name(f".{kept[0].name}.fedcba9876543210.tmp")
    for path in [*leftovers, fresh]:
        path.touch()
    for path in leftovers:
        os.utime(path, (hour_ago, hour_ago))
    done = run_cli("augment", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(folder.rglob(".*.tmp")) == [fresh]
    total = pl.read_csv(tmp_path / "ws" / "experiments" / "aug" / "augmented.csv").height
    assert len(kept) < total, "the first run finished before it was killed"
    assert f"({total - len(kept)} written now, {len(kept)} already there)" in " ".join(done.stderr.split())


def test_an_unwritable_output_folder_is_one_line_and_nothing_is_half_written(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    """The copies' folder cannot be written (a link into /sys, which refuses even root): one line naming it, exit 2,
    and neither the augmentations rows nor the CSV claim copies that do not exist."""
    ini = augment_ini(tmp_path, balanced_csv, "augment = ['traditional']\n")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "augmented").symlink_to("/sys")
    done = run_cli("augment", ini, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: cannot write to {tmp_path / 'ws' / 'augmented'}/"), lines[0]
    assert not (tmp_path / "ws" / "experiments" / "aug" / "augmented.csv").exists()
    assert not (tmp_path / "ws" / "tables" / "augmentations").exists()
