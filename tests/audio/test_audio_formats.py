"""Decoding any libsndfile format to mono at a requested rate, probing headers, hashing content."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from nkl.audio import content_key, load_audio, probe
from nkl.errors import AudioError

SOURCE = "wav/03a01Fa.wav"


@pytest.fixture(scope="module")
def speech(emodb: Path) -> tuple[np.ndarray, int]:
    signal, rate = sf.read(emodb / SOURCE, dtype="float32")
    return signal, rate


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


@pytest.fixture(scope="module")
def stereo_flac(speech, tmp_path_factory) -> Path:
    """44.1 kHz stereo FLAC: left = speech, right = half of it."""
    signal, rate = speech
    up = resample_poly(signal, 44100, rate).astype(np.float32)
    path = tmp_path_factory.mktemp("formats") / "stereo.flac"
    sf.write(path, np.stack([up, 0.5 * up], axis=1), 44100, format="FLAC", subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def ogg_8k(speech, tmp_path_factory) -> Path:
    signal, rate = speech
    down = resample_poly(signal, 8000, rate).astype(np.float32)
    path = tmp_path_factory.mktemp("formats") / "narrow.ogg"
    sf.write(path, down, 8000, format="OGG", subtype="VORBIS")
    return path


@pytest.fixture(scope="module")
def reference_16k(speech) -> np.ndarray:
    signal, rate = speech
    return resample_poly(signal, 16000, rate).astype(np.float32)


def test_stereo_flac_is_mixed_to_mono_and_resampled(stereo_flac, speech, reference_16k):
    signal, rate = load_audio(stereo_flac, sample_rate=16000)
    assert rate == 16000 and signal.ndim == 1 and signal.dtype == np.float32
    assert len(signal) == pytest.approx(len(speech[0]) / speech[1] * 16000, abs=2)
    assert correlation(signal, reference_16k) > 0.99
    assert np.sqrt(np.mean(signal**2)) == pytest.approx(0.75 * np.sqrt(np.mean(reference_16k**2)), rel=0.02)


def test_ogg_at_8k_is_resampled_up(ogg_8k, speech, reference_16k):
    signal, rate = load_audio(ogg_8k, sample_rate=16000)
    assert rate == 16000 and signal.ndim == 1
    assert len(signal) / rate == pytest.approx(2.0, abs=0.01)
    lowpassed = resample_poly(resample_poly(reference_16k, 1, 2), 2, 1)  # what survives 8 kHz sampling
    assert correlation(signal, lowpassed) > 0.95


def test_native_rate_is_kept_when_asked(stereo_flac):
    signal, rate = load_audio(stereo_flac, sample_rate=None)
    assert rate == 44100 and len(signal) == sf.info(stereo_flac).frames


def test_segment_bounds(stereo_flac):
    signal, rate = load_audio(stereo_flac, start=0.5, end=1.25, sample_rate=16000)
    assert rate == 16000 and len(signal) == pytest.approx(0.75 * 16000, abs=2)
    whole, _ = load_audio(stereo_flac, sample_rate=None)
    part, _ = load_audio(stereo_flac, start=0.5, end=1.25, sample_rate=None)
    assert np.array_equal(part, whole[22050:55125])
    with pytest.raises(AudioError, match="empty or outside"):
        load_audio(stereo_flac, start=3.0, end=4.0)


def test_mp3_decodes(speech, tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3")
    signal, rate = speech
    path = tmp_path / "speech.mp3"
    sf.write(path, signal, rate, format="MP3")
    decoded, out_rate = load_audio(path, sample_rate=16000)
    assert out_rate == 16000 and len(decoded) / out_rate == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(("fixture", "rate", "channels", "fmt"), [("stereo_flac", 44100, 2, "FLAC"), ("ogg_8k", 8000, 1, "OGG")])
def test_probe_reads_the_header(request, fixture, rate, channels, fmt):
    path = request.getfixturevalue(fixture)
    info = probe(path)
    assert info.sample_rate == rate and info.channels == channels
    assert info.duration == pytest.approx(2.0, abs=0.01)
    assert info.frames == sf.info(path).frames
    assert info.bytes == path.stat().st_size
    assert sf.info(path).format == fmt


def test_probe_rejects_unusable_files(tmp_path):
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(3).bytes(2048))
    sf.write(tmp_path / "noframes.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="file not found"):
        probe(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        probe(tmp_path / "zero.wav")
    with pytest.raises(AudioError, match="not a readable audio file"):
        probe(tmp_path / "noise.wav")
    with pytest.raises(AudioError, match="holds no samples"):
        probe(tmp_path / "noframes.wav")
    with pytest.raises(AudioError, match="smaller than check_size"):
        probe(tmp_path / "noise.wav", min_bytes=4096)


def test_content_hash_follows_bytes_not_names(emodb, tmp_path):
    original = emodb / SOURCE
    copy = tmp_path / "a completely different name.wav"
    shutil.copy(original, copy)
    other = emodb / "wav/03a01Nc.wav"
    assert probe(copy).audio_hash == probe(original).audio_hash
    assert probe(other).audio_hash != probe(original).audio_hash
    signal, rate = sf.read(original, dtype="int16")
    signal[1000] += 1  # one sample one step louder
    sf.write(tmp_path / "changed.wav", signal, rate, subtype="PCM_16")
    assert probe(tmp_path / "changed.wav").audio_hash != probe(original).audio_hash


def test_content_key_adds_segment_bounds():
    assert content_key("abc") == "abc"
    assert content_key("abc", 0.5, 1.25) == "abc@0.5000-1.2500"
    assert content_key("abc", 0.5, 1.25) != content_key("abc", 0.5, 1.5)
    assert content_key("abc", None, 2.0) == "abc@0.0000-2.0000"
