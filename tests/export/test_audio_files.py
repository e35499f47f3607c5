"""`nkl resample` and `nkl export`: mono WAV at one rate, sources untouched unless asked, resumable with nothing
half-written, segments cut into files, a CSV that loads back as a database, one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from nkl.export import audio_files

LOG = logging.getLogger("nkl.test")


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    t = np.arange(44100) / 44100
    sf.write(folder / "a" / "x.wav", np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1).astype(np.float32), 44100)
    sf.write(folder / "b" / "x.flac", np.sin(2 * np.pi * 220 * t).astype(np.float32), 44100)
    sf.write(folder / "b" / "y.wav", np.sin(2 * np.pi * 330 * t[:22050]).astype(np.float32), 22050)
    (folder / "broken.wav").write_text("not audio")
    return folder


def files_below(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resample_a_folder_keeps_the_sources_and_resumes(sources: Path, tmp_path: Path, run_cli) -> None:
    before = files_below(sources)
    done = run_cli("resample", "--folder", sources, "--out", tmp_path / "out", "--csv", tmp_path / "list.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 written, 0 already done, 1 unusable" in " ".join(done.stderr.split())
    assert files_below(sources) == before  # sources untouched without --replace
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.wav"))
    assert written == ["a/x_16kHz.wav", "b/x_16kHz.wav", "b/y_16kHz.wav"]  # folders kept: two x files do not collide
    for path in (tmp_path / "out").rglob("*.wav"):
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert sf.info(tmp_path / "out" / "b" / "y_16kHz.wav").frames == 16000  # 1 s at 22.05 kHz
    listing = pl.read_csv(tmp_path / "list.csv")
    assert listing.height == 3 and set(listing.columns) == {"file", "source"}
    again = run_cli("resample", "--folder", sources, "--out", tmp_path / "out", "--csv", tmp_path / "list.csv", cwd=tmp_path)
    assert "0 written, 3 already done" in " ".join(again.stderr.split())


def test_an_interrupted_resample_leaves_no_half_file_and_the_rerun_finishes(sources: Path, tmp_path: Path, monkeypatch) -> None:
    real_write = sf.write
    calls = []

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"RIFF half")
            raise KeyboardInterrupt
        return real_write(path, *args, **kwargs)

    paths = [str(p) for p in sorted(sources.rglob("*")) if p.suffix in (".wav", ".flac") and p.name != "broken.wav"]
    monkeypatch.setattr(audio_files.sf, "write", failing)
    with pytest.raises(KeyboardInterrupt):
        audio_files.resample_files(paths, 16000, out=tmp_path / "out", replace=False, log=LOG)
    left = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert left == ["x_16kHz.wav"]  # the first file; no temp file and no half of the second
    monkeypatch.setattr(audio_files.sf, "write", real_write)
    mapping, counts = audio_files.resample_files(paths, 16000, out=tmp_path / "out", replace=False, log=LOG)
    assert (counts.done, counts.skipped) == (2, 1) and len(mapping) == 3


def test_replace_only_when_asked(sources: Path, tmp_path: Path, run_cli) -> None:
    target = sources / "a" / "x.wav"
    done = run_cli("resample", "--file", target, "--replace", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (sf.info(target).samplerate, sf.info(target).channels) == (16000, 1)
    both = run_cli("resample", "--file", target, "--replace", "--out", tmp_path / "o", cwd=tmp_path)
    assert both.returncode == 2 and "cannot be combined" in both.stderr and "Traceback" not in both.stderr


def test_an_unwritable_output_folder_is_one_line(sources: Path, tmp_path: Path, run_cli) -> None:
    done = run_cli("resample", "--folder", sources, "--out", "/proc/nkl_cannot_write_here", cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode == 2 and len(lines) == 1 and "cannot create the folder /proc/nkl_cannot_write_here" in lines[0], done.stderr


def test_export_cuts_segments_into_files_and_the_csv_loads_back(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    rows = emodb_table.head(3).with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file"))
    segments = pl.concat([rows.with_columns(start=pl.lit(0.2), end=pl.lit(0.9)), rows.with_columns(start=pl.lit(1.0), end=pl.lit(1.5))])
    segments.select("file", "start", "end", "speaker", "gender", "age", "emotion").write_csv(tmp_path / "segments.csv")
    ini = tmp_path / "export.ini"
    ini.write_text(f"[EXP]\nroot = {tmp_path / 'ws'}\n[DATA]\ndatabases = ['seg']\nseg = {tmp_path / 'segments.csv'}\ntarget = emotion\n"
                   f"[EXPORT]\nroot = {tmp_path / 'exported'}\ndata_name = cut\nsegments_as_files = True\n")
    done = run_cli("export", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(tmp_path / "exported" / "cut.csv")
    assert table.height == 6 and "start" not in table.columns and set(table["emotion"]) <= set(emodb_table["emotion"])
    durations = sorted(round(sf.info(tmp_path / "exported" / f).duration, 2) for f in table["file"])
    assert durations == [0.5] * 3 + [0.7] * 3
    reload = tmp_path / "reload.ini"
    reload.write_text(f"[EXP]\nroot = {tmp_path / 'ws2'}\n[DATA]\ndatabases = ['cut']\ncut = {tmp_path / 'exported' / 'cut.csv'}\n"
                      "target = emotion\n[EXPORT]\nroot = " + str(tmp_path / "again") + "\n")
    assert run_cli("export", reload, cwd=tmp_path).returncode == 0  # the exported CSV is a database
    assert len(list((tmp_path / "again").glob("*.wav"))) == 6
    refused = tmp_path / "refused.ini"
    refused.write_text(reload.read_text().replace(str(tmp_path / "again"), "/sys/nkl_export"))  # /sys refuses even root
    done = run_cli("export", refused, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode == 2 and len(lines) == 1 and "/sys/nkl_export" in lines[0] and "Traceback" not in done.stderr, done.stderr
