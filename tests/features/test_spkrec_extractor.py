"""SpeechBrain speaker embeddings (``spkrec-*``): an nkululeko INI with ``spkrec.model`` = a local folder runs unchanged
(44.1 kHz stereo files included), explain shows the cache, a batch gives what one file at a time gives, the cache key
follows the checkpoint, and a missing folder or hub copy fails in one line. A tiny random ECAPA-TDNN in SpeechBrain's
inference layout stands in for the real weights (they cannot be downloaded here)."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

import nkl
from nkl.audio.decode import load_audio
from nkl.errors import ConfigError
from nkl.features.registry import build_extractors, get_extractor_class
from nkl.features.spkrec_extractor import SpkrecExtractor
from tests.conftest import write_ini

torch = pytest.importorskip("torch")
if importlib.util.find_spec("speechbrain") is None:  # not imported here: hypothesis' collection hook scans loaded modules,
    pytest.skip("speechbrain is not installed (pip install 'nkl[speaker]')", allow_module_level=True)  # and speechbrain's lazy ones break it

LIN_NEURONS = 16


def save_tiny_ecapa(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised ECAPA-TDNN laid out like speechbrain/spkrec-ecapa-voxceleb (hyperparams.yaml whose
    checkpoints sit at <pretrained_path>, which names the hub repository as the real file does)."""
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(textwrap.dedent(f"""
        pretrained_path: speechbrain/spkrec-ecapa-voxceleb
        n_mels: 23
        compute_features: !new:speechbrain.lobes.features.Fbank
            n_mels: !ref <n_mels>
        mean_var_norm: !new:speechbrain.processing.features.InputNormalization
            norm_type: sentence
            std_norm: False
        embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
            input_size: !ref <n_mels>
            channels: [32, 32, 32, 32, 96]
            kernel_sizes: [5, 3, 3, 3, 1]
            dilations: [1, 2, 3, 4, 1]
            attention_channels: 16
            lin_neurons: {LIN_NEURONS}
        modules:
            compute_features: !ref <compute_features>
            mean_var_norm: !ref <mean_var_norm>
            embedding_model: !ref <embedding_model>
        pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
            loadables:
                embedding_model: !ref <embedding_model>
            paths:
                embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        """).lstrip(), encoding="utf-8")
    torch.manual_seed(seed)
    model = ECAPA_TDNN(23, channels=[32, 32, 32, 32, 96], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                       attention_channels=16, lin_neurons=LIN_NEURONS)
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
    return folder


@pytest.fixture(scope="module")
def tiny_ecapa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_ecapa(tmp_path_factory.mktemp("spkrec") / "ecapa")


def speech(emodb: Path, names: list[str]) -> list[np.ndarray]:
    return [load_audio(str(emodb / "wav" / name), 0.0, None, 16000)[0] for name in names]


def test_a_batch_of_real_speech_gives_what_one_file_at_a_time_gives(tiny_ecapa, emodb):
    extractor = SpkrecExtractor({"model": str(tiny_ecapa)}, kind="spkrec-ecapa-voxceleb")
    extractor.setup()
    assert extractor.names == [f"spk_{i}" for i in range(LIN_NEURONS)]
    signals = speech(emodb, ["03a01Fa.wav", "03a01Nc.wav", "08a01Ab.wav", "09a01Fa.wav", "10a01Ac.wav", "11a01Wc.wav"])
    cuts = [32000, 20000, 11111, 32000, 27001, 6400]  # different lengths (EmoDB's files here all last 2 s), two equal
    signals = [s[:n] for s, n in zip(signals, cuts, strict=True)]
    batch = extractor.extract_batch(signals)
    one_at_a_time = np.stack([extractor.extract(s, 16000)[1] for s in signals])
    assert batch.shape == (6, LIN_NEURONS) and batch.dtype == np.float64 and np.isfinite(batch).all()
    assert np.abs(batch - one_at_a_time).max() < 1e-4
    assert np.abs(np.diff(batch, axis=0)).max(axis=1).min() > 0.05  # every file its own embedding
    assert np.allclose(extractor.extract_batch(signals[::-1]), batch[::-1], atol=1e-4)  # rows in input order


def nkululeko_ini(folder: Path, csv: Path, model: Path | str | None) -> Path:
    return write_ini(folder / "spkrec.ini", f"""
        [EXP]
        root = {folder / 'ws'}
        name = exp_spkrec
        [DATA]
        databases = ['emodb']
        emodb = {csv}
        emodb.split_strategy = ['03', '08', '09', '10']
        target = emotion
        [FEATS]
        type = ['spkrec-ecapa-voxceleb']
        {f'spkrec.model = {model}' if model is not None else ''}
        scale = standard
        [MODEL]
        type = svm
        """)


