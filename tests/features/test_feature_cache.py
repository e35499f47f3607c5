"""The content-addressed feature cache: only missing rows are computed, whatever the file names, and an
interrupted extraction resumes where it stopped; parallel workers compute the same values."""

from __future__ import annotations

import logging
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

import nkl
from nkl.catalog import Workspace
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.data import import_database
from nkl.errors import FeatureError
from nkl.features import build_extractors, ensure_features, load_features
from nkl.features.opensmile_extractor import OpenSmileExtractor

EGEMAPS = OpenSmileExtractor()


def ctx_at(root: Path, progress=None) -> RunContext:
    ctx = RunContext(Workspace(root), logging.getLogger("nkl.test.features"))
    if progress is not None:
        ctx.progress = progress
    return ctx


@pytest.fixture(scope="module")
def trained_samples(trained) -> pl.DataFrame:
    return Workspace(trained.root).scan("samples").collect().sort("sample")


@pytest.fixture(scope="module")
def reference(trained, trained_samples) -> pl.DataFrame:
    """The eGeMAPS rows of the trained workspace (extracted by one worker)."""
    return load_features(ctx_at(trained.root), EGEMAPS, trained_samples["content_key"].to_list()).sort("content_key")


def feature_rows(root: Path, extractor=EGEMAPS) -> pl.DataFrame:
    return Workspace(root).scan(extractor.table).collect()


def test_the_subset_was_extracted_once(trained, reference):
    assert "features: 60 extracted, 0 from cache" in trained.stderr
    assert reference.height == 60 and reference["content_key"].is_unique().all()
    names = [c for c in reference.columns if c != "content_key"]
    assert len(names) == 88 and "F0semitoneFrom27.5Hz_sma3nz_amean" in names
    values = reference.select(names).to_numpy()
    assert np.isfinite(values).all() and values.std(axis=0).max() > 0


def test_second_call_computes_nothing_and_writes_nothing(ws_copy, trained_samples):
    parts = sorted(p.name for p in (ws_copy / "tables").rglob("*.parquet"))
    report = ensure_features(ctx_at(ws_copy), EGEMAPS, trained_samples, workers=1)
    assert (report.computed, report.cached, report.failed) == (0, 60, 0)
    assert sorted(p.name for p in (ws_copy / "tables").rglob("*.parquet")) == parts


def test_renamed_copies_of_the_audio_compute_nothing(ws_copy, trained_samples, reference, tmp_path):
    chosen = trained_samples.head(12)
    copies = tmp_path / "renamed"
    copies.mkdir()
    rows = []
    for i, row in enumerate(chosen.iter_rows(named=True)):
        target = copies / f"copy_{i:02d}.wav"
        shutil.copy(row["file"], target)
        rows.append({"file": str(target), "speaker": row["speaker"], "gender": row["gender"], "emotion": row["emotion"]})
    pl.DataFrame(rows).write_csv(copies / "copies.csv")
    ctx = ctx_at(ws_copy)
    samples = import_database(ctx, "copies", DatabaseSection(path=str(copies / "copies.csv")), "emotion")
    assert samples["content_key"].to_list() == chosen["content_key"].to_list()
    report = ensure_features(ctx, EGEMAPS, samples, workers=1)
    assert (report.computed, report.cached) == (0, 12)
    got = load_features(ctx, EGEMAPS, samples["content_key"].to_list()).sort("content_key")
    assert got.equals(reference.filter(pl.col("content_key").is_in(samples["content_key"].to_list())))


def test_spec_hash_covers_what_changes_the_output_and_nothing_else():
    base = nkl.Experiment(name="e").features("os")
    same = [base.features(scale="robust"), base.features(workers=3), base.features(fail_threshold=0.1), base.features(nan_strategy="mean"),
            base.features(batch_size=2), base.fit("xgb", n_estimators=7)]
    for exp in same:
        assert build_extractors(exp.config)[0].spec_hash == EGEMAPS.spec_hash
    changed = [base.features(set="GeMAPSv01b"), base.features(level="lld"), base.features(**{"os.set": "ComParE_2016"})]
    hashes = {build_extractors(exp.config)[0].spec_hash for exp in changed}
    assert len(hashes) == 3 and EGEMAPS.spec_hash not in hashes
    assert EGEMAPS.spec()["versions"]["opensmile"]
    assert build_extractors(base.config)[0].table == "features_os_egemapsv02"


