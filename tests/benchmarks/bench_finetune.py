"""Fine-tuning benchmark (a script, not a test): training speed and memory of nkl's finetune loop.

    python tests/benchmarks/bench_finetune.py [--size base|tiny] [--device cpu|cuda] [--steps 6] [--batch-size 4]
                                              [--seconds 4] [--task-epochs 3]

1. Speed: a randomly initialised wav2vec2 (``base``: 12 layers, 768 wide, 95 M parameters; ``tiny``: 2 × 32) trained
   for ``--steps`` batches of ``--batch-size`` clips of ``--seconds`` s through ``nkl.finetune.trainer.train`` (the
   first batch is a warm-up): training samples/s, and the process's peak RSS (and GPU peak memory on cuda, where the
   loop runs in bf16 autocast).
2. Quality: the synthetic two-class task of the tests (tones of 300 Hz vs 2500 Hz in noise, 10 speakers × 8 clips) on a
   tiny model for ``--task-epochs`` epochs on the same device: the best dev UAR.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from nkl.finetune.model import network  # noqa: E402
from nkl.finetune.trainer import Clip, TrainSettings, normalise, train  # noqa: E402

RATE = 16000


def encoder(size: str):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    if size == "base":
        config = Wav2Vec2Config()  # the wav2vec2-base architecture
    else:
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                conv_dim=(32, 32, 32, 32), conv_kernel=(10, 3, 3, 3), conv_stride=(5, 2, 2, 2),
                                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, feat_extract_norm="layer",
                                do_stable_layer_norm=True)
    return Wav2Vec2Model(config)


def tones(n_speakers: int = 10, per_speaker: int = 8, seed: int = 0) -> tuple[list[Clip], list[Clip]]:
    rng = np.random.default_rng(seed)
    train, dev = [], []
    for speaker in range(n_speakers):
        for i in range(per_speaker):
            t = np.arange(int(RATE * rng.uniform(0.6, 1.4))) / RATE
            audio = 0.5 * np.sin(2 * np.pi * (300 if i % 2 == 0 else 2500) * t) + 0.1 * rng.normal(size=t.size)
            (dev if speaker in (2, 3) else train).append(Clip(normalise(audio.astype(np.float32)), float(i % 2)))
    return train, dev


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("base", "tiny"), default="base")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--task-epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    samples = int(args.seconds * RATE)
    n = args.batch_size * (args.steps + 1)
    clips = [Clip(normalise(rng.normal(size=samples).astype(np.float32)), float(i % 2)) for i in range(n)]
    net = network(encoder(args.size), 2, seed=1)
    parameters = sum(p.numel() for p in net.parameters())
    with tempfile.TemporaryDirectory() as folder:
        warm = TrainSettings(task="classification", n_outputs=2, epochs=1, batch_size=args.batch_size, learning_rate=1e-4,
                             max_samples=samples, seed=1, device=args.device, key="warm")
        train(net, clips[:args.batch_size], clips[:2], warm, Path(folder) / "warm")
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        settings = TrainSettings(**{**warm.__dict__, "key": "speed"})
        started = time.perf_counter()
        train(net, clips[args.batch_size:], clips[:2], settings, Path(folder) / "speed")
        seconds = time.perf_counter() - started
    trained = n - args.batch_size
    print(f"{args.size} wav2vec2 ({parameters / 1e6:.1f} M parameters) on {args.device}"
          f"{' (bf16 autocast)' if args.device.startswith('cuda') else ''}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"training: {trained} clips of {args.seconds:g} s in batches of {args.batch_size}: {seconds:.1f} s "
          f"(incl. one dev pass and a checkpoint), {trained / seconds:.2f} samples/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
          + (f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if args.device.startswith("cuda") else ""))
    train_clips, dev_clips = tones()
    with tempfile.TemporaryDirectory() as folder:
        task = TrainSettings(task="classification", n_outputs=2, epochs=args.task_epochs, batch_size=8, learning_rate=1e-3,
                             max_samples=RATE, seed=1, device=args.device, key="task")
        result = train(network(encoder("tiny"), 2, seed=1), train_clips, dev_clips, task, Path(folder))
    best = max(h["value"] for h in result.history if h["split"] == "dev")
    print(f"synthetic two-class task (tiny model, {args.task_epochs} epochs, {args.device}): best dev UAR {best:.3f} "
          f"at epoch {result.best_epoch}")


if __name__ == "__main__":
    main()
