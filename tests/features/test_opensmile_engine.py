"""The reused openSMILE engine gives exactly the values of ``opensmile.Smile.process_signal`` on real audio."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import opensmile
import pytest

from nkl.audio.decode import load_audio
from nkl.features import opensmile_extractor
from nkl.features.opensmile_extractor import OpenSmileExtractor, OpenSmileSettings


def _reference(smile: opensmile.Smile, signal: np.ndarray, rate: int, level: str) -> np.ndarray:
    """What nkl stored before the engine: Smile.process_signal's frame, pooled for LLDs."""
    values = smile.process_signal(signal, rate).to_numpy(dtype=np.float64)
    return values[0] if level == "functionals" else np.concatenate([np.nanmean(values, axis=0), np.nanstd(values, axis=0)])


@pytest.fixture(scope="module")
def signals(emodb):
    """Eight EmoDB files at their own rate (22,050 Hz) and resampled to 16 kHz, interleaved, with a 10 ms clip between."""
    files = sorted((emodb / "wav").glob("*.wav"))[::67]
    out = []
    for i, f in enumerate(files):
        out.append(load_audio(str(f), 0.0, None, None if i % 2 else 16000))
        if i == 3:
            out.append((np.random.default_rng(0).normal(0, 0.1, 160), 16000))  # too short for one frame
    return out


@pytest.mark.parametrize("level", ["functionals", "lld"])
def test_reused_engine_equals_process_signal_bitwise(signals, level):
    extractor = OpenSmileExtractor(OpenSmileSettings(level=level))
    extractor.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [extractor.extract(s, r) for s, r in signals]
        want = [_reference(extractor._smile, s, r, level) for s, r in signals]
    assert {22050, 16000} <= {rate for rate, engine in extractor._engines.items() if engine is not None}
    for (names, values), expected in zip(got, want, strict=True):
        assert len(names) == values.size == expected.size
        assert np.array_equal(values, expected, equal_nan=True)
    short = got[4][1]
    assert np.isnan(short).all()  # the 10 ms clip gives no frame; the files after it are still exact (checked above)
    assert np.isfinite(got[5][1]).all()


def test_without_the_engine_the_public_path_gives_the_same_values(signals, monkeypatch):
    fast = OpenSmileExtractor()
    fast.setup()
    expected = [fast.extract(s, r)[1] for s, r in signals[:3]]

    def broken(*args, **kwargs):
        raise AttributeError("opensmile moved its internals")

    monkeypatch.setattr(opensmile_extractor, "_ReusedEngine", broken)
    slow = pickle.loads(pickle.dumps(fast))  # as a worker receives it: no engine, no Smile
    assert slow._smile is None and slow._engines == {}
    got = [slow.extract(s, r)[1] for s, r in signals[:3]]
    assert slow._engines and all(engine is None for engine in slow._engines.values())
    for a, b in zip(got, expected, strict=True):
        assert np.array_equal(a, b)


def test_a_failed_run_drops_the_engine_and_the_next_file_is_still_exact(signals):
    extractor = OpenSmileExtractor()
    extractor.setup()
    signal, rate = signals[0]
    first = extractor.extract(signal, rate)[1]
    engine = extractor._engines[rate]

    def fail(*args, **kwargs):
        raise RuntimeError("openSMILE run failed")

    engine.process = fail
    with pytest.raises(RuntimeError):
        extractor.extract(signal, rate)
    assert extractor._engines[rate] is None
    assert np.array_equal(extractor.extract(signal, rate)[1], first)
