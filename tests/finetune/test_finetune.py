"""`[MODEL] type = finetune` on a tiny randomly initialised wav2vec2 saved to a folder, with synthetic tones: it learns
two classes and a continuous target, resumes a killed run to the same weights, never shows test rows to training or
selection, predicts new files, and refuses bad settings in one line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from nkl.catalog.workspace import Workspace
from nkl.config import load_config
from nkl.context import RunContext
from nkl.finetune import fit as fit_module
from nkl.plan import Plan, execute

RATE = 16000


def save_tiny(folder: Path, *, preprocessor: bool = True) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            conv_dim=(32, 32, 32, 32), conv_kernel=(10, 3, 3, 3), conv_stride=(5, 2, 2, 2),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                            do_stable_layer_norm=True)
    Wav2Vec2Model(config).save_pretrained(folder)
    if preprocessor:
        Wav2Vec2FeatureExtractor(sampling_rate=RATE, do_normalize=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 speakers × 8 clips of 0.6–1.4 s: a tone of 300 Hz (low) or 2500 Hz (high) in noise, and a 'value' that sets the
    pitch of a second set of files (300 + 3000 × value Hz)."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("finetune")
    save_tiny(folder / "tiny")
    rng = np.random.default_rng(0)
    (folder / "wav").mkdir()
    rows = []
    for speaker in range(10):
        for i in range(8):
            value = float(rng.uniform(0, 1))
            t = np.arange(int(RATE * rng.uniform(0.6, 1.4))) / RATE
            tone = 0.5 * np.sin(2 * np.pi * (300 if i % 2 == 0 else 2500) * t) + 0.1 * rng.normal(size=t.size)
            glide = 0.5 * np.sin(2 * np.pi * (300 + 3000 * value) * t) + 0.1 * rng.normal(size=t.size)
            sf.write(folder / "wav" / f"s{speaker}_{i}.wav", tone.astype(np.float32), RATE)
            sf.write(folder / "wav" / f"v{speaker}_{i}.wav", glide.astype(np.float32), RATE)
            rows.append({"file": f"wav/s{speaker}_{i}.wav", "pitch_file": f"wav/v{speaker}_{i}.wav", "speaker": f"s{speaker}",
                         "label": "low" if i % 2 == 0 else "high", "value": round(value, 3)})
    table = pl.DataFrame(rows)
    table.drop("pitch_file").write_csv(folder / "tones.csv")
    table.select(pl.col("pitch_file").alias("file"), "speaker", "value").write_csv(folder / "pitch.csv")
    return folder


def ini(folder: Path, corpus: Path, *, name: str = "ft", csv: str = "tones.csv", target: str = "label", exp: str = "",
        model: str = "") -> Path:
    path = folder / f"{name}.ini"
    path.write_text(f"""[EXP]
