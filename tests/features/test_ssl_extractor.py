"""Self-supervised embeddings as [FEATS] extractors: an nkululeko INI with a wav2vec2 type and a local model folder
runs unchanged; explain shows model, layer and the cache; bad layers and folders fail before any extraction; the
cache key follows the weights. Tiny random models (real weights cannot be downloaded here)."""

from __future__ import annotations

from pathlib import Path

import pytest

import nkl
from nkl.errors import ConfigError
from nkl.features.registry import build_extractors
from tests.conftest import write_ini

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def save_tiny_wav2vec2(folder: Path, seed: int = 0) -> Path:
    import transformers as tr

    torch.manual_seed(seed)
    config = tr.Wav2Vec2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
                               conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2), num_conv_pos_embeddings=16,
                               num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
    tr.AutoModel.from_config(config).save_pretrained(folder)
    tr.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_w2v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_wav2vec2(tmp_path_factory.mktemp("w2v2") / "w2v2-large")


def nkululeko_ini(folder: Path, csv: Path, model: Path, layer: int = 1, extra: str = "") -> Path:
    return write_ini(folder / "w2v2.ini", f"""
        [EXP]
        root = {folder / 'ws'}
        name = exp_w2v2
        [DATA]
        databases = ['emodb']
        emodb = {csv}
        emodb.split_strategy = ['03', '08', '09', '10']
        target = emotion
        [FEATS]
        type = ['wav2vec2-large-robust-ft-swbd-300h', 'os']
        wav2vec2.model = {model}
        wav2vec2.layer = {layer}
        scale = standard
        {extra}
        [MODEL]
        type = svm
        device = cuda
        """)


def test_nkululeko_wav2vec2_ini_runs_explains_and_reuses_the_cache(tiny_w2v2, balanced_csv, run_cli, tmp_path):
    ini = nkululeko_ini(tmp_path, balanced_csv, tiny_w2v2)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    table = catalog.sql("select * from features_wav2vec2_large_robust_ft_swbd_300h")
    assert table.height == 60 and len([c for c in table.columns if c.startswith("emb_")]) == 32
    assert "no CUDA GPU is visible" in done.stderr or "CUDA is not available" in done.stderr  # cuda asked, cpu used
    explained = " ".join(run_cli("explain", ini, cwd=tmp_path).stdout.split())
    assert f"model {tiny_w2v2}" in explained and "layer 1 (top layers removed)" in explained
    assert explained.count("cached: 60 of 60") == 2
    again = run_cli("run", ini, cwd=tmp_path)
    assert "features: 0 extracted, 120 from cache" in " ".join(again.stderr.split())


def test_a_bad_layer_or_folder_fails_in_one_line_before_any_extraction(tiny_w2v2, balanced_csv, run_cli, tmp_path):
    for model, layer, words in ((tiny_w2v2, 3, ["wav2vec2.layer = 3", "use 0..2"]),
                                (tmp_path / "nowhere", 0, ["[FEATS] wav2vec2.model", "does not exist"])):
        done = run_cli("run", nkululeko_ini(tmp_path, balanced_csv, model, layer=layer), cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and all(w in lines[0] for w in words), done.stderr
        assert not (tmp_path / "ws" / "tables" / "features_wav2vec2_large_robust_ft_swbd_300h").exists()


def test_the_cache_key_follows_the_model_weights_and_the_layer(tmp_path):
    folder = save_tiny_wav2vec2(tmp_path / "model")
    exp = nkl.Experiment(name="e").features("wav2vec2", **{"wav2vec2.model": str(folder)})
    first = build_extractors(exp.config)[0].spec_hash
    assert build_extractors(exp.config)[0].spec_hash == first
    assert build_extractors(exp.features(**{"wav2vec2.layer": 1}).config)[0].spec_hash != first
    save_tiny_wav2vec2(folder, seed=1)  # new weights in the same folder
    assert build_extractors(exp.config)[0].spec_hash != first


def test_default_models_follow_nkululeko_names():
    def model_of(kind: str) -> str:
        return build_extractors(nkl.Experiment(name="e").features(kind).config, validate=False)[0].model_id

    assert model_of("wav2vec2-large-robust-ft-swbd-300h") == "facebook/wav2vec2-large-robust-ft-swbd-300h"
    assert model_of("hubert-large-ll60k") == "facebook/hubert-large-ll60k"
    assert model_of("wavlm-base-plus") == "microsoft/wavlm-base-plus"
    assert model_of("whisper-small") == "openai/whisper-small"
    assert model_of("agender") == "audeering/wav2vec2-large-robust-24-ft-age-gender"
    with pytest.raises(ConfigError, match=r"emotion2vec.*not available"):
        build_extractors(nkl.Experiment(name="e").features("emotion2vec-large").config)
