"""Age/gender and dimensional-emotion predictors on tiny random wav2vec2 models saved to disk, on real EmoDB audio.

The real audEERING weights cannot be downloaded here; tiny models built from our own classes and written with
``save_pretrained`` exercise the real ``from_pretrained`` loading path, the checkpoint parameter names and the
batching, padding and pooling code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.audio.decode import load_audio
from nkl.errors import ModelError
from nkl.predict.wav2vec2_heads import AGENDER_NAMES, EMOTION_DIMS_NAMES, AgeGenderPredictor, EmotionDimsPredictor, model_classes

pytest.importorskip("transformers")

RATE = 16000
SPEAKERS = ["03", "08", "11"]
CUTS_S = [1.9, 1.3, 1.6]


def tiny_config(seed: int = 0):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32, 32, 32, 32), conv_kernel=(10, 3, 3, 3), conv_stride=(5, 2, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer", do_stable_layer_norm=True, num_labels=3, initializer_range=0.2 + 0.01 * seed,
    )


def save_tiny(kind: int, folder: Path, seed: int = 0) -> Path:
    import torch

    torch.manual_seed(seed)
    model = model_classes()[kind](tiny_config(seed))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def agender_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(0, tmp_path_factory.mktemp("agender") / "model")


@pytest.fixture(scope="module")
def dims_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(1, tmp_path_factory.mktemp("dims") / "model")


@pytest.fixture(scope="module")
def clips(emodb: Path, emodb_table: pl.DataFrame) -> list[np.ndarray]:
    """The first utterance of three speakers at 16 kHz, cut to different lengths so that a batch needs padding."""
    rows = emodb_table.filter(pl.col("speaker").is_in(SPEAKERS)).sort("file").group_by("speaker", maintain_order=True).head(1)
    audio = [load_audio(emodb / file, sample_rate=RATE)[0] for file in rows["file"]]
    return [a[: int(seconds * RATE)] for a, seconds in zip(audio, CUTS_S, strict=True)]


@pytest.fixture(scope="module")
def agender(agender_folder: Path) -> AgeGenderPredictor:
    predictor = AgeGenderPredictor({"model": str(agender_folder)})
    predictor.setup()
    return predictor


@pytest.fixture(scope="module")
def dims(dims_folder: Path) -> EmotionDimsPredictor:
    predictor = EmotionDimsPredictor({"model": str(dims_folder)})
    predictor.setup()
    return predictor


def test_checkpoint_parameter_names(agender: AgeGenderPredictor, dims: EmotionDimsPredictor) -> None:
    agender_keys = set(agender._model.state_dict())
    dims_keys = set(dims._model.state_dict())
    for head in ("age", "gender"):
        assert {f"{head}.dense.weight", f"{head}.dense.bias", f"{head}.out_proj.weight", f"{head}.out_proj.bias"} <= agender_keys
    assert {"classifier.dense.weight", "classifier.out_proj.weight"} <= dims_keys
    assert all(k.startswith(("wav2vec2.", "age.", "gender.")) for k in agender_keys)
    assert all(k.startswith(("wav2vec2.", "classifier.")) for k in dims_keys)


def test_agender_columns_and_probabilities(agender: AgeGenderPredictor, clips: list[np.ndarray]) -> None:
    names, values = agender.extract(clips[0], RATE)
    assert names == AGENDER_NAMES == ["est_age", "est_p_female", "est_p_male", "est_p_child"]
    assert values.shape == (4,) and values.dtype == np.float64 and np.all(np.isfinite(values))
    assert values[1:].sum() == pytest.approx(1.0, abs=1e-6)
    assert np.all((values[1:] >= 0) & (values[1:] <= 1))


def test_emotion_dims_columns(dims: EmotionDimsPredictor, clips: list[np.ndarray]) -> None:
    names, values = dims.extract(clips[0], RATE)
    assert names == EMOTION_DIMS_NAMES == ["est_arousal", "est_dominance", "est_valence"]
    assert values.shape == (3,) and np.all(np.isfinite(values))


@pytest.mark.parametrize("which", ["agender", "dims"])
def test_deterministic_and_batch_matches_single(which: str, request: pytest.FixtureRequest, clips: list[np.ndarray]) -> None:
    predictor = request.getfixturevalue(which)
    singles = np.stack([predictor.extract(clip, RATE)[1] for clip in clips])
    again = np.stack([predictor.extract(clip, RATE)[1] for clip in clips])
    np.testing.assert_array_equal(singles, again)
    assert len({len(c) for c in clips[:2]}) == 2  # the batch of two really is padded
    batch = predictor.extract_batch(clips[:2])
    assert batch.shape == (2, len(predictor.names))
    np.testing.assert_allclose(batch, singles[:2], atol=1e-4)
    np.testing.assert_allclose(predictor.extract_batch(clips[::-1]), singles[::-1], atol=1e-4)
    assert not np.allclose(singles[0], singles[1])  # different clips, different estimates


def test_pickle_drops_model_and_reloads(agender: AgeGenderPredictor, clips: list[np.ndarray]) -> None:
    copy = pickle.loads(pickle.dumps(agender))
    assert copy._model is None
    np.testing.assert_allclose(copy.extract(clips[1], RATE)[1], agender.extract(clips[1], RATE)[1], atol=1e-6)


def test_spec_changes_with_local_model(tmp_path: Path) -> None:
    folder = save_tiny(1, tmp_path / "model", seed=0)
    predictor = EmotionDimsPredictor({"model": str(folder)})
    params, spec_hash = predictor.params(), predictor.spec_hash
    assert params["model"] == str(folder) and "model_hash" in params
    assert EmotionDimsPredictor({"model": str(folder)}).spec_hash == spec_hash  # stable
    save_tiny(1, folder, seed=1)  # overwritten: new config and weights
    assert predictor.params()["model_hash"] != params["model_hash"]
    assert predictor.spec_hash != spec_hash


def test_hub_defaults() -> None:
    assert AgeGenderPredictor().params() == {"model": "audeering/wav2vec2-large-robust-24-ft-age-gender", "pooling": "mean", "normalize": True}
    assert EmotionDimsPredictor().model_id == "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
    assert AgeGenderPredictor().table == "estimates_agender" and EmotionDimsPredictor().table == "estimates_emotion_dims"
    assert AgeGenderPredictor.sample_rate == EmotionDimsPredictor.sample_rate == 16000
    assert "audeering/" in AgeGenderPredictor.source and "audeering/" in EmotionDimsPredictor.source


@pytest.mark.parametrize(("cls", "key"), [(AgeGenderPredictor, "agender.model"), (EmotionDimsPredictor, "emotion_dims.model")])
def test_offline_missing_model_is_one_line_model_error(cls: type, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # "no/such-model" must not resolve to a folder
    predictor = cls({"model": "no/such-model"})
    with pytest.raises(ModelError) as info:
        predictor.setup()
    message = str(info.value)
    assert "\n" not in message
    assert f"[PREDICT] {key} = " in message and "'no/such-model'" in message and "Hugging Face" in message
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_wrong_rate_and_too_short(dims: EmotionDimsPredictor) -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        dims.extract(np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="at least"):
        dims.extract(np.zeros(100, dtype=np.float32), RATE)


def test_checkpoint_of_the_other_target_is_refused(dims_folder: Path) -> None:
    with pytest.raises(ModelError, match=r"lacks \d+ weights .*agender\.model"):
        AgeGenderPredictor({"model": str(dims_folder)}).setup()


def test_config_points_the_cli_at_a_local_model(agender_folder: Path, balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    """`[PREDICT] agender.model = <folder>` reaches the predictor through `nkl predict CONFIG` (the real loading path)."""
    ini = tmp_path / "agender.ini"
    ini.write_text(
        f"[EXP]\nroot = {tmp_path / 'ws'}\nname = ag\n[DATA]\ndatabases = ['db']\ndb = {balanced_csv}\ndb.limit_samples = 4\n"
        f"target = emotion\n[PREDICT]\ntargets = ['agender']\nagender.model = {agender_folder}\nworkers = 1\n"
    )
    done = run_cli("predict", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import nkl

    rows = nkl.connect(tmp_path / "ws").sql("select est_age, est_p_female + est_p_male + est_p_child p from estimates")
    assert rows.height == 4 and np.allclose(rows["p"].to_numpy(), 1.0)


def test_a_model_that_cannot_load_is_one_line_from_the_cli(balanced_csv: Path, tmp_path: Path, run_cli, monkeypatch) -> None:
    """Workers that cannot load the model: the CLI prints the loader's one-line reason, not a broken-pool traceback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ini = tmp_path / "missing.ini"
    ini.write_text(
        f"[EXP]\nroot = {tmp_path / 'ws'}\nname = ag\n[DATA]\ndatabases = ['db']\ndb = {balanced_csv}\ntarget = emotion\n"
        "[PREDICT]\ntargets = ['agender']\nagender.model = no/such-model\nworkers = 2\n"
    )
    done = run_cli("predict", ini, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "agender.model" in done.stderr and "no/such-model" in done.stderr and "Traceback" not in done.stderr
