"""Training loop of ``[MODEL] type = finetune``: seeded, resumable, selected on dev only.

- Each epoch reseeds torch with ``seed + epoch`` and draws its crops and batch order from ``(seed, epoch)``, so a run
  resumed from the checkpoint of epoch k continues exactly as an uninterrupted run would.
- Training clips longer than ``max_duration`` are cropped at a random place each epoch; clips are sorted by length into
  batches (less padding) whose order is shuffled; dev and test clips are cut into ``max_duration`` windows whose
  outputs are averaged.
- After every epoch the weights, the optimiser state and the history go to ``checkpoint/`` (safetensors + JSON, written
  to a temp folder and renamed): a killed run continues after its last complete epoch. The best epoch by dev UAR (or
  CCC) is kept; ``patience`` epochs without improvement stop training. Mixed precision (bf16) on cuda.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nkl.catalog.store import atomic_folder
from nkl.errors import ModelError

log = logging.getLogger("nkl")
CHECKPOINT = "checkpoint"


@dataclass
class Clip:
    audio: np.ndarray  # float32 at the model's rate, normalised when the model wants it
    target: float  # class code or value (standardised for regression)


@dataclass
class TrainSettings:
    task: str
    n_outputs: int
    epochs: int = 5
    batch_size: int = 8
    learning_rate: float = 1e-4
    max_samples: int = 8 * 16000
    accumulation: int = 1
    patience: int = 0
    loss: str = ""
    class_weights: list[float] | None = None
    seed: int = 42
    device: str = "cpu"
    key: str = ""  # what the run depends on: a checkpoint with another key is not resumed


@dataclass
class TrainResult:
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = 0


def normalise(audio: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (as Wav2Vec2FeatureExtractor with do_normalize)."""
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


def windows(audio: np.ndarray, size: int) -> list[np.ndarray]:
    """``size``-sample windows covering a clip (a short last one joins its neighbour)."""
    if len(audio) <= size:
        return [audio]
    starts = list(range(0, len(audio), size))
    if len(audio) - starts[-1] < size // 4 and len(starts) > 1:
        starts.pop()
    return [audio[s:s + size] if s != starts[-1] else audio[s:] for s in starts]


def _pad(batch: list[np.ndarray], torch: Any, device: str) -> tuple[Any, Any]:
    longest = max(len(a) for a in batch)
    values = np.zeros((len(batch), longest), dtype=np.float32)
    mask = np.zeros((len(batch), longest), dtype=np.int64)
    for i, audio in enumerate(batch):
        values[i, :len(audio)] = audio
        mask[i, :len(audio)] = 1
    return torch.from_numpy(values).to(device), torch.from_numpy(mask).to(device)


def _ccc(pred: Any, truth: Any) -> Any:
    pm, tm = pred.mean(), truth.mean()
    cov = ((pred - pm) * (truth - tm)).mean()
    return 2 * cov / (pred.var(unbiased=False) + truth.var(unbiased=False) + (pm - tm) ** 2 + 1e-8)


def predict_clips(net: Any, clips: list[np.ndarray], settings: TrainSettings) -> np.ndarray:
    """Outputs (logits or standardised values) per clip, averaged over its windows; in batches, sorted by length."""
    import torch

    net.eval()
    pieces = [(i, w) for i, audio in enumerate(clips) for w in windows(audio, settings.max_samples)]
    order = sorted(range(len(pieces)), key=lambda k: len(pieces[k][1]))
    sums = np.zeros((len(clips), settings.n_outputs))
    counts = np.zeros(len(clips))
    with torch.no_grad():
        for start in range(0, len(order), settings.batch_size):
            chunk = [pieces[k] for k in order[start:start + settings.batch_size]]
            values, mask = _pad([w for _, w in chunk], torch, settings.device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=settings.device.startswith("cuda")):
                out = net(values, mask).float().cpu().numpy()
            for (i, _), row in zip(chunk, out, strict=True):
                sums[i] += row
                counts[i] += 1
    return sums / counts[:, None]


def dev_score(outputs: np.ndarray, targets: np.ndarray, task: str) -> float:
    """UAR (classification) or CCC (regression) of outputs against targets."""
    if task == "classification":
        from sklearn.metrics import balanced_accuracy_score

        return float(balanced_accuracy_score(targets.astype(int), outputs.argmax(axis=1)))
    from nkl.evaluate.metrics import regression_metrics

    return float(regression_metrics(targets.astype(float), outputs[:, 0])["ccc"])


def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors = {f"{index}.{name}": value.detach().cpu().contiguous()
               for index, values in state["state"].items() for name, value in values.items()}
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(optimizer: Any, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _save_checkpoint(folder: Path, net: Any, optimizer: Any, progress: dict[str, Any], best: dict[str, Any] | None) -> None:
    from safetensors.torch import save_file

    with atomic_folder(folder) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp / "model.safetensors"))
        tensors, meta = _optimizer_tensors(optimizer)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        if best is not None:
            save_file(best, str(tmp / "best.safetensors"))
        elif (folder / "best.safetensors").is_file():
            shutil.copy2(folder / "best.safetensors", tmp / "best.safetensors")
        (tmp / "state.json").write_text(json.dumps({**progress, "optimizer": meta}, default=float))


