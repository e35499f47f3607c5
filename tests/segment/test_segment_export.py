"""`[SEGMENT] output_audio`: every segment written as an audio file holding exactly that stretch of the source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf

import nkl
from nkl.audio.decode import load_audio
from tests.conftest import segment_ini


def test_exported_segments_hold_the_source_audio(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    files = emodb_table.sort("file").head(4)
    csv = tmp_path / "four.csv"
    files.with_columns(pl.format("{}/{}", pl.lit(str(emodb)), "file").alias("file")).write_csv(csv)
    ini = segment_ini(tmp_path, csv, """
        output_audio = True
        audio_format = flac
        sampling_rate = 16000
        max_length = 0.8
        """)
    done = run_cli("segment", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    segments = nkl.connect(tmp_path / "ws").sql("select file, start, \"end\", audio_file, emotion from segments order by audio_file")
    assert segments.height >= 4 and segments["audio_file"].null_count() == 0
    for row in segments.iter_rows(named=True):
        path = Path(row["audio_file"])
        assert path.parent == tmp_path / "ws" / "segments" / "db" and path.suffix == ".flac" and "_segment_" in path.name
        exported, rate = sf.read(path, dtype="float32")
        source, _ = load_audio(row["file"], row["start"], row["end"], 16000)
        assert rate == 16000 and len(exported) == len(source)
        assert np.max(np.abs(exported - np.clip(source, -1, 1 - 2**-15))) < 2e-4, np.max(np.abs(source))  # 16-bit quantisation only
    listing = pl.read_csv(tmp_path / "ws" / "segmented_files.csv")
    assert sorted(listing["file"].to_list()) == sorted(segments["audio_file"].to_list()) and "emotion" in listing.columns

    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ws" / "segments" / "db").iterdir()}
    again = run_cli("segment", ini, cwd=tmp_path)  # a re-run keeps the files already written
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ws" / "segments" / "db").iterdir()} == before
