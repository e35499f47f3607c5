"""Praat voice features of one signal (nkl.features.praat_voice) on real EmoDB speech and synthetic signals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("parselmouth", reason="praat-parselmouth is not installed")
sf = pytest.importorskip("soundfile")
from scipy.signal import resample_poly  # noqa: E402

from nkl.features.praat_voice import GROUPS, PRAAT_FEATURES, praat_features  # noqa: E402

IDX = {name: i for i, name in enumerate(PRAAT_FEATURES)}
FEMALE = ("08", "09", "13", "14", "16")
MALE = ("03", "10", "11", "12", "15")
PER_SPEAKER = 3


def read(emodb: Path, file: str) -> tuple[np.ndarray, int]:
    signal, rate = sf.read(emodb / file, dtype="float64")
    return signal, rate


@pytest.fixture(scope="module")
def speech(emodb: Path, emodb_table: pl.DataFrame) -> dict[str, tuple[str, np.ndarray]]:
    """file -> (speaker, feature vector) for the first three files of each of the ten speakers."""
    rows = emodb_table.sort("file").group_by("speaker", maintain_order=True).head(PER_SPEAKER)
    out = {}
    for file, speaker in rows.select("file", "speaker").iter_rows():
        signal, rate = read(emodb, file)
        out[file] = (speaker, praat_features(signal, rate))
    return out


def test_names_are_fixed_unique_snake_case_and_grouped() -> None:
    assert len(PRAAT_FEATURES) == 42
    assert len(set(PRAAT_FEATURES)) == len(PRAAT_FEATURES)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in PRAAT_FEATURES)
    assert set(GROUPS) == {"pitch", "voice_quality", "formants", "speech_rate", "pauses", "vocal_tract"}
    assert tuple(name for names in GROUPS.values() for name in names) == PRAAT_FEATURES
    for name in ("f0_mean_hz", "hnr_mean_db", "jitter_local", "shimmer_local_db", "f1_mean_hz", "speech_rate_syl_s", "fitch_vtl_cm"):
        assert name in PRAAT_FEATURES


def test_real_speech_gives_a_mostly_finite_plausible_vector(speech: dict[str, tuple[str, np.ndarray]]) -> None:
    assert len(speech) == 10 * PER_SPEAKER
    for file, (_, v) in speech.items():
        assert v.shape == (len(PRAAT_FEATURES),) and v.dtype == np.float64, file
        # only the pause statistics may be undefined: EmoDB's 2 s cuts seldom hold a pause of 0.3 s
        always = [n for n in PRAAT_FEATURES if n not in GROUPS["pauses"] and n != "asd_s"]
        assert np.isfinite(v[[IDX[n] for n in always]]).all(), (file, [n for n in always if not np.isfinite(v[IDX[n]])])
        assert 75.0 <= v[IDX["f0_min_hz"]] <= v[IDX["f0_median_hz"]] <= v[IDX["f0_max_hz"]] <= 600.0, file
        assert 75.0 <= v[IDX["f0_mean_hz"]] <= 600.0, file
        assert 0 < v[IDX["jitter_local"]] < 0.2 and 0 < v[IDX["shimmer_local"]] < 0.5, file
        assert 0 < v[IDX["hnr_mean_db"]] < 40, file
        f1, f2, f3, f4 = (v[IDX[f"f{i}_median_hz"]] for i in range(1, 5))
        assert 200 < f1 < f2 < f3 < f4 < 5500, file
        assert v[IDX["duration_s"]] == pytest.approx(2.0, abs=1e-3)
        assert 2 <= v[IDX["n_syllables"]] <= 20, file  # German read speech: about 3–8 syllables per second
        assert 0 < v[IDX["phonation_time_s"]] <= v[IDX["duration_s"]] + 1e-9, file


def test_derived_features_follow_from_the_same_file(speech: dict[str, tuple[str, np.ndarray]]) -> None:
    for _, v in speech.values():
        medians = np.array([v[IDX[f"f{i}_median_hz"]] for i in range(1, 5)])
        dispersion = (medians[3] - medians[0]) / 3
        odd = np.array([0.5, 1.5, 2.5, 3.5])
        delta_f = (medians * odd).sum() / (odd**2).sum()
        assert v[IDX["avg_formant_hz"]] == pytest.approx(medians.mean())
        assert v[IDX["formant_dispersion_hz"]] == pytest.approx(dispersion)
        assert v[IDX["mff_hz"]] == pytest.approx(np.prod(medians) ** 0.25)
        assert v[IDX["fitch_vtl_cm"]] == pytest.approx(35000 / (2 * dispersion))
        assert v[IDX["delta_f_hz"]] == pytest.approx(delta_f)
        assert v[IDX["vtl_delta_f_cm"]] == pytest.approx(35000 / (2 * delta_f))
        assert 10 < v[IDX["vtl_delta_f_cm"]] < 22  # adult vocal tracts
        n, duration, phonation = v[IDX["n_syllables"]], v[IDX["duration_s"]], v[IDX["phonation_time_s"]]
        assert v[IDX["speech_rate_syl_s"]] == pytest.approx(n / duration)
        assert v[IDX["articulation_rate_syl_s"]] == pytest.approx(n / phonation)
        assert v[IDX["asd_s"]] == pytest.approx(phonation / n)


def test_female_speakers_have_higher_f0_than_male(speech: dict[str, tuple[str, np.ndarray]]) -> None:
    f0 = {gender: [v[IDX["f0_mean_hz"]] for speaker, v in speech.values() if speaker in group] for gender, group in (("f", FEMALE), ("m", MALE))}
    assert len(f0["f"]) == len(f0["m"]) == 5 * PER_SPEAKER
    assert np.mean(f0["f"]) > 1.3 * np.mean(f0["m"])
    assert np.median(f0["f"]) > np.median(f0["m"]) + 50


@pytest.mark.parametrize("file", ["wav/03a01Fa.wav", "wav/14a02Wa.wav"])
def test_sample_rate_and_channels_do_not_change_pitch_or_syllables(emodb: Path, file: str) -> None:
    signal, rate = read(emodb, file)
    assert rate == 22050
    base = praat_features(signal, rate)
    at_16k = resample_poly(signal, 320, 441)
    stereo_44k = np.stack([resample_poly(signal, 2, 1), 0.8 * resample_poly(signal, 2, 1)], axis=1)
    for other, other_rate in ((at_16k, 16000), (stereo_44k.mean(axis=1), 44100)):
        v = praat_features(other, other_rate)
        assert v[IDX["f0_mean_hz"]] == pytest.approx(base[IDX["f0_mean_hz"]], rel=0.03), other_rate
        assert abs(v[IDX["n_syllables"]] - base[IDX["n_syllables"]]) <= 1, other_rate
        assert v[IDX["duration_s"]] == pytest.approx(base[IDX["duration_s"]], abs=1e-3)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_telephone_and_studio_rates_work(emodb: Path, rate: int) -> None:
    signal, native = read(emodb, "wav/08a01Wc.wav")
    base = praat_features(signal, native)
    v = praat_features(resample_poly(signal, rate // 50, native // 50), rate)
    assert v[IDX["f0_mean_hz"]] == pytest.approx(base[IDX["f0_mean_hz"]], rel=0.1)
    assert np.isfinite(v[[IDX[n] for n in GROUPS["pitch"] + GROUPS["voice_quality"]]]).all()
    if rate == 8000:  # F4 lies near or above 4 kHz: undefined, and so is what is derived from it, rather than wrong
        assert np.isnan(v[IDX["f4_median_hz"]]) and np.isnan(v[IDX["fitch_vtl_cm"]])
        assert np.isfinite(v[[IDX[f"f{i}_median_hz"] for i in (1, 2, 3)]]).all()


def test_inserted_pause_is_found(emodb: Path) -> None:
    first, rate = read(emodb, "wav/03a01Fa.wav")
    second, _ = read(emodb, "wav/03b01Nb.wav")
    gap = np.random.default_rng(0).normal(0, 1e-4, int(0.6 * rate))
    v = praat_features(np.concatenate([first, gap, second]), rate)
    assert v[IDX["n_pauses"]] >= 1
    assert 0.55 <= v[IDX["pause_mean_s"]] <= 1.5  # the gap plus the quiet ends of the two utterances
    assert v[IDX["proportion_pause"]] == pytest.approx(v[IDX["n_pauses"]] * v[IDX["pause_mean_s"]] / v[IDX["duration_s"]])
    assert v[IDX["phonation_time_s"]] < v[IDX["duration_s"]] - 0.55
    if v[IDX["n_pauses"]] == 1:
        assert v[IDX["pause_std_s"]] == 0 and v[IDX["pause_cv"]] == 0


def test_harmonic_tone_has_its_f0_and_a_high_hnr() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = sum(0.3 / k * np.sin(2 * np.pi * 150 * k * t) for k in range(1, 8))
    tone = (tone + np.random.default_rng(1).normal(0, 0.003, t.size)).astype(np.float32)
    v = praat_features(tone, rate)
    assert v.dtype == np.float64
    assert v[IDX["f0_mean_hz"]] == pytest.approx(150, abs=2)
    assert v[IDX["f0_std_hz"]] < 2
    assert v[IDX["hnr_mean_db"]] > 15
    assert v[IDX["jitter_local"]] < 0.005 and v[IDX["shimmer_local"]] < 0.02
    assert v[IDX["n_pauses"]] == 0 and np.isnan(v[IDX["pause_mean_s"]])  # no pause: its statistics are undefined, not 0
    assert v[IDX["proportion_pause"]] == 0


def test_f0_range_bounds_the_pitch(emodb: Path) -> None:
    signal, rate = read(emodb, "wav/16a01Ec.wav")
    v = praat_features(signal, rate, f0_min=150, f0_max=300)
    assert 150 <= v[IDX["f0_min_hz"]] and v[IDX["f0_max_hz"]] <= 300


@pytest.mark.parametrize("signal", [np.zeros(32000), np.zeros(320), np.random.default_rng(2).normal(0, 0.1, 32000)], ids=["silence", "20ms", "noise"])
def test_nothing_to_measure_raises_value_error(signal: np.ndarray) -> None:
    # documented behaviour: silence, white noise (no voiced frame) and a 20 ms signal raise ValueError, never another error
    with pytest.raises(ValueError, match=r"voiced|too short"):
        praat_features(signal, 16000)


def test_very_short_voiced_signal_gives_nans_not_an_error() -> None:
    t = np.arange(800) / 16000  # 50 ms: pitch works, the 64 ms intensity window of the speech rate does not
    v = praat_features(0.5 * np.sin(2 * np.pi * 200 * t), 16000)
    assert v[IDX["f0_mean_hz"]] == pytest.approx(200, abs=5)
    assert np.isnan(v[[IDX[n] for n in GROUPS["speech_rate"]]]).all()


@pytest.mark.parametrize(("signal", "rate", "kwargs"), [
    (np.zeros((16000, 2)), 16000, {}),
    (np.full(16000, np.nan), 16000, {}),
    (np.array([]), 16000, {}),
    (np.zeros(16000), 0, {}),
    (np.zeros(16000), 16000, {"f0_min": 300, "f0_max": 100}),
], ids=["stereo", "nan", "empty", "rate0", "f0range"])
def test_bad_input_raises_value_error(signal: np.ndarray, rate: int, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        praat_features(signal, rate, **kwargs)
