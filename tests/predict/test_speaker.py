"""The speaker target: Resemblyzer embeddings + clustering on real EmoDB speakers; pyannote with a random pipeline folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import nkl
from nkl.errors import ConfigError
from nkl.predict.speaker import cluster_speakers, speaker_labels
from tests.conftest import write_subset


def _ini(tmp_path: Path, csv: Path, extra: str = "", name: str = "spk") -> Path:
    path = tmp_path / f"{name}.ini"
    path.write_text(textwrap.dedent(f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = {name}
        [DATA]
        databases = ['db']
        db = {csv}
        target = emotion
        [PREDICT]
        targets = ['speaker']
        workers = 1
        """).lstrip() + textwrap.dedent(extra), encoding="utf-8")
    return path


def _speaker_rows(root: Path) -> pl.DataFrame:
    return nkl.connect(root).sql("select s.speaker, e.est_speaker from samples s join estimates e using (sample) order by s.file")


def test_clusters_are_numbered_by_size() -> None:
    embeddings = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [1.0, 0.05]])
    assert cluster_speakers(embeddings, num_speakers=2).tolist() == [1, 0, 0, 0]
    assert cluster_speakers(embeddings, threshold=0.003).tolist() == [1, 0, 2, 0]  # tight threshold: only near-identical rows merge
    assert cluster_speakers(embeddings[:1]).tolist() == [0]
    assert speaker_labels(np.arange(101))[-1] == "spk_100"
    with pytest.raises(ConfigError, match="num_speakers = 5 but only 4 samples"):
        cluster_speakers(embeddings, num_speakers=5)


def test_two_emodb_speakers_separate_then_nothing_twice(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    """5 files of a female (08) and a male (12) speaker: the default threshold finds exactly these two speakers."""
    csv = write_subset(emodb, emodb_table, tmp_path / "data" / "two.csv", per_speaker=5, speakers=["08", "12"])
    ini = _ini(tmp_path, csv)
    first = run_cli("predict", ini, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "10 computed, 0 from cache" in " ".join(first.stderr.split())
    rows = _speaker_rows(tmp_path / "ws")
    assert rows.height == 10
    pairs = rows.unique().sort("speaker")
    assert pairs.height == 2 and pairs["est_speaker"].n_unique() == 2, pairs  # one found speaker per true speaker
    assert sorted(pairs["est_speaker"].to_list()) == ["spk_00", "spk_01"]
    plot = tmp_path / "ws" / "experiments" / "spk" / "plots" / "spk_speakers.png"
    assert plot.stat().st_size > 1000 and plot.with_suffix(".svg").is_file()
    embeddings = nkl.connect(tmp_path / "ws").sql("select * from embeddings_speaker_resemblyzer")
    assert embeddings.height == 10 and len([c for c in embeddings.columns if c.startswith("emb_")]) == 256

    second = run_cli("predict", ini, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 computed, 10 from cache" in " ".join(second.stderr.split())
    assert _speaker_rows(tmp_path / "ws").equals(rows)

    # another selection (3 + 3 of the same files): embeddings reused, clustered again, only the new set is labelled
    fewer = write_subset(emodb, emodb_table, tmp_path / "data" / "fewer.csv", per_speaker=3, speakers=["08", "12"])
    third = run_cli("predict", _ini(tmp_path, fewer, "speaker.num_speakers = 2\n", name="fewer"), cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert "0 computed, 6 from cache" in " ".join(third.stderr.split())
    table = nkl.connect(tmp_path / "ws").sql("select * from estimates_speaker")
    assert table.height == 6 and table["set_hash"].n_unique() == 1
    assert dict(table.schema) == {"content_key": pl.String, "spec_hash": pl.String, "set_hash": pl.String, "est_speaker": pl.String}
    labelled = _speaker_rows(tmp_path / "ws").unique()
    assert labelled.height == 2 and labelled["est_speaker"].n_unique() == 2


def test_pyannote_pipeline_from_a_local_folder(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    pytest.importorskip("pyannote.audio")
    from tests.pyannote_models import save_random_pipeline

    pipeline = save_random_pipeline(tmp_path / "pipeline")
    csv = write_subset(emodb, emodb_table, tmp_path / "data" / "two.csv", per_speaker=2, speakers=["08", "12"])
    done = run_cli("predict", _ini(tmp_path, csv, f"speaker.method = pyannote\nspeaker.pipeline = {pipeline}\nspeaker.num_speakers = 2\n"),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    table = catalog.sql("select * from estimates_speaker")
    assert dict(table.schema) == {"content_key": pl.String, "spec_hash": pl.String, "set_hash": pl.String, "est_speaker": pl.String,
                                  "est_speakers_in_file": pl.Int64, "est_speaker_share": pl.Float64}
    assert table.height == 4 and set(table["est_speaker"]) == {"spk_00", "spk_01"}
    assert table["est_speakers_in_file"].min() >= 1 and ((table["est_speaker_share"] > 0) & (table["est_speaker_share"] <= 1)).all()
    embeddings = catalog.sql("select * from embeddings_speaker_pyannote")
    assert len([c for c in embeddings.columns if c.startswith("emb_")]) == 512  # the pipeline's x-vector size
    estimates = catalog.sql("select est_speaker, est_speakers_in_file from estimates")
    assert estimates.height == 4 and estimates["est_speaker"].is_not_null().all()


def test_pyannote_offline_is_one_line_and_leaves_nothing(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyannote.audio")
    hub = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    csv = write_subset(emodb, emodb_table, tmp_path / "data" / "one.csv", per_speaker=1, speakers=["08"])
    done = run_cli("predict", _ini(tmp_path, csv, "speaker.method = pyannote\n"), cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "no network and no copy in the Hugging Face cache" in lines[0]
    assert "pyannote/speaker-diarization-community-1" in lines[0] and "[PREDICT] speaker.pipeline" in lines[0] and "hf_token" in lines[0]
    assert not [p for p in hub.rglob("*") if p.is_file()]  # no half-downloaded model
    assert not (tmp_path / "ws" / "tables" / "estimates_speaker").exists()
    assert not (tmp_path / "ws" / "tables" / "embeddings_speaker_pyannote").exists()

    missing = run_cli("predict", _ini(tmp_path, csv, f"speaker.method = pyannote\nspeaker.pipeline = {tmp_path / 'nowhere'}\n"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