@pytest.mark.parametrize(("settings", "table", "n_columns"), [
    ({"set": "GeMAPSv01b"}, "features_os_gemapsv01b", 62),
    ({"level": "lld"}, "features_os_egemapsv02_lld", 2 * 25),
])
def test_a_changed_spec_computes_again(ws_copy, trained_samples, settings, table, n_columns):
    extractor = OpenSmileExtractor(settings)
    assert extractor.table == table
    subset = trained_samples.head(6)
    ctx = ctx_at(ws_copy)
    report = ensure_features(ctx, extractor, subset, workers=1)
    assert (report.computed, report.cached) == (6, 0)
    rows = feature_rows(ws_copy, extractor)
    assert rows.height == 6 and len(rows.columns) == 2 + n_columns
    assert ensure_features(ctx, extractor, subset, workers=1).computed == 0
    assert feature_rows(ws_copy).height == 60  # the eGeMAPSv02 rows are untouched


class InterruptAfter:
    """A progress display whose bar raises KeyboardInterrupt (Ctrl-C) once ``limit`` items are done."""

    def __init__(self, limit: int) -> None:
        self.limit, self.done = limit, 0

    @contextmanager
    def task(self, description: str, total: int):
        outer = self

        class Bar:
            def advance(self, n: int = 1) -> None:
                outer.done += n
                if outer.done >= outer.limit:
                    raise KeyboardInterrupt

        yield Bar()


def test_interrupted_extraction_keeps_its_rows_and_resumes(trained_samples, reference, tmp_path):
    subset = trained_samples.slice(10, 16)
    root = tmp_path / "ws"
    with pytest.raises(KeyboardInterrupt):
        ensure_features(ctx_at(root, InterruptAfter(8)), EGEMAPS, subset, workers=1)
    kept = feature_rows(root)
    assert kept.height == 8
    report = ensure_features(ctx_at(root), EGEMAPS, subset, workers=1)
    assert (report.computed, report.cached) == (8, 8)
    rows = feature_rows(root).drop("spec_hash").sort("content_key")
    assert rows["content_key"].is_unique().all() and rows.height == 16
    assert rows.equals(reference.filter(pl.col("content_key").is_in(subset["content_key"].to_list())))


def test_two_workers_give_the_values_of_one(trained_samples, reference, tmp_path):
    subset = trained_samples.slice(30, 16)
    root = tmp_path / "ws"
    report = ensure_features(ctx_at(root), EGEMAPS, subset, workers=2)
    assert (report.computed, report.cached, report.failed) == (16, 0, 0)
    rows = feature_rows(root).drop("spec_hash").sort("content_key")
    assert rows.equals(reference.filter(pl.col("content_key").is_in(subset["content_key"].to_list())))


def test_failures_are_recorded_not_retried_and_abort_above_the_threshold(trained_samples, tmp_path):
    bad = []
    for i in range(3):
        path = tmp_path / f"silent{i}.wav"
        sf.write(path, np.zeros(4000 + 100 * i, dtype=np.float32), 16000)
        bad.append({"sample": f"bad/{i}", "database": "bad", "file": str(path), "start": 0.0, "end": None,
                    "content_key": f"silent-{i}"})
    good = trained_samples.head(2).select("sample", "database", "file", "start", "end", "content_key")
    samples = pl.concat([good, pl.DataFrame(bad, schema=good.schema)])
    root = tmp_path / "ws"
    with pytest.raises(FeatureError, match=r"3 of 5 files failed \(more than fail_threshold = 0.5\)"):
        ensure_features(ctx_at(root), EGEMAPS, samples, workers=1, fail_threshold=0.5)
    assert feature_rows(root).height == 2
    rejects = Workspace(root).scan("rejects").collect()
    assert sorted(rejects["sample"]) == ["bad/0", "bad/1", "bad/2"]
    assert set(rejects["reason"]) == {"silent (every sample is zero)"}
    report = ensure_features(ctx_at(root), EGEMAPS, samples, workers=1, fail_threshold=0.8)
    assert (report.computed, report.cached, report.failed) == (0, 5, 3)  # known failures are not tried again
