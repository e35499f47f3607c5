"""wav2vec2 embedding throughput and memory on EmoDB (a script, not a test).

    python tests/benchmarks/bench_ssl.py [--emodb DIR] [--files N] [--batch-size B] [--device cpu|cuda]

Builds a randomly initialised BASE-size wav2vec2 (``Wav2Vec2Config()`` defaults: hidden 768, 12 layers, but with
``feat_extract_norm="layer"`` and ``do_stable_layer_norm=True`` like the large-robust models, so that padded batches
can be masked) in a temporary folder, and measures:

  (a) files/s of the bare model (zero-padded batch + attention mask, last hidden state) and of ``SslEmbedder.embed``
      (normalisation, batching, masked mean pooling) at batch 1 and at ``--batch-size`` on N EmoDB files at 16 kHz;
  (b) peak RSS (``ru_maxrss``) of a fresh process that embeds one 10-minute signal (concatenated EmoDB speech) with
      ``max_duration = 20``; the figure includes Python, torch and the model itself.

Linux keeps ``ru_maxrss`` across ``execve``, so a child starts with its parent's peak: the model is built and (b) runs
in child processes started while this one is still small (no torch imported); (a) runs here afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RATE = 16000


def emodb_dir(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb"):
        if candidate and (Path(candidate) / "emodb.csv").is_file():
            return Path(candidate).resolve()
    sys.exit("EmoDB not found: pass --emodb DIR or set NKL_EMODB")


def load_signals(emodb: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` EmoDB files (sorted by name), mono, resampled from 22.05 to 16 kHz."""
    import soundfile
    from scipy.signal import resample_poly

    files = sorted(line.split(",")[0] for line in (emodb / "emodb.csv").read_text().splitlines()[1:] if line.strip())
    signals = []
    for file in files[:count]:
        samples, rate = soundfile.read(emodb / file, dtype="float32", always_2d=True)
        signals.append(resample_poly(samples.mean(axis=1), RATE // np.gcd(RATE, rate), rate // np.gcd(RATE, rate)).astype(np.float32))
    return signals


def build_model(folder: Path) -> None:
    import torch
    import transformers as tr

    torch.manual_seed(0)
    config = tr.Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True)
    tr.Wav2Vec2Model(config).save_pretrained(folder)
    tr.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder)


def bare_files_per_second(folder: Path, signals: list[np.ndarray], batch_size: int, device: str) -> float:
    import torch
    import transformers as tr

    model = tr.Wav2Vec2Model.from_pretrained(folder).to(device).eval()
    start = 0.0
    with torch.inference_mode():
        for first in range(-batch_size, len(signals), batch_size):  # the first batch warms up, untimed
            if first == 0:
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
            chunk = signals[max(first, 0): max(first, 0) + batch_size]
            batch = np.zeros((len(chunk), max(len(s) for s in chunk)), dtype=np.float32)
            mask = np.zeros(batch.shape, dtype=np.int64)
            for row, s in enumerate(chunk):
                batch[row, : len(s)] = (s - s.mean()) / np.sqrt(s.var() + 1e-7)
                mask[row, : len(s)] = 1
            hidden = model(torch.from_numpy(batch).to(device), attention_mask=torch.from_numpy(mask).to(device)).last_hidden_state
            hidden.float().mean(dim=1).cpu()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(signals) / (time.perf_counter() - start)


def embed_files_per_second(folder: Path, signals: list[np.ndarray], batch_size: int, device: str) -> float:
    from nkl.features.ssl_embedder import SslEmbedder

    embedder = SslEmbedder(str(folder), family="wav2vec2", device=device)
    embedder.embed(signals[:batch_size])  # warm-up, untimed
    start = time.perf_counter()
    for first in range(0, len(signals), batch_size):
        embedder.embed(signals[first: first + batch_size])
    return len(signals) / (time.perf_counter() - start)


