"""`spectra` (fixed-size log-mel spectrograms) and the `cnn` model on them: a tone lands in its mel band, a CNN learns
two classes of tones from the spectrograms, its saved model predicts new files as in the experiment, and bad keys are
one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("librosa")
pytest.importorskip("torch")

from nkl.catalog.workspace import Workspace
from nkl.features.spectra_extractor import SpectraExtractor, image_shape

RATE = 16000


def tone(freq: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.normal(size=t.size)).astype(np.float32)


def test_a_tone_is_loudest_in_its_mel_band_and_the_shape_is_fixed() -> None:
    import librosa

    extractor = SpectraExtractor({"fft_nbands": 40, "frames": 50})
    rng = np.random.default_rng(0)
    for seconds in (0.3, 2.7):  # any length becomes 40 × 50
        names, values = extractor.extract(tone(1000.0, seconds, rng), RATE)
        assert len(names) == len(values) == 40 * 50 and image_shape(names) == (40, 50)
        image = values.reshape(40, 50)
        assert -1.0 < image.max() <= 0.0 and image.min() >= -80.0  # dB relative to the peak (resizing blurs it), 80 dB floor
        centres = librosa.mel_frequencies(n_mels=42, fmax=RATE / 2)[1:-1]
        assert abs(int(np.argmax(image.mean(axis=1))) - int(np.argmin(np.abs(centres - 1000.0)))) <= 1


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 speakers × 8 clips of 0.5–1.5 s: a low (300 Hz) or high (2500 Hz) tone in noise."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(1)
    rows = []
    for speaker in range(8):
        for i in range(8):
            label = "low" if i % 2 == 0 else "high"
            path = folder / f"s{speaker}_{i}.wav"
            sf.write(path, tone(300.0 if label == "low" else 2500.0, rng.uniform(0.5, 1.5), rng), RATE)
            rows.append({"file": str(path), "speaker": f"s{speaker}", "label": label})
    pl.DataFrame(rows).write_csv(folder / "tones.csv")
    return folder


def test_cnn_learns_tones_from_spectrograms_and_predicts_new_files(tones: Path, tmp_path: Path, run_cli) -> None:
    ini = tmp_path / "cnn.ini"
    ini.write_text(f"[EXP]\nroot = {tmp_path / 'ws'}\nname = cnn\nepochs = 8\ntraindevtest = True\n"
                   f"[DATA]\ndatabases = ['db']\ndb = {tones / 'tones.csv'}\ndb.split_strategy = ['s0', 's1']\ndb.dev = ['s2']\n"
                   "target = label\n[FEATS]\ntype = ['spectra']\nfft_nbands = 32\nspectra.frames = 32\nscale = standard\nworkers = 1\n"
                   "[MODEL]\ntype = cnn\nlayers = [16]\nlearning_rate = 0.003\nbatch_size = 8\n")
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ws = Workspace(tmp_path / "ws")
    uar = ws.read_part("results", "cnn").filter((pl.col("split") == "test") & (pl.col("metric") == "uar"))["value"][0]
    assert uar >= 0.9, uar
    saved = json.loads(next((tmp_path / "ws" / "experiments" / "cnn" / "model").rglob("estimator.json")).read_text())
    assert saved["architecture"]["image"] == [32, 32]  # read back from the spectra columns
    out = tmp_path / "applied.csv"
    applied = run_cli("predict", "--model", "cnn", "-w", tmp_path / "ws", "--list", tones / "tones.csv", "--out", out, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    got = dict(pl.read_csv(out).select("file", "predicted").iter_rows())
    stored = ws.read_part("predictions", "cnn").filter(pl.col("split") == "test")
    expected = dict(stored.join(ws.read_part("samples", "db").select("sample", "file"), on="sample").select("file", "predicted").iter_rows())
    assert {f: got[f] for f in expected} == expected


def test_bad_spectra_keys_are_one_line(tones: Path, tmp_path: Path, run_cli) -> None:
    for keys, message in (("spectra.frames = 0", "spectra.frames = 0"), ("fft_win_dur = 5\nfft_hop_dur = 10", "fft_win_dur = 5 ms")):
        ini = tmp_path / "bad.ini"
        ini.write_text(f"[EXP]\nroot = {tmp_path / 'ws'}\nname = bad\n[DATA]\ndatabases = ['db']\ndb = {tones / 'tones.csv'}\n"
                       f"db.split_strategy = ['s0']\ntarget = label\n[FEATS]\ntype = ['spectra']\n{keys}\n[MODEL]\ntype = cnn\n")
        done = run_cli("run", ini, cwd=tmp_path)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr
