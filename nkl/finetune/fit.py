"""The fit stage of ``[MODEL] type = finetune``: audio of the experiment's splits in, predictions of dev and test out,
the training curve in the ``epochs`` table, and the fine-tuned model saved as safetensors + configs + ``finetune.json``.

Test rows are only predicted, after training: the trainer sees training rows, and dev rows (or, without a dev split,
held-out training speakers) select the epoch.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

from nkl.audio.decode import load_audio
from nkl.catalog.store import atomic_folder, write_text
from nkl.context import RunContext
from nkl.errors import AudioError, ConfigError, ModelError
from nkl.finetune.model import load_backbone, network, save_backbone_files
from nkl.finetune.trainer import Clip, TrainSettings, normalise, predict_clips, train
from nkl.hashing import stable_hash
from nkl.models.train import _inner_dev

SPEC_FILE = "finetune.json"
WEIGHTS_FILE = "model.safetensors"
EPOCHS = pl.Schema({"experiment": pl.String, "epoch": pl.Int64, "split": pl.String, "metric": pl.String, "value": pl.Float64})


def is_finetune(config: Any) -> bool:
    return config.model.type == "finetune"


@dataclass
class FinetunedModel:
    """A trained network with what applying it needs (the label order, the target scaling, the audio rate)."""

    net: Any
    backbone_config: Any
    rate: int
    normalize: bool
    spec: dict[str, Any]
    run: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """Write the model folder atomically: safetensors weights, the encoder and feature-extractor configs, finetune.json."""
        from safetensors.torch import save_file

        with atomic_folder(folder) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, str(tmp / WEIGHTS_FILE))
            save_backbone_files(tmp, self.backbone_config, self.rate, self.normalize)
            write_text(json.dumps(self.spec, indent=2), tmp / SPEC_FILE)

    @classmethod
    def load(cls, folder: Path) -> FinetunedModel:
        import transformers
        from safetensors.torch import load_file

        spec = json.loads((folder / SPEC_FILE).read_text())
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        encoder = transformers.AutoModel.from_config(config)
        net = network(encoder, spec["n_outputs"], layer=spec["layer"], drop=spec["drop"])
        net.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        net.eval()
        return cls(net, config, int(spec["rate"]), bool(spec["normalize"]), spec)

    def outputs(self, clips: list[np.ndarray], device: str = "cpu") -> dict[str, Any]:
        """Predicted labels or values (+ probabilities and uncertainty) of audio clips at ``rate``."""
        settings = TrainSettings(task=self.spec["task"], n_outputs=self.spec["n_outputs"], batch_size=self.spec["batch_size"],
                                 max_samples=self.spec["max_samples"], device=device)
        self.net.to(device)
        raw = predict_clips(self.net, clips, settings)
        if self.spec["task"] == "classification":
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            proba = shifted / shifted.sum(axis=1, keepdims=True)
            p = np.clip(proba, 1e-12, 1.0)
            uncertainty = -(p * np.log(p)).sum(axis=1) / np.log(max(proba.shape[1], 2))
            return {"predicted": np.array(self.spec["labels"], dtype=object)[proba.argmax(axis=1)], "proba": proba,
                    "uncertainty": uncertainty}
        return {"predicted": raw[:, 0] * self.spec["target_std"] + self.spec["target_mean"]}


def _device(requested: str, log) -> str:
    import torch

    device = (requested or "cpu").lower()
    if device.startswith("cuda") and not torch.cuda.is_available():
        log.warning("fine-tuning: device '%s' requested but CUDA is not available; training on the CPU", requested)
        return "cpu"
    return device


def _clips(frame: pl.DataFrame, rate: int, normalize: bool, log) -> tuple[list[np.ndarray], list[int]]:
    """Audio of each row at ``rate`` (normalised when the model wants it); rows whose audio fails are left out."""
    clips, kept = [], []
    for i, row in enumerate(frame.select("file", "start", "end").iter_rows(named=True)):
        try:
            audio, _ = load_audio(row["file"], float(row["start"] or 0.0), row["end"], sample_rate=rate)
        except AudioError as exc:
            log.warning("fine-tuning: %s left out (%s)", row["file"], exc)
            continue
        clips.append(normalise(audio) if normalize else audio.astype(np.float32))
        kept.append(i)
    return clips, kept


def fit_finetune(ctx: RunContext, plan: Any, state: Any, progress: Any = None) -> None:
    """Train on the plan's splits and set ``state.predictions``, ``state.fitted`` and ``state.design`` (labels)."""
    c, name, task = plan.config, plan.name, plan.task
    s = plan.model_settings
    encoder, backbone_config, rate, normalize = load_backbone(s.pretrained_model)
    target = c.data.target
    frame = state.splits.select("sample", "split", "speaker", "file", "start", "end", pl.col(target).alias("truth"))
    if task == "classification":
        labels = [str(x) for x in c.data.labels] if c.data.labels else sorted(frame["truth"].cast(pl.String).unique().to_list())
        code = {label: i for i, label in enumerate(labels)}
        values = np.array([code[str(t)] for t in frame["truth"].to_list()], dtype=np.float64)
        if s.loss in ("ccc", "mse"):
            raise ConfigError(f"[MODEL] loss = {s.loss} is a regression loss, but this experiment classifies {target}; use cross")
        n_outputs = len(labels)
        mean, std = 0.0, 1.0
    else:
        labels = []
        if s.loss == "cross":
            raise ConfigError(f"[MODEL] loss = cross is a classification loss, but {target} is a regression target; use ccc or mse")
        values = frame["truth"].cast(pl.Float64).to_numpy()
        train_values = values[frame["split"].to_numpy() == "train"]
        mean, std = float(train_values.mean()), float(train_values.std() or 1.0)
        values = (values - mean) / std
        n_outputs = 1
    split = frame["split"].to_numpy()
    if (split == "dev").any():
        train_rows, dev_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "dev")
    else:  # 20 % of the training speakers select the epoch, as for the MLP (models.train._inner_dev)
        if frame.filter(pl.col("split") == "train")["speaker"].drop_nulls().n_unique() < 2:
            raise ConfigError("fine-tuning selects its epoch on dev: set [EXP] traindevtest = True, or give the training split at least "
                              "2 speakers (20 % of them are held out for selection)")
        train_mask, dev_mask = _inner_dev(SimpleNamespace(samples=frame), split == "train", c.exp.seed)
        train_rows, dev_rows = np.flatnonzero(train_mask), np.flatnonzero(dev_mask)
        ctx.log.info("fine-tuning: no dev split; the epoch is chosen on %d rows of held-out training speakers", len(dev_rows))
    train_audio, kept = _clips(frame[train_rows.tolist()], rate, normalize, ctx.log)
    train_clips = [Clip(a, float(values[train_rows[k]])) for a, k in zip(train_audio, kept, strict=True)]
    dev_audio, kept = _clips(frame[dev_rows.tolist()], rate, normalize, ctx.log)
    dev_clips = [Clip(a, float(values[dev_rows[k]])) for a, k in zip(dev_audio, kept, strict=True)]
    max_samples = int(round(s.max_duration * rate))
    class_weights = None
    if task == "classification" and c.model.class_weight:
        counts = np.bincount(np.array([int(cl.target) for cl in train_clips]), minlength=n_outputs).astype(float)
        class_weights = (counts.sum() / (n_outputs * np.maximum(counts, 1))).tolist()
    device = _device(c.model.device, ctx.log)
    inputs = plan.hash_inputs()
    key = stable_hash([state.split_hash, {k: v for k, v in inputs.items() if k != "epochs"}])  # more epochs continue a run
    settings = TrainSettings(task=task, n_outputs=n_outputs, epochs=c.exp.epochs, batch_size=s.batch_size, learning_rate=s.learning_rate,
                             max_samples=max_samples, accumulation=s.accumulation, patience=s.patience, loss=s.loss,
                             class_weights=class_weights, seed=c.exp.seed, device=device, key=key)
    net = network(encoder, n_outputs, layer=s.layer, drop=s.drop, seed=c.exp.seed)
    with (progress.task(f"Fine-tuning {Path(s.pretrained_model).name or s.pretrained_model}", total=c.exp.epochs)
          if progress is not None else nullcontext()) as bar:
        result = train(net, train_clips, dev_clips, settings, state.folder / "finetune", bar)
    spec = {"experiment": name, "task": task, "target": target, "labels": labels, "n_outputs": n_outputs, "target_mean": mean,
            "target_std": std, "rate": rate, "normalize": normalize, "layer": s.layer, "drop": s.drop, "batch_size": s.batch_size,
            "max_samples": max_samples, "best_epoch": result.best_epoch, "pretrained_model": s.pretrained_model}
    model = FinetunedModel(net, backbone_config, rate, normalize, spec, info={"best_epoch": result.best_epoch,
                                                                               "resumed_after_epoch": result.resumed_from})
    rows = []
    for part in ("dev", "test"):
        wanted = np.flatnonzero(split == part)
        if not len(wanted):
            continue
        audio, kept = _clips(frame[wanted.tolist()], rate, normalize, ctx.log)
        out = model.outputs(audio, device)
        chosen = frame[wanted[kept].tolist()]
        piece = chosen.select("sample", "speaker", "split", pl.col("truth").cast(pl.String) if task == "classification" else "truth")
        piece = piece.with_columns(run=pl.lit(0, pl.Int64), fold=pl.lit(-1, pl.Int64), predicted=pl.Series(list(out["predicted"])))
        if task == "classification":
            piece = piece.with_columns(pl.Series("uncertainty", out["uncertainty"], dtype=pl.Float64),
                                       *[pl.Series(f"prob_{label}", out["proba"][:, i]) for i, label in enumerate(labels)])
        else:
            piece = piece.with_columns(pl.col("truth").cast(pl.Float64), pl.col("predicted").cast(pl.Float64))
        rows.append(piece)
    if not rows:
        raise ModelError("fine-tuning: no dev or test sample to evaluate")
    predictions = pl.concat(rows, how="diagonal_relaxed")
    order = ["run", "fold", "sample", "speaker", "split", "truth", "predicted"]
    state.predictions = predictions.select(*order, *[col for col in predictions.columns if col not in order]).with_columns(
        experiment=pl.lit(name)).select("experiment", pl.exclude("experiment"))
    state.fitted = [model]
    state.design = SimpleNamespace(labels=labels, columns=[])
    curve = pl.DataFrame(result.history, schema={"epoch": pl.Int64, "split": pl.String, "metric": pl.String, "value": pl.Float64})
    ctx.workspace.write_part("epochs", name, curve.with_columns(experiment=pl.lit(name)).select(list(EPOCHS)))
    _curve_plot(curve, state.folder / "plots", name, result.best_epoch)
    ctx.log.info("fine-tuning: best epoch %d of %d (chosen on dev)", result.best_epoch, c.exp.epochs)


def _curve_plot(curve: pl.DataFrame, folder: Path, name: str, best: int) -> list[Path]:
    from nkl.evaluate.plots import save_chart, training_curve_chart

    folder.mkdir(parents=True, exist_ok=True)
    chart = training_curve_chart(curve.to_dicts(), best, f"{name}: training curve (dashed: the epoch chosen on dev)")
    return save_chart(chart, folder / f"{name}_epochs")


def apply_finetuned(ctx: RunContext, folder: Path, samples: pl.DataFrame) -> pl.DataFrame:
    """Predictions of a saved fine-tuned model for these samples (sample, file, predicted, uncertainty, prob_*)."""
    model = FinetunedModel.load(folder)
    audio, kept = _clips(samples, model.rate, model.normalize, ctx.log)
    out = model.outputs(audio)
    chosen = samples[kept]
    result = chosen.select("sample", "file").with_columns(pl.Series("predicted", list(out["predicted"])))
    if model.spec["task"] == "classification":
        result = result.with_columns(pl.Series("uncertainty", out["uncertainty"], dtype=pl.Float64),
                                     *[pl.Series(f"prob_{label}", out["proba"][:, i]) for i, label in enumerate(model.spec["labels"])])
    return result


def push_to_hub(ctx: RunContext, plan: Any, folder: Path) -> str | None:
    """Upload the saved model folder when ``push_to_hub`` is set; returns the repository, or None with one warning that says
    why it was not pushed. Never raises: the finished experiment stands whatever the hub says."""
    from nkl.features.model_source import offline
    from nkl.pretrained.pyannote import hf_token

    s = plan.model_settings
    if not s.push_to_hub:
        return None
    repo = s.hub_repo or plan.name
    token = hf_token({"hf_token": plan.config.model.hf_token})
    why = ("no token ([MODEL] hf_token or $HF_TOKEN)" if not token else "HF_HUB_OFFLINE is set" if offline() else "")
    if not why:
        try:
            from huggingface_hub import HfApi

            api = HfApi(token=token)
            repo = api.create_repo(repo, exist_ok=True, private=True).repo_id
            api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model",
                              commit_message=f"nkl fine-tuned model of experiment {plan.name}")
            ctx.log.info("push_to_hub: the model is at https://huggingface.co/%s", repo)
            return repo
        except Exception as exc:  # noqa: BLE001 - any hub or network failure leaves the experiment as it is
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    ctx.log.warning("push_to_hub: the model was not pushed to '%s' (%s); it is saved in %s", repo, why, folder)
    return None
