"""The blind SNR predictor on real speech: EmoDB utterances mixed with white noise and with babble at known SNRs.

True SNR here: 10·log10(P_speech / P_noise), where P_speech is the clean utterance's active speech level (mean power
of its 20 ms frames within 15.9 dB of that level, ITU-T P.56 style, so pauses do not count) and P_noise is the mean
power of the added noise over the whole clip.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.audio.decode import load_audio
from nkl.predict.registry import get_predictor_class
from nkl.predict.snr import MAX_DB, MIN_DB, SnrPredictor, estimate_snr

RATE = 16000
TRUE_SNRS = (0, 5, 10, 15, 20, 25, 30)
BABBLE_TALKERS = 5


def active_power(speech: np.ndarray) -> float:
    """Mean power of the 20 ms frames within 15.9 dB of that mean (the fixed point P.56 iterates to)."""
    frame = RATE // 50
    power = (speech[: len(speech) // frame * frame].astype(np.float64).reshape(-1, frame) ** 2).mean(axis=1)
    threshold = 0.0
    for _ in range(50):
        level = power[power > threshold].mean()
        threshold, previous = level / 10**1.59, threshold
        if threshold == previous:
            break
    return float(level)


def babble_noise(emodb: Path, others: list[str], length: int, rng: np.random.Generator) -> np.ndarray:
    """Five utterances of other speakers, each at unit active level, looped from a random offset and summed."""
    total = np.zeros(length)
    for file in rng.choice(others, BABBLE_TALKERS, replace=False):
        talker = load_audio(emodb / file, sample_rate=RATE)[0].astype(np.float64)
        looped = np.tile(talker / np.sqrt(active_power(talker)), length // len(talker) + 2)
        start = int(rng.integers(len(talker)))
        total += looped[start : start + length]
    return total


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so that the true SNR (module docstring) is ``snr_db``."""
    noise_power = np.mean(noise**2)
    return (speech + noise * np.sqrt(active_power(speech) / noise_power / 10 ** (snr_db / 10))).astype(np.float32)


@pytest.fixture(scope="module")
def estimates(emodb: Path, emodb_table: pl.DataFrame) -> dict[str, dict[tuple[str, str], float]]:
    """Estimates per noise type and (file, true SNR or 'clean'), for two utterances of each of the ten speakers."""
    rng = np.random.default_rng(7)
    chosen = emodb_table.sort("file").unique(["speaker", "emotion"], keep="first", maintain_order=True)
    chosen = chosen.group_by("speaker", maintain_order=True).head(2)
    assert chosen["speaker"].n_unique() == 10 and chosen["emotion"].n_unique() >= 5
    results: dict[str, dict[tuple[str, str], float]] = {"white": {}, "babble": {}}
    for file, speaker in chosen.select("file", "speaker").iter_rows():
        speech = load_audio(emodb / file, sample_rate=RATE)[0].astype(np.float64)
        others = emodb_table.filter(pl.col("speaker") != speaker)["file"].to_list()
        noises = {"white": rng.standard_normal(len(speech)), "babble": babble_noise(emodb, others, len(speech), rng)}
        clean = estimate_snr(speech.astype(np.float32), RATE)
        for kind, noise in noises.items():
            results[kind][(file, "clean")] = clean
            for snr in TRUE_SNRS:
                results[kind][(file, str(snr))] = estimate_snr(mix(speech, noise, snr), RATE)
    return results


def pairs(results: dict[tuple[str, str], float]) -> tuple[np.ndarray, np.ndarray]:
    true = [(float(snr), value) for (_, snr), value in results.items() if snr != "clean"]
    return np.array([t for t, _ in true]), np.array([v for _, v in true])


@pytest.mark.parametrize("kind", ["white", "babble"])
def test_estimate_follows_true_snr(estimates: dict, kind: str) -> None:
    true, estimated = pairs(estimates[kind])
    assert np.all(np.isfinite(estimated))
    r = np.corrcoef(true, estimated)[0, 1]
    assert r > 0.9, f"{kind}: Pearson r {r:.3f}"


def test_white_noise_estimates_are_close_in_db(estimates: dict) -> None:
    """Below 20 dB (where EmoDB's own recording noise does not matter) the white-noise estimate is in dB, not just ranked."""
    true, estimated = pairs(estimates["white"])
    low = true <= 20
    assert np.median(np.abs(estimated[low] - true[low])) < 2.0


@pytest.mark.parametrize("kind", ["white", "babble"])
def test_clean_reads_cleaner_than_noisy(estimates: dict, kind: str) -> None:
    results = estimates[kind]
    files = {file for file, _ in results}
    for snr in ("0", "10"):
        cleaner = np.mean([results[(f, "clean")] > results[(f, snr)] for f in files])
        assert cleaner >= 0.9, f"{kind} {snr} dB: clean above noisy for only {cleaner:.0%} of files"


def test_silence_short_and_constant_signals_are_finite(emodb: Path) -> None:
    speech = load_audio(emodb / "wav" / "03a01Fa.wav", sample_rate=RATE)[0]
    signals = {
        "silence": np.zeros(RATE, dtype=np.float32),
        "constant": np.full(RATE, 0.3, dtype=np.float32),
        "50 ms speech": speech[RATE // 2 : RATE // 2 + RATE // 20],
        "50 ms noise": np.random.default_rng(0).standard_normal(RATE // 20).astype(np.float32),
        "one sample": np.ones(1, dtype=np.float32),
        "empty": np.zeros(0, dtype=np.float32),
    }
    for name, signal in signals.items():
        value = estimate_snr(signal, RATE)
        assert np.isfinite(value) and MIN_DB <= value <= MAX_DB, name
    assert estimate_snr(signals["silence"], RATE) == MIN_DB
    assert estimate_snr(signals["constant"], RATE) == MIN_DB


def test_predictor_spec_round_trips_and_extracts(emodb: Path) -> None:
    predictor = get_predictor_class("snr")()
    assert isinstance(predictor, SnrPredictor) and predictor.deterministic
    spec = predictor.spec()
    assert {"name", "params", "versions"} <= set(spec) and spec["name"] == "snr"
    assert json.loads(json.dumps(spec)) == spec
    assert "nkl.snr" in spec["versions"] and "numpy" in spec["versions"]
    clone = pickle.loads(pickle.dumps(predictor))
    assert clone.spec() == spec and clone.spec_hash == predictor.spec_hash
    assert predictor.table == "estimates_snr"

    speech = load_audio(emodb / "wav" / "03a01Fa.wav", sample_rate=predictor.sample_rate)[0]
    predictor.setup()
    names, values = predictor.extract(speech, predictor.sample_rate)
    assert names == ["est_snr"] and values.shape == (1,)
    assert values[0] == clone.extract(speech, predictor.sample_rate)[1][0] == estimate_snr(speech, predictor.sample_rate)
