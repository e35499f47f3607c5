"""SslEmbedder on tiny randomly initialised models of every family, loaded through save_pretrained folders, on EmoDB."""

from __future__ import annotations

import logging
import math
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from nkl.errors import ConfigError, ModelError  # noqa: E402
from nkl.features.ssl_embedder import SslEmbedder  # noqa: E402
from nkl.features.windows import combine_windows, split_windows  # noqa: E402

RATE = 16000
HIDDEN = 32
LAYERS = 3
TINY = {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": 2, "intermediate_size": 64}
# the real wav2vec2 conv stack (25 ms receptive field, 20 ms hop), with 16 channels instead of 512
CONV = {"conv_dim": (16,) * 7, "conv_stride": (5, 2, 2, 2, 2, 2, 2), "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "num_conv_pos_embeddings": 16}
AST_FRAMES = 300  # fixed input length of the tiny AST: 300 fbank frames ≈ 3 s


def _build(name: str, folder: Path) -> None:
    import transformers as tr

    torch.manual_seed(0)
    extractor = None
    if name == "wav2vec2-layer":  # like the large/robust models: per-frame layer norm → padding can be masked
        config = tr.Wav2Vec2Config(**TINY, **CONV, num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
        extractor = tr.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    elif name == "wav2vec2-group":  # like wav2vec2-base: group norm over time → no attention mask
        config = tr.Wav2Vec2Config(**TINY, **CONV, num_conv_pos_embedding_groups=2, feat_extract_norm="group")
        extractor = tr.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False)
    elif name == "hubert":  # no preprocessor_config.json: the embedder's defaults
        config = tr.HubertConfig(**TINY, **CONV, num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
    elif name == "wavlm":
        config = tr.WavLMConfig(**TINY, **CONV, num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
                                num_buckets=16, max_bucket_distance=100)
    elif name == "data2vec":
        config = tr.Data2VecAudioConfig(**TINY, **CONV)
    elif name == "whisper":
        config = tr.WhisperConfig(d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                                  encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80, vocab_size=64, max_target_positions=16,
                                  pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, suppress_tokens=None,
                                  begin_suppress_tokens=None)
        extractor = tr.WhisperFeatureExtractor(feature_size=80)
    elif name == "ast":
        config = tr.ASTConfig(**TINY, max_length=AST_FRAMES, num_mel_bins=128)
        extractor = tr.ASTFeatureExtractor(max_length=AST_FRAMES, num_mel_bins=128)
    else:
        raise AssertionError(name)
    model = tr.AutoModel.from_config(config)
    if name == "whisper":  # a whole WhisperModel, as published checkpoints hold; the embedder keeps the encoder
        model = tr.WhisperModel(config)
    model.save_pretrained(folder)
    if extractor is not None:
        extractor.save_pretrained(folder)


# WavLM's attention (transformers' modeling_wavlm) passes a bool key_padding_mask with a float position-bias attn_mask to
# torch's multi_head_attention_forward, which warns on every padded batch; nothing outside transformers can avoid it.
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask and attn_mask is deprecated:UserWarning")

FAMILY = {"wav2vec2-layer": "wav2vec2", "wav2vec2-group": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm", "data2vec": "data2vec",
          "whisper": "whisper", "ast": "ast"}
NAMES = list(FAMILY)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ssl_models")
    folders = {}
    for name in NAMES:
        _build(name, root / name)
        folders[name] = root / name
    return folders


@pytest.fixture(scope="module")
def audio(emodb: Path, emodb_table: pl.DataFrame) -> list[np.ndarray]:
    """The first eight EmoDB recordings (sorted by name), resampled from 22.05 to 16 kHz."""
    import soundfile
    from scipy.signal import resample_poly

    signals = []
    for file in sorted(emodb_table["file"].to_list())[:8]:
        samples, rate = soundfile.read(emodb / file, dtype="float32", always_2d=True)
        assert rate == 22050
        signals.append(resample_poly(samples.mean(axis=1), 320, 441).astype(np.float32))
    return signals


@pytest.fixture(scope="module")
def clips(audio: list[np.ndarray]) -> list[np.ndarray]:
    """Three real clips of different lengths: 1.1 s, 1.7 s and 2.0 s."""
    return [audio[0][: int(1.1 * RATE)], audio[1][: int(1.7 * RATE)], audio[2][: int(2.0 * RATE)]]


@pytest.fixture(scope="module")
def long_signal(audio: list[np.ndarray]) -> np.ndarray:
    """6.5 s of concatenated EmoDB speech: windows of 2 s give 2 + 2 + 2.5 s (the 0.5 s tail is merged)."""
    return np.concatenate(audio)[: int(6.5 * RATE)]


def embedder(models: dict[str, Path], name: str, **kwargs) -> SslEmbedder:
    return SslEmbedder(str(models[name]), family=FAMILY[name], **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_dims_pooling_and_layers(models: dict[str, Path], clips: list[np.ndarray], name: str) -> None:
    mean = embedder(models, name)
    values = mean.embed(clips)
    assert mean.sample_rate == RATE and mean.n_layers == LAYERS
    assert values.shape == (3, HIDDEN) == (3, mean.dim) and values.dtype == np.float64 and np.isfinite(values).all()
    both = embedder(models, name, pooling="mean+std")
    stats = both.embed(clips)
    assert stats.shape == (3, 2 * HIDDEN) == (3, both.dim) and np.isfinite(stats).all()
    np.testing.assert_allclose(stats[:, :HIDDEN], values, atol=1e-5)  # the mean half is the mean pooling
    assert (stats[:, HIDDEN:] > 0).all()
    lower = embedder(models, name, layer=1).embed(clips)
    assert lower.shape == values.shape and np.abs(lower - values).max() > 1e-3
    assert np.abs(embedder(models, name, layer=2).embed(clips) - lower).max() > 1e-3
    with pytest.raises(ConfigError, match=r"0\.\.2"):
        embedder(models, name, layer=LAYERS).setup()
    with pytest.raises(ConfigError, match=r"out of range.*use 0\.\.1"):
        SslEmbedder("unloaded/model", family=FAMILY[name], layer=2).check_layer(2)  # before loading anything


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_one_at_a_time(models: dict[str, Path], clips: list[np.ndarray], name: str) -> None:
    model = embedder(models, name, pooling="mean+std", layer=1)
    batch = model.embed(clips)
    single = np.stack([model.embed([clip])[0] for clip in clips])
    np.testing.assert_allclose(batch, single, atol=1e-4, rtol=0)
    reordered = model.embed(clips[::-1])
    np.testing.assert_allclose(reordered[::-1], batch, atol=1e-4, rtol=0)
    assert model.masked == (name in ("wav2vec2-layer", "hubert", "wavlm"))


@pytest.mark.parametrize("name", NAMES)
def test_long_signals_are_windowed_not_truncated(models: dict[str, Path], long_signal: np.ndarray, name: str) -> None:
    windowed = embedder(models, name, pooling="mean+std", max_duration=2.0)
    whole = windowed.embed([long_signal])[0]
    reference = embedder(models, name, pooling="mean+std", max_duration=10.0)
    bounds = [(0, 2 * RATE), (2 * RATE, 4 * RATE), (4 * RATE, len(long_signal))]
    assert split_windows(len(long_signal), 2 * RATE, RATE) == bounds
    parts = reference.embed([long_signal[a:b] for a, b in bounds])
    weights = np.array([reference.n_frames(b - a) for a, b in bounds])
    assert weights[2] > weights[0]
    mean, variance = combine_windows(weights, parts[:, :HIDDEN], parts[:, HIDDEN:] ** 2)
    np.testing.assert_allclose(whole, np.concatenate([mean, np.sqrt(variance)]), atol=1e-4, rtol=0)
    truncated = windowed.embed([long_signal[: 2 * RATE]])[0]
    assert np.abs(whole - truncated).max() > 1e-3


def test_combine_windows_is_the_law_of_total_variance() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.normal(i, 1 + i, size=(n, 4)) for i, n in enumerate((50, 80, 13))]
    mean, variance = combine_windows(np.array([len(f) for f in frames]), np.stack([f.mean(0) for f in frames]),
                                      np.stack([f.var(0) for f in frames]))
    np.testing.assert_allclose(mean, np.concatenate(frames).mean(0))
    np.testing.assert_allclose(variance, np.concatenate(frames).var(0))


def test_whisper_pools_only_the_frames_of_the_signal(models: dict[str, Path], clips: list[np.ndarray]) -> None:
    model = embedder(models, "whisper")
    assert model.n_frames(len(clips[0])) == math.ceil(len(clips[0]) / 320) == 55
    long = embedder(models, "whisper", max_duration=120.0)
    long.setup()
    assert long._window_samples() == (30 * RATE, 30 * RATE)  # capped at 30 s
    # 60.5 s: the 0.5 s tail would make a 30.5 s window, beyond whisper's 30 s: the last 30.5 s are halved instead
    half = 30 * RATE + 30.5 * RATE / 2
    assert split_windows(int(60.5 * RATE), 30 * RATE, RATE, 30 * RATE) == [(0, 30 * RATE), (30 * RATE, half), (half, int(60.5 * RATE))]
    assert split_windows(61 * RATE, 30 * RATE, RATE, 30 * RATE) == [(0, 30 * RATE), (30 * RATE, 60 * RATE), (60 * RATE, 61 * RATE)]


def test_ast_window_is_capped_at_the_fixed_length(models: dict[str, Path]) -> None:
    model = embedder(models, "ast", max_duration=20.0)
    model.setup()
    limit = 400 + (AST_FRAMES - 1) * 160
    assert model._window_samples() == (limit, limit)
    assert model.n_frames(limit) == AST_FRAMES and model.n_frames(400) == 1


def test_identity_follows_the_weights(models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers as tr

    folder = tmp_path / "model"
    shutil.copytree(models["wav2vec2-layer"], folder)
    model = SslEmbedder(str(folder), family="wav2vec2")
    first = model.identity()
    assert first["model"] == str(folder.resolve()) and first == model.identity()
    assert SslEmbedder(str(folder), family="wav2vec2", layer=1).identity() == first
    weights = tr.AutoModel.from_pretrained(folder)
    with torch.no_grad():
        weights.encoder.layers[0].attention.q_proj.weight.mul_(1.5)
    weights.save_pretrained(folder)
    second = model.identity()
    assert second["model"] == first["model"] and second["model_hash"] != first["model_hash"]

    missing = SslEmbedder("nkl-tests/no-such-model", family="wav2vec2").identity()
    assert missing == {"model": "nkl-tests/no-such-model", "revision": "unresolved"}
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--nkl-tests--cached" / "snapshots" / ("ab" * 20)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--nkl-tests--cached" / "refs").mkdir()
    (cache / "models--nkl-tests--cached" / "refs" / "main").write_text("ab" * 20)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert SslEmbedder("nkl-tests/cached", family="hubert").identity() == {"model": "nkl-tests/cached", "revision": "ab" * 20}


def test_cuda_without_gpu_falls_back_to_cpu(models: dict[str, Path], clips: list[np.ndarray], caplog: pytest.LogCaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    model = embedder(models, "hubert", device="cuda")
    with caplog.at_level(logging.WARNING, logger="nkl.features.ssl_embedder"):
        values = model.embed(clips)
    assert [r.levelno for r in caplog.records] == [logging.WARNING] and "CUDA is not available" in caplog.records[0].getMessage()
    assert next(model._model.parameters()).device.type == "cpu" and next(model._model.parameters()).dtype == torch.float32
    np.testing.assert_allclose(values, embedder(models, "hubert").embed(clips), atol=1e-6)


def test_errors(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"set wavlm\.model = /local/folder") as error:
        SslEmbedder("nkl-tests/no-such-model", family="wavlm").setup()
    assert "\n" not in str(error.value)
    with pytest.raises(ModelError, match="does not exist"):
        SslEmbedder(str(tmp_path / "missing"), family="hubert").setup()
    with pytest.raises(ModelError, match="not a wav2vec2 model"):
        SslEmbedder(str(models["whisper"]), family="wav2vec2").setup()
    with pytest.raises(ModelError, match="not a whisper model"):
        SslEmbedder(str(models["hubert"]), family="whisper").setup()
    with pytest.raises(ConfigError, match="family"):
        SslEmbedder(str(models["hubert"]), family="bert")
    with pytest.raises(ConfigError, match="pooling"):
        SslEmbedder(str(models["hubert"]), family="hubert", pooling="max")
    model = embedder(models, "hubert")
    assert model.min_duration == 0.025
    with pytest.raises(ValueError, match="too short"):
        model.embed([np.zeros(399, dtype=np.float32)])
    assert model.embed([]).shape == (0, HIDDEN)


def test_pickled_embedder_reloads(models: dict[str, Path], clips: list[np.ndarray]) -> None:
    model = embedder(models, "wav2vec2-group", pooling="mean+std")
    values = model.embed(clips)
    copy = pickle.loads(pickle.dumps(model))
    assert copy._model is None and len(pickle.dumps(model)) < 2000
    np.testing.assert_array_equal(copy.embed(clips), values)


def test_import_does_not_load_torch() -> None:
    code = "import sys, nkl.features.ssl_embedder as m; m.SslEmbedder('x/y', family='wavlm'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