root = {folder / 'ws'}
name = {name}
epochs = 3
traindevtest = True
{exp}
[DATA]
databases = ['db']
db = {corpus / csv}
db.split_strategy = ['s0', 's1']
db.dev = ['s2', 's3']
target = {target}
[MODEL]
type = finetune
pretrained_model = {corpus / 'tiny'}
batch_size = 8
learning_rate = 0.001
max_duration = 1.0
{model}""")
    return path


def test_two_classes_reach_dev_uar_09_and_predict_new_files(corpus: Path, tmp_path: Path, run_cli) -> None:
    done = run_cli("run", ini(tmp_path, corpus), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ws = Workspace(tmp_path / "ws")
    epochs = ws.read_part("epochs", "ft")
    assert epochs.filter((pl.col("split") == "dev") & (pl.col("metric") == "uar"))["value"].max() >= 0.9
    model = tmp_path / "ws" / "experiments" / "ft" / "model"
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "finetune.json"} <= {p.name for p in model.iterdir()}
    assert not any(p.suffix in (".pkl", ".bin", ".pt") for p in model.iterdir())
    assert (tmp_path / "ws" / "experiments" / "ft" / "plots" / "ft_epochs.png").is_file()
    report = run_cli("report", "-w", tmp_path / "ws", "--experiment", "ft", "--format", "html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    model_md = (tmp_path / "ws" / "experiments" / "ft" / "ft_report_files" / "_model.md").read_text()
    assert "fig-epochs" in model_md and "fine-tuned on the audio" in model_md
    out = tmp_path / "applied.csv"
    applied = run_cli("predict", "--model", "ft", "-w", tmp_path / "ws", "--folder", corpus / "wav", "--out", out, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    table = pl.read_csv(out)
    stored = ws.read_part("predictions", "ft").filter(pl.col("split") == "test")
    samples = ws.read_part("samples", "db").select("sample", "file")
    expected = dict(stored.join(samples, on="sample").select("file", "predicted").iter_rows())
    got = dict(table.select("file", "predicted").iter_rows())
    assert {f: got[f] for f in expected} == expected  # applying the saved model reproduces the test predictions
    # a fine-tuned experiment is an ensemble member like any other, and the ensemble applies it to new files
    svm = tmp_path / "svm.ini"
    svm.write_text(ini(tmp_path, corpus, name="svm").read_text().split("[MODEL]")[0] + "[FEATS]\ntype = ['os']\nworkers = 1\n[MODEL]\ntype = svm\n")
    assert run_cli("run", svm, cwd=tmp_path).returncode == 0
    fused = run_cli("ensemble", "ft", "svm", "-w", tmp_path / "ws", "--method", "mean", "--name", "ens", cwd=tmp_path)
    assert fused.returncode == 0, fused.stderr
    fused_test = dict(ws.read_part("predictions", "ens").join(samples, on="sample").select("file", "predicted").iter_rows())
    assert set(fused_test) == set(expected)
    out = tmp_path / "ens.csv"
    assert run_cli("predict", "--model", "ens", "-w", tmp_path / "ws", "--folder", corpus / "wav", "--out", out, cwd=tmp_path).returncode == 0
    got = dict(pl.read_csv(out).select("file", "predicted").iter_rows())
    assert {f: got[f] for f in fused_test} == fused_test


def test_regression_reaches_ccc_08_and_a_failed_push_only_warns(corpus: Path, tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    done = run_cli("run", ini(tmp_path, corpus, name="pitch", csv="pitch.csv", target="value", exp="type = regression",
                              model="push_to_hub = True"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "push_to_hub: the model was not pushed to 'pitch' (no token" in " ".join(done.stderr.split())
    epochs = Workspace(tmp_path / "ws").read_part("epochs", "pitch")
    assert epochs.filter((pl.col("split") == "dev") & (pl.col("metric") == "ccc"))["value"].max() >= 0.8


def test_a_run_killed_in_epoch_2_resumes_to_the_same_weights(corpus: Path, tmp_path: Path, run_cli) -> None:
    from safetensors.torch import load_file

    (tmp_path / "a").mkdir()
    whole = run_cli("run", ini(tmp_path / "a", corpus), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    (tmp_path / "b").mkdir()
    killed = ini(tmp_path / "b", corpus)
    state = tmp_path / "b" / "ws" / "experiments" / "ft" / "finetune" / "checkpoint" / "state.json"
    proc = subprocess.Popen([sys.executable, "-m", "nkl.cli.app", "run", str(killed)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (state.is_file() and '"epoch": 1' in state.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert '"epoch": 1' in state.read_text()
    again = run_cli("run", killed, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch 1" in " ".join(again.stderr.split())
    a = load_file(str(tmp_path / "a" / "ws" / "experiments" / "ft" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "ws" / "experiments" / "ft" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_test_rows_never_reach_training_or_selection(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    events: list[tuple[str, set[str]]] = []
    real_clips, real_train = fit_module._clips, fit_module.train

    def clips(frame, rate, normalize, log):
        events.append(("load", set(frame["sample"].to_list()) if "sample" in frame.columns else set()))
        return real_clips(frame, rate, normalize, log)

    def train(net, train_clips, dev_clips, settings, folder, bar=None):
        events.append(("train", set()))
        return real_train(net, train_clips, dev_clips, settings, folder, bar)

    monkeypatch.setattr(fit_module, "_clips", clips)
    monkeypatch.setattr(fit_module, "train", train)
    config = load_config(ini(tmp_path, corpus))
    ctx = RunContext(Workspace(config.exp.root), logging.getLogger("nkl.test"))
    execute(Plan(config), ctx)
    splits = Workspace(config.exp.root).read_part("splits", "ft")
    test = set(splits.filter(pl.col("split") == "test")["sample"].to_list())
    trained_at = [kind for kind, _ in events].index("train")
    assert test and all(not (samples & test) for _, samples in events[:trained_at])  # train and dev audio only
    assert any(samples & test for _, samples in events[trained_at:])  # test audio only after training


def test_bad_settings_are_one_line(corpus: Path, tmp_path: Path, run_cli) -> None:
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).save_pretrained(tmp_path / "bert")
    save_tiny(tmp_path / "no_rate", preprocessor=False)
    cases = [
        (f"pretrained_model = {tmp_path / 'nowhere'}", "does not exist"),
        (f"pretrained_model = {tmp_path / 'bert'}", "not a raw-waveform speech transformer"),
        (f"pretrained_model = {tmp_path / 'no_rate'}", "sampling rate cannot be read"),
        ("max_duration = 0", "max_duration must be > 0"),
        ("loss = ccc", "is a regression loss"),
    ]
    for line, message in cases:
        path = ini(tmp_path, corpus)
        text = path.read_text()
        key = line.split(" = ")[0]
        text = "\n".join(t for t in text.splitlines() if not t.startswith(f"{key} =")) + f"\n{line}\n"
        path.write_text(text)
        done = run_cli("run", path, cwd=tmp_path)
        lines = [x for x in done.stderr.splitlines() if x.startswith("error")]
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, (line, done.stderr)