def _load_checkpoint(folder: Path, net: Any, optimizer: Any, key: str) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    state_file = folder / "state.json"
    if not state_file.is_file():
        return None
    progress = json.loads(state_file.read_text())
    if progress.get("key") != key:
        log.info("fine-tuning: the checkpoint in %s is of other settings or data; training from the start", folder)
        return None
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    _restore_optimizer(optimizer, load_file(str(folder / "optimizer.safetensors")), progress["optimizer"])
    return progress


def train(net: Any, train_clips: list[Clip], dev_clips: list[Clip], settings: TrainSettings, folder: Path,
          progress_bar: Any = None) -> TrainResult:
    """Train ``net`` on ``train_clips``, select on ``dev_clips``; leave the best epoch's weights in ``net``."""
    import torch
    from safetensors.torch import load_file

    if not train_clips or not dev_clips:
        raise ModelError("fine-tuning needs training and dev (or held-out training-speaker) samples")
    net.to(settings.device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate)
    checkpoint = folder / CHECKPOINT
    progress = _load_checkpoint(checkpoint, net, optimizer, settings.key) or {
        "key": settings.key, "epoch": 0, "history": [], "best_epoch": 0, "best_score": -math.inf, "stale": 0}
    resumed = int(progress["epoch"])
    if resumed:
        log.info("fine-tuning: resuming after epoch %d (checkpoint %s)", resumed, checkpoint)
    weights = torch.tensor(settings.class_weights, dtype=torch.float32, device=settings.device) if settings.class_weights else None
    loss_name = settings.loss or ("cross" if settings.task == "classification" else "ccc")
    dev_targets = np.array([c.target for c in dev_clips])
    for epoch in range(resumed + 1, settings.epochs + 1):
        if settings.patience and progress["stale"] >= settings.patience:
            log.info("fine-tuning: no dev improvement for %d epochs; stopping after epoch %d", settings.patience, epoch - 1)
            break
        torch.manual_seed(settings.seed * 1000 + epoch)
        np.random.seed((settings.seed * 1000 + epoch) % 2**32)  # transformers' SpecAugment masks draw from NumPy's global RNG
        random.seed(settings.seed * 1000 + epoch)
        rng = np.random.default_rng([settings.seed, epoch])
        crops = []
        for clip in train_clips:
            audio = clip.audio
            if len(audio) > settings.max_samples:
                start = int(rng.integers(0, len(audio) - settings.max_samples + 1))
                audio = audio[start:start + settings.max_samples]
            crops.append((audio, clip.target))
        order = sorted(range(len(crops)), key=lambda i: (len(crops[i][0]), i))
        batches = [order[i:i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        net.train()
        optimizer.zero_grad(set_to_none=True)
        total, steps = 0.0, 0
        for step, batch in enumerate(batches, start=1):
            values, mask = _pad([crops[i][0] for i in batch], torch, settings.device)
            target = torch.tensor([crops[i][1] for i in batch], device=settings.device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=settings.device.startswith("cuda")):
                out = net(values, mask).float()
            if settings.task == "classification":
                loss = torch.nn.functional.cross_entropy(out, target.long(), weight=weights)
            elif loss_name == "mse":
                loss = torch.nn.functional.mse_loss(out[:, 0], target.float())
            else:
                loss = 1.0 - _ccc(out[:, 0], target.float())
            (loss / settings.accumulation).backward()
            if step % settings.accumulation == 0 or step == len(batches):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            total += float(loss.detach())
            steps += 1
        score = dev_score(predict_clips(net, [c.audio for c in dev_clips], settings), dev_targets, settings.task)
        metric = "uar" if settings.task == "classification" else "ccc"
        progress["history"] += [{"epoch": epoch, "split": "train", "metric": "loss", "value": total / max(steps, 1)},
                                {"epoch": epoch, "split": "dev", "metric": metric, "value": score}]
        best = None
        if score > progress["best_score"]:
            progress.update(best_epoch=epoch, best_score=score, stale=0)
            best = {k: v.detach().cpu().clone().contiguous() for k, v in net.state_dict().items()}
        else:
            progress["stale"] += 1
        progress["epoch"] = epoch
        _save_checkpoint(checkpoint, net, optimizer, progress, best)
        log.info("fine-tuning epoch %d: train loss %.4f, dev %s %.3f%s", epoch, total / max(steps, 1), metric, score,
                 " (best so far)" if best is not None else "")
        if progress_bar is not None:
            progress_bar.advance()
    net.load_state_dict(load_file(str(checkpoint / "best.safetensors")))
    return TrainResult(int(progress["best_epoch"]), list(progress["history"]), resumed)