def peak_rss_child(folder: Path, emodb: Path, device: str) -> None:
    """Run in a fresh process: embed a 10-minute signal, print seconds and peak RSS."""
    from nkl.features.ssl_embedder import SslEmbedder

    speech = np.concatenate(load_signals(emodb, 535))
    signal = np.resize(speech, 600 * RATE).astype(np.float32)  # repeats EmoDB speech up to 10 minutes
    del speech
    embedder = SslEmbedder(str(folder), family="wav2vec2", max_duration=20.0, device=device)
    embedder.setup()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    values = embedder.embed([signal])
    seconds = time.perf_counter() - start
    assert values.shape == (1, 768) and np.isfinite(values).all()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = next((int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:")), 0)
    print(f"RSS {before / 1024:.0f} {peak / 1024:.0f} {hwm / 1024:.0f} {seconds:.1f}")


def end_to_end_files_per_second(folder: Path, emodb: Path, count: int, batch_size: int, device: str, root: Path) -> tuple[float, float]:
    """``ensure_features`` of a wav2vec2 extractor over N EmoDB files in a fresh workspace: what `nkl run` does for them."""
    import logging

    import polars as pl

    from nkl.catalog import Workspace
    from nkl.config.sections import DatabaseSection
    from nkl.context import RunContext
    from nkl.data import import_database
    from nkl.features.cache import ensure_features
    from nkl.features.ssl_extractor import Wav2Vec2Extractor

    table = pl.read_csv(emodb / "emodb.csv", infer_schema=False).sort("file").head(count)
    csv = root / "db.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    table.with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file")).write_csv(csv)
    ctx = RunContext(Workspace(root), logging.getLogger("bench"))
    samples = import_database(ctx, "db", DatabaseSection(path=str(csv), type="csv"), "emotion")
    extractor = Wav2Vec2Extractor({"model": str(folder)}, kind="wav2vec2", device=device, batch_size=batch_size)
    started = time.perf_counter()
    report = ensure_features(ctx, extractor, samples)
    seconds = time.perf_counter() - started
    assert report.computed == samples.height, report
    return samples.height / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb")
    parser.add_argument("--files", type=int, default=535)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)  # internal: the model folder for part (b)
    parser.add_argument("--build-child", help=argparse.SUPPRESS)  # internal: where to save the random model
    args = parser.parse_args()
    emodb = emodb_dir(args.emodb)
    if args.build_child:
        build_model(Path(args.build_child))
        return
    if args.rss_child:
        peak_rss_child(Path(args.rss_child), emodb, args.device)
        return
    with tempfile.TemporaryDirectory(prefix="bench_ssl_") as tmp:
        folder = Path(tmp) / "wav2vec2-base-random"
        subprocess.run([sys.executable, __file__, "--build-child", str(folder), "--emodb", str(emodb)], check=True, capture_output=True)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = subprocess.run([sys.executable, __file__, "--rss-child", str(folder), "--emodb", str(emodb), "--device", args.device],
                               capture_output=True, text=True, check=False)
        line = next((x for x in child.stdout.splitlines() if x.startswith("RSS ")), None)
        if child.returncode != 0 or line is None:
            sys.exit(f"(b) failed:\n{child.stderr[-3000:]}")
        _, before, peak, hwm, seconds = line.split()

        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
        signals = load_signals(emodb, args.files)
        audio = sum(len(s) for s in signals) / RATE
        print(f"(a) {len(signals)} EmoDB files, {audio:.1f} s of audio, random base wav2vec2 (hidden 768, 12 layers, layer-norm features)")
        for batch_size in sorted({1, args.batch_size}):
            bare = bare_files_per_second(folder, signals, batch_size, args.device)
            embed = embed_files_per_second(folder, signals, batch_size, args.device)
            print(f"    batch {batch_size:>3}: bare model {bare:6.2f} files/s ({bare * audio / len(signals):6.1f} s audio/s)   "
                  f"SslEmbedder.embed {embed:6.2f} files/s")
        e2e, e2e_rss = end_to_end_files_per_second(folder, emodb, args.files, args.batch_size, args.device, Path(tmp) / "ws")
        print(f"(c) end to end through nkl (decode 22.05 kHz, resample to 16 kHz, length-sorted batches of {args.batch_size}, "
              f"Parquet parts): {e2e:6.2f} files/s; peak RSS of this process {e2e_rss:.0f} MB")
        print(f"(b) 10-minute signal, max_duration 20 s: {seconds} s; peak RSS {peak} MB (ru_maxrss; VmHWM {hwm} MB; "
              f"{before} MB after loading the model; the parent's {own:.0f} MB peak is inherited)")

if __name__ == "__main__":
    main()
