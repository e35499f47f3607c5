"""DNSMOS on real speech: EmoDB utterances, clean and mixed with white noise at 0 dB SNR.

Most clips are cut to 1.2 s: doubled to 9.6 s they fill one model window (a full 2 s EmoDB file becomes 16 s and
seven windows), which keeps the module near 20 s on two busy cores.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.audio.decode import load_audio
from nkl.errors import MissingExtraError
from nkl.predict.dnsmos import NAMES, DnsmosPredictor
from nkl.predict.registry import get_predictor_class

RATE = 16000
CUT_S = 1.2
SPEAKERS = ["03", "08", "10", "11", "15"]


@pytest.fixture(scope="module")
def predictor() -> DnsmosPredictor:
    predictor = DnsmosPredictor()
    predictor.setup()
    return predictor


@pytest.fixture(scope="module")
def utterances(emodb: Path, emodb_table: pl.DataFrame) -> list[np.ndarray]:
    """The first utterance of five speakers, whole, at 16 kHz."""
    rows = emodb_table.filter(pl.col("speaker").is_in(SPEAKERS)).sort("file").group_by("speaker", maintain_order=True).head(1)
    return [load_audio(emodb / file, sample_rate=RATE)[0] for file in rows["file"]]


@pytest.fixture(scope="module")
def clips(utterances: list[np.ndarray]) -> list[np.ndarray]:
    return [u[: int(CUT_S * RATE)] for u in utterances]


@pytest.fixture(scope="module")
def clean_scores(predictor: DnsmosPredictor, clips: list[np.ndarray]) -> list[np.ndarray]:
    return [predictor.extract(clip, RATE)[1] for clip in clips]


def with_white_noise(clean: np.ndarray, snr_db: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, noisy)`` at ``snr_db`` (mean power over the clip), both scaled by one gain to peak at 0.9."""
    clean = clean.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(len(clean))
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    noisy = clean + noise
    gain = 0.9 / max(np.abs(clean).max(), np.abs(noisy).max())
    return (clean * gain).astype(np.float32), (noisy * gain).astype(np.float32)


def test_whole_utterances_score_on_the_mos_scale(predictor: DnsmosPredictor, utterances: list[np.ndarray]) -> None:
    for utterance in utterances[:1]:  # 2 s: doubled to 16 s, seven windows averaged
        names, values = predictor.extract(utterance, RATE)
        assert names == ["est_mos", "est_dnsmos_sig", "est_dnsmos_bak", "est_dnsmos_ovrl"]
        assert values.shape == (4,) and values.dtype == np.float64
        assert np.all((values > 1.0) & (values < 5.0)), values


def test_clean_studio_speech_has_a_good_background(clean_scores: list[np.ndarray]) -> None:
    scores = np.array(clean_scores)
    assert np.all((scores > 1.0) & (scores < 5.0)), scores
    # EmoDB is studio speech: the background rates good; overall varies with the (acted, often shouted) voice
    assert np.all(scores[:, NAMES.index("est_dnsmos_bak")] > 3.0), scores


def test_white_noise_at_0_db_lowers_background_and_overall_quality(predictor: DnsmosPredictor, clips: list[np.ndarray]) -> None:
    mos, bak, ovrl = NAMES.index("est_mos"), NAMES.index("est_dnsmos_bak"), NAMES.index("est_dnsmos_ovrl")
    pairs = [with_white_noise(clip, 0.0, seed) for seed, clip in enumerate(clips)]
    clean = np.array([predictor.extract(c, RATE)[1] for c, _ in pairs])
    noisy = np.array([predictor.extract(n, RATE)[1] for _, n in pairs])
    # seen on these clips: BAK 3.6-3.9 -> 1.1-1.5, OVRL 1.9-3.0 -> 1.2-1.5, P.808 mean 2.9 -> 2.1
    assert np.all(noisy[:, bak] < clean[:, bak] - 1.0), (clean, noisy)
    assert np.all(noisy[:, ovrl] < clean[:, ovrl] - 0.4), (clean, noisy)
    assert noisy[:, mos].mean() < clean[:, mos].mean() - 0.3, (clean, noisy)


def test_same_audio_gives_the_same_scores_in_a_fresh_process_state(clips: list[np.ndarray], clean_scores: list[np.ndarray]) -> None:
    fresh = pickle.loads(pickle.dumps(DnsmosPredictor()))  # what a worker receives; it loads its own sessions
    assert np.array_equal(fresh.extract(clips[0], RATE)[1], clean_scores[0])


def test_scores_match_speechmos_reference_run(clips: list[np.ndarray], clean_scores: list[np.ndarray]) -> None:
    from speechmos import dnsmos  # the reference: its own sessions with default threading

    reference = dnsmos.run(np.clip(clips[1], -1.0, 1.0), RATE)
    expected = [reference["p808_mos"], reference["sig_mos"], reference["bak_mos"], reference["ovrl_mos"]]
    np.testing.assert_allclose(clean_scores[1], expected, rtol=0, atol=1e-5)


def test_half_second_clip_is_scored_and_shorter_is_refused(predictor: DnsmosPredictor, utterances: list[np.ndarray]) -> None:
    assert predictor.min_duration == 0.5
    values = predictor.extract(utterances[2][4000:12000], RATE)[1]  # 0.5 s from the middle of a word
    assert np.all((values > 1.0) & (values < 5.0)), values
    with pytest.raises(ValueError, match=r"at least 0\.5 s"):
        predictor.extract(utterances[2][4000:11999], RATE)


def test_spec_names_model_windows_and_versions(predictor: DnsmosPredictor) -> None:
    spec = predictor.spec()
    assert spec["name"] == "mos" and spec["sample_rate"] == RATE
    assert spec["params"]["window_s"] == 9.01 and spec["params"]["hop_s"] == 1.0
    assert spec["versions"]["speechmos"] == "0.0.1.1"
    assert set(spec["versions"]) == {"speechmos", "onnxruntime", "librosa"}
    assert predictor.table == "estimates_mos" and predictor.deterministic
    assert "speechmos" in predictor.source
    assert get_predictor_class("mos") is DnsmosPredictor
    assert pickle.loads(pickle.dumps(predictor))._scorer is None  # sessions stay in their process


def test_missing_speechmos_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "speechmos", None)
    with pytest.raises(MissingExtraError) as caught:
        DnsmosPredictor().setup()
    assert str(caught.value) == "speechmos is not installed; install it with: pip install 'nkl[predict]'"
    assert isinstance(caught.value, ImportError) and caught.value.extra == "predict"
