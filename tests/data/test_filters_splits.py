"""Filters (durations, per-speaker limits, value filters, labels) and split strategies on real EmoDB samples."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nkl.catalog import Workspace
from nkl.config import Config
from nkl.config.sections import DatabaseSection, DataSection, ExpSection, FeatsSection, ModelSection, PlotSection
from nkl.context import RunContext
from nkl.data import apply_filters, assign_splits, import_database, prepare_target
from nkl.errors import DataError

QUIET = RunContext(Workspace("/nonexistent"), logging.getLogger("nkl.test.quiet"))


@pytest.fixture(scope="module")
def samples(emodb: Path, emodb_table: pl.DataFrame, tmp_path_factory) -> pl.DataFrame:
    """Real EmoDB samples of every speaker (5 each) as segments of varied length (0.3 to 2.0 s)."""
    folder = tmp_path_factory.mktemp("segments")
    rows = emodb_table.sort("file").group_by("speaker", maintain_order=True).head(5)
    ends = [round(0.3 + 0.035 * i, 3) for i in range(rows.height)]  # 0.3 ... 2.0 s, all distinct
    rows = rows.with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file"),
                             start=pl.lit("0"), end=pl.Series(ends).cast(pl.String))
    rows.write_csv(folder / "segments.csv")
    ctx = RunContext(Workspace(folder / "ws"), logging.getLogger("nkl.test"))
    return import_database(ctx, "emo", DatabaseSection(path=str(folder / "segments.csv")), "emotion")


def config_for(*dbs: tuple[str, DatabaseSection], traindevtest: bool = False, seed: int = 42, **data) -> Config:
    return Config(exp=ExpSection(traindevtest=traindevtest, seed=seed), data=DataSection(databases=[n for n, _ in dbs], target="emotion", **data),
                  databases=tuple(dbs), feats=FeatsSection(), model=ModelSection(type="svm"), plot=PlotSection())


def speakers_of(df: pl.DataFrame, split: str) -> set[str]:
    return set(df.filter(pl.col("split") == split)["speaker"].to_list())


# ---- filters ------------------------------------------------------------------------------------------------------

def test_duration_limits(samples, caplog):
    caplog.set_level(logging.INFO, logger="nkl.test.quiet")
    kept = apply_filters(QUIET, samples, DataSection(min_duration_of_sample=0.8, max_duration_of_sample=1.5), "[DATA]", 42)
    assert kept.height == samples.filter(pl.col("duration").is_between(0.8, 1.5)).height > 0
    assert kept["duration"].min() >= 0.8 and kept["duration"].max() <= 1.5
    shorter = samples.filter(pl.col("duration") < 0.8).height
    assert f"[DATA]: dropped {shorter} of {samples.height} samples: shorter than 0.8 s" in caplog.text


def test_per_speaker_limit_is_seeded_and_reproducible(samples):
    f = DatabaseSection(limit_samples_per_speaker=2)
    first = apply_filters(QUIET, samples, f, "[DATA] emo", 7)
    again = apply_filters(QUIET, samples, f, "[DATA] emo", 7)
    assert first.equals(again)
    assert first.group_by("speaker").len()["len"].to_list() == [2] * 10
    others = [apply_filters(QUIET, samples, f, "[DATA] emo", seed)["sample"].to_list() for seed in (1, 2, 3)]
    assert any(o != first["sample"].to_list() for o in others)


def test_limit_samples_in_total(samples):
    kept = apply_filters(QUIET, samples, DataSection(limit_samples=13), "[DATA]", 1)
    assert kept.height == 13 and kept["sample"].is_unique().all()


def test_value_filter_dict(samples):
    female = apply_filters(QUIET, samples, DataSection(filter={"gender": "female"}), "[DATA]", 42)
    assert set(female["gender"]) == {"female"} and female.height == samples.filter(pl.col("gender") == "female").height
    two = apply_filters(QUIET, samples, DataSection(filter={"emotion": ["anger", "neutral"], "gender": "male"}), "[DATA]", 42)
    assert set(two["emotion"]) <= {"anger", "neutral"} and set(two["gender"]) == {"male"} and two.height > 0
    with pytest.raises(DataError, match=r"filter names column 'sex'.*columns: sample, database"):
        apply_filters(QUIET, samples, DataSection(filter={"sex": "female"}), "[DATA]", 42)
    with pytest.raises(DataError, match="leaves no samples"):
        apply_filters(QUIET, samples, DataSection(filter={"gender": "robot"}), "[DATA]", 42)


def test_labels_drop_other_classes_and_log_it(samples, caplog):
    caplog.set_level(logging.INFO, logger="nkl.test.quiet")
    config = config_for(("emo", DatabaseSection()), labels=["anger", "neutral"])
    kept = prepare_target(QUIET, config, samples, "classification")
    assert set(kept["emotion"]) == {"anger", "neutral"}
    dropped = samples.height - kept.height
    assert f"[DATA] labels: dropped {dropped} of {samples.height} samples: emotion not in labels" in caplog.text


def test_regression_target_must_be_numeric(samples):
    config = dataclasses.replace(config_for(("emo", DatabaseSection())), data=DataSection(databases=["emo"], target="age"))
    ages = prepare_target(QUIET, config, samples, "regression")
    assert ages["age"].dtype == pl.Float64 and ages["age"].min() == 21.0
    with pytest.raises(DataError, match=r"target 'emotion' must be numeric.*sample emo/"):
        prepare_target(QUIET, config_for(("emo", DatabaseSection())), samples, "regression")


# ---- splits -------------------------------------------------------------------------------------------------------

def split(samples: pl.DataFrame, db: DatabaseSection, **kw) -> tuple[pl.DataFrame, str]:
    return assign_splits(QUIET, config_for(("emo", db), **kw), samples)


def test_speaker_split_is_seeded_and_speaker_disjoint(samples):
    a, hash_a = split(samples, DatabaseSection(split_strategy="speaker_split", test_size=20.0), seed=1)
    b, hash_b = split(samples, DatabaseSection(split_strategy="speaker_split", test_size=20.0), seed=1)
    assert a.equals(b) and hash_a == hash_b
    assert len(speakers_of(a, "test")) == 2 and len(speakers_of(a, "train")) == 8
    assert not speakers_of(a, "test") & speakers_of(a, "train")
    others = {frozenset(speakers_of(split(samples, DatabaseSection(), seed=s)[0], "test")) for s in range(2, 8)}
    assert len(others) > 1


def test_random_split_is_by_sample_and_warns(samples, caplog):
    caplog.set_level(logging.WARNING, logger="nkl.test.quiet")
    out, _ = split(samples, DatabaseSection(split_strategy="random", test_size=30.0))
    assert out.filter(pl.col("split") == "test").height == 15
    assert out.height == samples.height
    assert "not speaker-independent" in caplog.text


def test_list_of_test_speakers(samples):
    out, _ = split(samples, DatabaseSection(split_strategy=["03", "8", 9]))  # 8 and 9 match '08' and '09'
    assert speakers_of(out, "test") == {"03", "08", "09"}
    assert speakers_of(out, "train") == {"10", "11", "12", "13", "14", "15", "16"}
    with pytest.raises(DataError, match="speaker '99' is not in the data; speakers: 03, 08"):
        split(samples, DatabaseSection(split_strategy=["99"]))


def test_speakers_stated_with_dev(samples):
    db = DatabaseSection(split_strategy="speakers_stated", test=["03", "08"], dev=["11"], train=["12", "13", "14"])
    out, _ = split(samples, db)
    assert speakers_of(out, "test") == {"03", "08"}
    assert speakers_of(out, "dev") == {"11"}
    assert speakers_of(out, "train") == {"12", "13", "14"}
    assert out.height == 6 * 5  # speakers in no list are left out


def test_speakers_stated_overlap_is_refused_unless_allowed(samples):
    db = DatabaseSection(split_strategy="speakers_stated", test=["03"], train=["03", "08"])
    with pytest.raises(DataError, match=r"speakers 03 are in both test and train.*disjoint_speakers = False"):
        split(samples, db)
    shared, _ = split(samples, DatabaseSection(split_strategy="speakers_stated", test=["03"], train=["08"], disjoint_speakers=False))
    assert speakers_of(shared, "test") == {"03"}


def test_traindevtest_takes_a_speaker_disjoint_dev_split(samples):
    out, _ = split(samples, DatabaseSection(split_strategy=["03", "08"], dev_size=25.0), traindevtest=True)
    test, dev, train = speakers_of(out, "test"), speakers_of(out, "dev"), speakers_of(out, "train")
    assert test == {"03", "08"} and len(dev) == 2 and len(train) == 6
    assert not (test & dev or test & train or dev & train)


def test_train_and_test_databases(samples):
    other = samples.with_columns(database=pl.lit("other"), sample=pl.concat_str(pl.lit("other/"), pl.col("file_id")))
    config = config_for(("emo", DatabaseSection(split_strategy="train")), ("other", DatabaseSection(split_strategy="test")))
    out, _ = assign_splits(QUIET, config, pl.concat([samples, other]))  # speaker ids are scoped by database
    assert set(out.filter(pl.col("split") == "train")["database"]) == {"emo"}
    assert set(out.filter(pl.col("split") == "test")["database"]) == {"other"}


def test_split_hash_changes_with_the_assignment(samples):
    _, a = split(samples, DatabaseSection(split_strategy=["03"]))
    _, b = split(samples, DatabaseSection(split_strategy=["08"]))
    assert a != b


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), test_size=st.floats(1, 60), dev_size=st.floats(1, 50), traindevtest=st.booleans())
def test_speaker_split_never_shares_a_speaker(samples, seed, test_size, dev_size, traindevtest):
    out, _ = split(samples, DatabaseSection(split_strategy="speaker_split", test_size=test_size, dev_size=dev_size),
                   seed=seed, traindevtest=traindevtest)
    assert out["sample"].is_unique().all() and out.height == samples.height
    by_split = {s: speakers_of(out, s) for s in ("train", "dev", "test")}
    assert by_split["test"] and by_split["train"]
    assert bool(by_split["dev"]) == traindevtest
    assert not (by_split["train"] & by_split["test"] or by_split["train"] & by_split["dev"] or by_split["dev"] & by_split["test"])
