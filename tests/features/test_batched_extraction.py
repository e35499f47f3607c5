"""Batched (model) extractors run in the main process, ``batch_size`` signals per call, and give the same rows as
one file at a time; a file that breaks its batch is rejected alone."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest
import soundfile as sf

import nkl
from nkl.catalog.workspace import Workspace
from nkl.context import RunContext
from nkl.features.cache import ensure_features, load_features
from nkl.predict.registry import Predictor

SEGMENTS_S = [(0.0, 2.0), (0.2, 0.9), (0.5, 1.8), (0.0, 1.2), (1.0, 1.5), (0.1, 1.95)]


@pytest.fixture
def segments_csv(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path) -> Path:
    """Six EmoDB segments of different lengths (a batch needs padding) and one silent file."""
    files = emodb_table.sort("file")["file"].head(len(SEGMENTS_S)).to_list()
    rows = [{"file": str(emodb / f), "start": s, "end": e, "speaker": f[4:6], "emotion": "x"} for f, (s, e) in zip(files, SEGMENTS_S, strict=True)]
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    rows.append({"file": str(silent), "start": 0.0, "end": 1.0, "speaker": "99", "emotion": "x"})
    path = tmp_path / "segments.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def _predict(run_cli, csv: Path, model: Path, root: Path, batch_size: int) -> pl.DataFrame:
    ini = root.parent / f"{root.name}.ini"
    ini.write_text(f"[EXP]\nroot = {root}\nname = b\n[DATA]\ndatabases = ['db']\ndb = {csv}\ndb.absolute_path = True\ntarget = emotion\n"
                   f"[PREDICT]\ntargets = ['agender']\nagender.model = {model}\nbatch_size = {batch_size}\n")
    done = run_cli("predict", ini, "--verbose", cwd=root.parent)
    assert done.returncode == 0, done.stderr
    assert f"in batches of {batch_size}" in done.stderr
    return nkl.connect(root).sql("select e.*, s.file, s.start from estimates e join samples s using (sample) order by s.file, s.start")


def test_batches_give_the_rows_of_single_files(segments_csv: Path, tmp_path: Path, run_cli) -> None:
    pytest.importorskip("transformers")
    from tests.predict.test_wav2vec2_heads import save_tiny

    model = save_tiny(0, tmp_path / "model")
    batched = _predict(run_cli, segments_csv, model, tmp_path / "ws4", 4)
    single = _predict(run_cli, segments_csv, model, tmp_path / "ws1", 1)
    assert batched.height == single.height == len(SEGMENTS_S)
    columns = ["est_age", "est_p_female", "est_p_male", "est_p_child"]
    assert np.allclose(batched.select(columns).to_numpy(), single.select(columns).to_numpy(), atol=1e-4)
    rejects = nkl.connect(tmp_path / "ws4").sql("select file, reason from rejects")
    assert rejects.height == 1 and rejects["file"][0].endswith("silent.wav") and "silent" in rejects["reason"][0]


class _BreaksOnShort(Predictor):
    """A batched predictor whose 'model' fails on any batch holding a signal under 0.6 s: mean and length per signal."""

    target = "fake"
    batched = True
    names: ClassVar[list[str]] = ["est_mean", "est_seconds"]
    calls: ClassVar[list[int]] = []

    def params(self) -> dict[str, Any]:
        return {}

    def versions(self) -> dict[str, str]:
        return {}

    def setup(self) -> None:
        pass

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        return self.names, self.extract_batch([signal])[0]

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        type(self).calls.append(len(signals))
        if any(len(s) < 0.6 * self.sample_rate for s in signals):
            raise RuntimeError("input too short for the model")
        return np.array([[float(np.mean(s)), len(s) / self.sample_rate] for s in signals])


def test_a_file_that_breaks_its_batch_is_rejected_alone(segments_csv: Path, tmp_path: Path) -> None:

    table = pl.read_csv(segments_csv)
    samples = table.with_row_index("i").select(
        pl.format("s{}", "i").alias("sample"), pl.lit("db").alias("database"), "file", "start", "end",
        (pl.col("end") - pl.col("start")).alias("duration"), pl.format("key{}", "i").alias("content_key"))
    ctx = RunContext(Workspace(tmp_path / "ws"), logging.getLogger("test"))
    predictor = _BreaksOnShort({"batch_size": 3})
    _BreaksOnShort.calls.clear()
    report = ensure_features(ctx, predictor, samples)
    # 7 samples: the silent one never reaches the model; the 0.5 s segment breaks its batch of 3 → retried one by one
    assert report.computed == 5 and report.failed == 2
    assert max(_BreaksOnShort.calls) == 3 and 1 in _BreaksOnShort.calls
    rows = load_features(ctx, predictor, samples["content_key"].to_list()).join(samples, on="content_key")
    assert np.allclose(rows["est_seconds"].to_numpy(), rows["duration"].to_numpy(), atol=1e-3)
    reasons = pl.read_parquet(ctx.workspace.parts("rejects", "features-")[0])["reason"].to_list()
    assert any("input too short for the model" in r for r in reasons) and any("silent" in r for r in reasons)


def test_decoding_processes_give_the_rows_of_decoding_threads(segments_csv: Path, tmp_path: Path, monkeypatch) -> None:
    """Large jobs decode in processes (small ones in threads): the same rows and the same rejects either way."""
    import nkl.features.cache as engine

    table = pl.read_csv(segments_csv)
    samples = table.with_row_index("i").select(
        pl.format("s{}", "i").alias("sample"), pl.lit("db").alias("database"), "file", "start", "end",
        (pl.col("end") - pl.col("start")).alias("duration"), pl.format("key{}", "i").alias("content_key"))
    found = {}
    for how, processes in (("threads", 0), ("processes", 2)):
        monkeypatch.setattr(engine, "decode_processes", lambda n, p=processes: p)
        ctx = RunContext(Workspace(tmp_path / how), logging.getLogger("test"))
        predictor = _BreaksOnShort({"batch_size": 2})
        report = ensure_features(ctx, predictor, samples)
        assert report.computed == 5 and report.failed == 2
        found[how] = load_features(ctx, predictor, samples["content_key"].to_list()).sort("content_key")
    assert found["threads"].equals(found["processes"])


def test_batch_size_zero_means_64_on_a_gpu_and_8_on_the_cpu() -> None:
    assert _BreaksOnShort(device="cpu").batch_size == 8
    assert _BreaksOnShort(device="cuda").batch_size == 64
    assert _BreaksOnShort(device="cuda", batch_size=16).batch_size == 16