def test_nkululeko_spkrec_ini_runs_on_mixed_audio_explains_and_reuses_the_cache(tiny_ecapa, balanced_csv, emodb, run_cli, tmp_path):
    table = pl.read_csv(balanced_csv)
    originals = table["file"].to_list()
    files = list(originals)
    for index in range(0, 60, 10):  # six files become 44.1 kHz stereo copies
        mono, _ = load_audio(originals[index], 0.0, None, 44100)
        files[index] = str(tmp_path / "stereo" / Path(originals[index]).name)
        Path(files[index]).parent.mkdir(exist_ok=True)
        sf.write(files[index], np.stack([mono, mono], axis=1), 44100)
    csv = tmp_path / "mixed.csv"
    table.with_columns(pl.Series("file", files)).write_csv(csv)
    ini = nkululeko_ini(tmp_path, csv, tiny_ecapa)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = nkl.connect(tmp_path / "ws").sql("select s.file, f.* from features_spkrec_ecapa_voxceleb f join samples s using (content_key)")
    names = [f"spk_{i}" for i in range(LIN_NEURONS)]
    assert rows.height == 60 and [c for c in rows.columns if c.startswith("spk_")] == names
    by_file = dict(zip(rows["file"].to_list(), rows.select(names).to_numpy(), strict=True))
    direct = SpkrecExtractor({"model": str(tiny_ecapa)}).extract_batch([load_audio(f, 0.0, None, 16000)[0] for f in originals])
    for index, (file, expected) in enumerate(zip(files, direct, strict=True)):
        got = by_file[file]
        if index % 10:  # the engine's rows are the extractor's
            assert np.abs(got - expected).max() < 1e-4
        else:  # 44.1 kHz stereo, mixed down and resampled by the engine: another resampling path, the same speech
            assert np.abs(got - expected).max() < 0.01  # different files differ by about 0.2 here
            assert np.abs(direct - got).max(axis=1).argmin() == index
    explained = " ".join(run_cli("explain", ini, cwd=tmp_path).stdout.split())
    assert f"model {tiny_ecapa}" in explained and "cached: 60 of 60" in explained
    again = run_cli("run", ini, cwd=tmp_path)
    assert "features: 0 extracted, 60 from cache" in " ".join(again.stderr.split())


def test_a_missing_folder_or_hub_copy_fails_in_one_line(balanced_csv, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    for model, words in ((tmp_path / "nowhere", ["[FEATS] spkrec.model", "does not exist"]),
                         (None, ["speechbrain/spkrec-ecapa-voxceleb", "local Hugging Face cache", "spkrec.model = /local/folder"])):
        done = run_cli("run", nkululeko_ini(tmp_path, balanced_csv, model), cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and all(w in lines[0] for w in words), done.stderr
        assert not (tmp_path / "ws" / "tables" / "features_spkrec_ecapa_voxceleb").exists()


def test_the_cache_key_follows_the_checkpoint(tmp_path):
    folder = save_tiny_ecapa(tmp_path / "model")
    exp = nkl.Experiment(name="e").features("spkrec-ecapa-voxceleb", **{"spkrec.model": str(folder)})
    first = build_extractors(exp.config)[0].spec_hash
    assert build_extractors(exp.config)[0].spec_hash == first
    save_tiny_ecapa(folder, seed=1)  # new weights in the same folder
    assert build_extractors(exp.config)[0].spec_hash != first


def test_nkululeko_type_names_give_the_default_models_and_tables():
    def extractor(kind: str) -> SpkrecExtractor:
        return build_extractors(nkl.Experiment(name="e").features(kind).config, validate=False)[0]

    assert get_extractor_class("spkrec-xvect-voxceleb") is SpkrecExtractor
    assert extractor("spkrec-ecapa-voxceleb").model_id == "speechbrain/spkrec-ecapa-voxceleb"
    assert extractor("spkrec-xvect-voxceleb").model_id == "speechbrain/spkrec-xvect-voxceleb"
    assert extractor("spkrec").model_id == "speechbrain/spkrec-ecapa-voxceleb"
    assert extractor("spkrec-xvect-voxceleb").table == "features_spkrec_xvect_voxceleb"


def test_a_hub_id_is_read_from_the_local_cache_only(tiny_ecapa, emodb, tmp_path, monkeypatch):
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--speechbrain--spkrec-xvect-voxceleb"
    shutil.copytree(tiny_ecapa, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cached = SpkrecExtractor(kind="spkrec-xvect-voxceleb")
    cached.validate()
    assert cached.params() == {"model": "speechbrain/spkrec-xvect-voxceleb", "revision": commit}
    signals = speech(emodb, ["03a01Fa.wav", "08a01Ab.wav"])
    expected = SpkrecExtractor({"model": str(tiny_ecapa)}).extract_batch(signals)
    assert np.abs(cached.extract_batch(signals) - expected).max() < 1e-6
    with pytest.raises(ConfigError, match=r"\[FEATS\] spkrec.model: Cannot load the spkrec model 'speechbrain/spkrec-ecapa-voxceleb'"):
        SpkrecExtractor(kind="spkrec-ecapa-voxceleb").validate()
