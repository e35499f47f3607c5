"""`nkl augment`: seeded copies of training samples only (a catalog query proves it), filtered to a category, written
once by content hash (a rerun writes nothing; a deleted file comes back byte for byte), one-line mistakes."""

from __future__ import annotations

import hashlib
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
    done = run_cli("aug_train", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
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
