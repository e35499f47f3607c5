"""`nkl segment CONFIG`: segments and silences tables, a CSV that `nkl run` reads, cached VAD."""

from __future__ import annotations

import textwrap
from pathlib import Path

import polars as pl

import nkl
from tests.conftest import segment_ini


def _ini(tmp_path: Path, csv: Path, extra: str = "") -> Path:
    return segment_ini(tmp_path, csv, "method = silero\n" + extra)


def test_segments_cover_speech_and_feed_a_run(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    ini = _ini(tmp_path, balanced_csv, "max_length = 1.0\nmin_length = 0.3")
    done = run_cli("segment", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    segments = catalog.sql("select * from segments")
    assert segments["source"].n_unique() == 60
    # pieces are at most max_length, except that a leftover shorter than min_length joins the previous piece
    assert (segments["duration"] <= 1.0 + 0.3 + 1e-6).all() and (segments["duration"] >= 0.3 - 1e-6).all()
    assert (segments["end"] > segments["start"]).all()
    csv = tmp_path / "ws" / "segmented.csv"
    table = pl.read_csv(csv, infer_schema=False)
    assert table.columns[:3] == ["file", "start", "end"] and "emotion" in table.columns and "speaker" in table.columns
    assert (tmp_path / "ws" / "experiments" / "seg" / "plots" / "seg_segment_durations.png").is_file()
    gaps = pl.read_csv(tmp_path / "ws" / "segmented_silence.csv")  # nkululeko's <result>_silence.csv
    assert gaps.columns == ["file", "start", "end", "duration"] and gaps.height == catalog.sql("select count(*) from silences").item()

    again = run_cli("segment", ini, cwd=tmp_path)  # VAD results are cached by content: no second model pass
    assert again.returncode == 0 and "Segmenting" not in again.stderr

    run_ini = tmp_path / "run.ini"
    run_ini.write_text(textwrap.dedent(f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = on_segments
        [DATA]
        databases = ['seg']
        seg = {csv}
        seg.split_strategy = ['03', '08', '09', '10']
        target = emotion
        [FEATS]
        type = ['os']
        workers = 1
        [MODEL]
        type = xgb
        """).lstrip())
    trained = run_cli("run", run_ini, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    samples = nkl.connect(tmp_path / "ws").sql("select count(*) n from splits where experiment = 'on_segments'")
    assert samples["n"][0] == segments.height


def test_unknown_method_is_a_config_error(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    bad = tmp_path / "bad.ini"
    bad.write_text(_ini(tmp_path, balanced_csv).read_text().replace("method = silero", "method = silerro"))
    failed = run_cli("segment", bad, cwd=tmp_path)
    assert failed.returncode == 2 and "did you mean 'silero'" in failed.stderr
