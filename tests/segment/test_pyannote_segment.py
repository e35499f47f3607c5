"""`[SEGMENT] method = pyannote` with small random pyannote models saved to folders and loaded the real way.

Random weights give meaningless segments: these tests check structure (schema, bounds inside each file, caching,
speaker labels from a diarization pipeline) and the offline failure, not accuracy.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl
import pytest

import nkl
from nkl.audio.decode import load_audio
from tests.conftest import segment_ini

pytest.importorskip("pyannote.audio")


def _csv(emodb: Path, emodb_table: pl.DataFrame, path: Path, n: int = 3) -> Path:
    """``n`` EmoDB files without a speaker column (so that only diarization can name speakers)."""
    rows = emodb_table.sort("file").head(n).with_columns(pl.concat_str(pl.lit(str(emodb) + "/"), pl.col("file")).alias("file"))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.select("file", "gender", "emotion").write_csv(path)
    return path


def _ini(tmp_path: Path, csv: Path, extra: str) -> Path:
    return segment_ini(tmp_path, csv, "method = pyannote\n" + textwrap.dedent(extra))


def test_pyannote_vad_from_a_local_model_folder(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    from tests.pyannote_models import save_random_segmentation

    model = save_random_segmentation(tmp_path / "segmentation")
    csv = _csv(emodb, emodb_table, tmp_path / "data" / "three.csv")
    ini = _ini(tmp_path, csv, f"pyannote.model = {model}\nmax_length = 0.5\nmin_length = 0.1\n")
    done = run_cli("segment", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    segments = catalog.sql("select s.*, x.duration as file_duration from segments s join samples x on x.sample = s.source")
    assert segments["source"].n_unique() == 3
    assert segments.schema["speaker"] == pl.String and segments["speaker"].is_null().all()  # VAD alone knows no speakers
    assert ((segments["start"] >= 0) & (segments["end"] <= segments["file_duration"] + 1e-6) & (segments["end"] > segments["start"])).all()
    assert (segments["duration"] <= 0.5 + 0.1 + 1e-6).all()
    raw = catalog.sql("select * from vad_pyannote")
    assert raw.height == 3 and set(raw.columns) == {"content_key", "segments"}
    parts = sorted((tmp_path / "ws" / "tables" / "vad_pyannote").glob("*.parquet"))

    again = run_cli("segment", ini, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted((tmp_path / "ws" / "tables" / "vad_pyannote").glob("*.parquet")) == parts  # cached by content: nothing new
    assert (tmp_path / "ws" / "segmented.csv").read_text().splitlines()[0] == "file,start,end,speaker,gender,age,emotion"


def test_diarization_pipeline_names_speakers_within_each_file(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    from nkl.segment.pyannote_vad import is_pipeline, load_segmenter
    from tests.pyannote_models import save_random_pipeline

    folder = save_random_pipeline(tmp_path / "pipeline")
    assert is_pipeline(str(folder)) and not is_pipeline(str(folder / "segmentation"))
    segmenter = load_segmenter(str(folder), threshold=0.5, token=None)
    file = emodb_table.sort("file")["file"][0]
    signal, rate = load_audio(emodb / file, 0.0, None, 16000)
    found = segmenter(signal, rate)
    assert found and all(0 <= start < end <= len(signal) / rate + 1e-9 and speaker.startswith("SPEAKER_") for start, end, speaker in found)

    done = run_cli("segment", _ini(tmp_path, _csv(emodb, emodb_table, tmp_path / "data" / "two.csv", n=2), f"pyannote.model = {folder}\n"),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    segments = nkl.connect(tmp_path / "ws").sql("select * from segments")
    assert segments["source"].n_unique() == 2 and segments["speaker"].str.starts_with("SPEAKER_").all()
    assert (tmp_path / "ws" / "segmented.csv").read_text().splitlines()[1].split(",")[3].startswith("SPEAKER_")


def test_offline_hub_model_is_one_line_and_writes_nothing(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    csv = _csv(emodb, emodb_table, tmp_path / "data" / "one.csv", n=1)
    done = run_cli("segment", _ini(tmp_path, csv, ""), cwd=tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "pyannote/segmentation-3.0" in errors[0] and "[SEGMENT] pyannote.model" in errors[0] and "hf_token" in errors[0]
    assert not [p for p in (tmp_path / "hf").rglob("*") if p.is_file()]
    assert not (tmp_path / "ws" / "tables" / "vad_pyannote").exists() and not (tmp_path / "ws" / "tables" / "segments").exists()
