"""wav2vec2 embeddings on a GPU: files/s end to end through nkl, and agreement with the CPU (a script, not a test).

    python tests/benchmarks/bench_ssl_gpu.py [--audio DIR] [--clips N] [--batch-size B] [--check K] [--out FILE]

Needs a CUDA GPU; run it wherever one is available. It builds a randomly initialised BASE-size wav2vec2 (the same
model as bench_ssl.py: hidden 768, 12 layers, layer-norm feature encoder, so padded batches can be masked), then:

  clips  N clips of 2.0 s cut from the speech in ``--audio`` (EmoDB by default: NKL_EMODB or ../shared/data/emodb;
         any folder of audio files works), written as WAV at 16, 22.05, 44.1 (stereo) and 48 kHz in turn, so that
         decoding and resampling are part of the work as they are for real databases; each clip is distinct audio
         (its own offset and gain), so the content-addressed cache cannot skip any of them.
  (a)    the bare model in bf16 (zero-padded batch + attention mask) at batch 1 and at ``--batch-size``: the ceiling.
  (b)    end to end: ``ensure_features`` of a wav2vec2 extractor over all clips in a fresh workspace (decode with the
         machine's cores, resample, length-sorted batches, bf16 forward, pooling, Parquet parts, catalog views), as
         `nkl run` does with ``[FEATS] device = cuda``. Files/s counts from the first file decoded to the last part
         written; model loading (a few seconds, once per run) is reported apart. A second call must compute nothing.
  (c)    agreement: ``--check`` clips embedded on the CPU in float32 compared with the GPU bf16 rows from (b) and with a
         GPU float32 pass (cosine similarity and relative error of each embedding).

Results are printed and, with ``--out``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
RATES = (16000, 22050, 44100, 48000)
CLIP_SECONDS = 2.0


def audio_dir(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    sys.exit("no audio: pass --audio DIR (a folder of audio files, e.g. EmoDB) or set NKL_EMODB")


def make_clips(source: Path, count: int, folder: Path) -> list[Path]:
    """``count`` distinct 2.0 s clips cut from the source speech, written at the rates in RATES in turn."""
    import soundfile

    from nkl.audio.decode import load_audio, resample

    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    if not files:
        sys.exit(f"no .wav/.flac/.ogg files under {source}")
    speech = np.concatenate([load_audio(f, sample_rate=16000)[0] for f in files])
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(speech) - int(CLIP_SECONDS * 16000), size=count)
    gains = rng.uniform(0.3, 0.9, size=count)
    folder.mkdir(parents=True, exist_ok=True)

    def write(index: int) -> Path:
        clip = speech[starts[index]: starts[index] + int(CLIP_SECONDS * 16000)]
        clip = gains[index] * clip / max(1e-6, float(np.abs(clip).max()))
        rate = RATES[index % len(RATES)]
        samples = resample(clip.astype(np.float32), 16000, rate)
        if rate == 44100:
            samples = np.stack([samples, 0.8 * samples], axis=1)
        path = folder / f"clip{index:05d}.wav"
        soundfile.write(path, samples, rate, subtype="PCM_16")
        return path

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(write, range(count)))


def build_model(folder: Path) -> None:
    import torch
    import transformers as tr

    torch.manual_seed(0)
    tr.Wav2Vec2Model(tr.Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True)).save_pretrained(folder)
    tr.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder)


def bare_files_per_second(folder: Path, signals: list[np.ndarray], batch_size: int, device: str) -> float:
    import torch
    import transformers as tr

    model = tr.Wav2Vec2Model.from_pretrained(folder).to(device, dtype=torch.bfloat16).eval()
    cuda = device.startswith("cuda")
    with torch.inference_mode():
        def run(chunk: list[np.ndarray]) -> None:
            batch = np.zeros((len(chunk), max(len(s) for s in chunk)), dtype=np.float32)
            mask = np.zeros(batch.shape, dtype=np.int64)
            for row, s in enumerate(chunk):
                batch[row, : len(s)] = (s - s.mean()) / np.sqrt(s.var() + 1e-7)
                mask[row, : len(s)] = 1
            inputs = torch.from_numpy(batch).to(device, dtype=torch.bfloat16)
            hidden = model(inputs, attention_mask=torch.from_numpy(mask).to(device)).last_hidden_state
            hidden.float().mean(dim=1).cpu()

        for _ in range(3):
            run(signals[:batch_size])  # warm-up (cuDNN autotuning, allocator)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for first in range(0, len(signals), batch_size):
            run(signals[first: first + batch_size])
        if cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.to("cpu")
    if cuda:
        torch.cuda.empty_cache()
    return len(signals) / seconds


def engine_ceiling(ctx, samples, table: str) -> float:
    """Files/s of the engine alone: the same decoding, batching and Parquet parts around a model that takes no time."""
    from nkl.features.cache import ensure_features
    from nkl.features.registry import Extractor

    class NoModel(Extractor):
        name, batched, sample_rate, min_duration = "nomodel", True, 16000, 0.03
        names: ClassVar[list[str]] = [f"f{i}" for i in range(768)]

        @property
        def table(self) -> str:
            return table

        def versions(self) -> dict[str, str]:
            return {}

        def setup(self) -> None:
            return None

        def extract(self, signal, sample_rate):  # batched only
            raise NotImplementedError

        def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
            return np.ones((len(signals), len(self.names)))

    report = ensure_features(ctx, NoModel(batch_size=128), samples)
    return samples.height / report.seconds


def decode_alone(samples, figures: dict) -> None:
    """Files/s of decoding alone (the engine's decode task) with threads and with processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from nkl.features.worker import DecodeSpec, Item, decode_items, init_decoder

    spec = DecodeSpec("wav2vec2", 16000, 0.03)
    items = [Item(k, f, 0.0, None) for k, f in samples.select("content_key", "file").iter_rows()]
    chunks = [items[i:i + 16] for i in range(0, len(items), 16)]
    for name, make in (("threads_8", lambda: ThreadPoolExecutor(8)), ("threads_15", lambda: ThreadPoolExecutor(15)),
                       ("processes_15", lambda: ProcessPoolExecutor(15, mp_context=multiprocessing.get_context("spawn"), initializer=init_decoder))):
        with make() as pool:
            list(pool.map(decode_items, [spec] * 15, chunks[:15]))  # start the workers
            started = time.perf_counter()
            count = sum(len(out) for out in pool.map(decode_items, [spec] * len(chunks), chunks))
            figures[f"decode_alone_{name}"] = count / (time.perf_counter() - started)
        print(f"    decoding alone with {name}: {figures[f'decode_alone_{name}']:7.1f} files/s")


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per-row cosine similarity (min, mean) and relative L2 error (max, mean) of ``a`` against ``b``."""
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    relative = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    return {"cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean()), "rel_err_max": float(relative.max()),
            "rel_err_mean": float(relative.mean()), "abs_err_max": float(np.abs(a - b).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", help="folder of audio files to cut clips from (default: EmoDB)")
    parser.add_argument("--clips", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--check", type=int, default=64, help="clips compared with the CPU")
    parser.add_argument("--out", help="write the figures here as JSON")
    parser.add_argument("--compare-decoding", action="store_true", help="also time decoding threads against processes")
    parser.add_argument("--device", default="cuda", help="cpu only to try the script itself on a few clips")
    args = parser.parse_args()

    import polars as pl
    import torch

    from nkl.catalog import Workspace
    from nkl.config.sections import DatabaseSection
    from nkl.context import RunContext
    from nkl.data import import_database
    from nkl.features.cache import decode_threads, ensure_features, load_features
    from nkl.features.ssl_embedder import SslEmbedder
    from nkl.features.ssl_extractor import Wav2Vec2Extractor
    from nkl.features.worker import Item, load_signal

    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: this benchmark needs one (bench_ssl.py measures the CPU)")
    logging.basicConfig(level=logging.WARNING)
    figures: dict[str, object] = {"gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu", "torch": torch.__version__,
                                  "cores": os.cpu_count(), "decode_threads": decode_threads(), "clips": args.clips,
                                  "batch_size": args.batch_size}
    print(f"{figures['gpu']}, torch {torch.__version__}, {os.cpu_count()} cores ({decode_threads()} decode threads)")
    with tempfile.TemporaryDirectory(prefix="bench_ssl_gpu_") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        clips = make_clips(audio_dir(args.audio), args.clips, root / "clips")
        print(f"clips: {len(clips)} x {CLIP_SECONDS} s at {'/'.join(str(r) for r in RATES)} Hz written in {time.perf_counter() - started:.1f} s")
        folder = root / "wav2vec2-base-random"
        build_model(folder)

        # (a) the bare model on pre-decoded 16 kHz clips
        signals = [load_signal(Wav2Vec2Extractor(), Item("", str(c), 0.0, None))[0] for c in clips[: min(len(clips), 2048)]]
        bare1 = bare_files_per_second(folder, signals[:256], 1, device)
        bare_b = bare_files_per_second(folder, signals, args.batch_size, device)
        figures.update(bare_batch1=bare1, bare_batch=bare_b)
        print(f"(a) bare model bf16: batch 1 {bare1:7.1f} files/s; batch {args.batch_size} {bare_b:7.1f} files/s "
              f"({len(signals)} clips, decoding not counted)")

        # (b) end to end through the engine
        csv = root / "clips.csv"
        pl.DataFrame({"file": [str(c) for c in clips], "label": ["x"] * len(clips)}).write_csv(csv)
        ctx = RunContext(Workspace(root / "ws"), logging.getLogger("bench"))
        samples = import_database(ctx, "clips", DatabaseSection(path=str(csv), type="csv"), "label")
        extractor = Wav2Vec2Extractor({"model": str(folder)}, kind="wav2vec2", device=device, batch_size=args.batch_size)
        started = time.perf_counter()
        extractor.setup()
        load_seconds = time.perf_counter() - started
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        inner, in_model = extractor.extract_batch, [0.0]

        def timed(signals: list[np.ndarray]) -> np.ndarray:
            begun = time.perf_counter()
            try:
                return inner(signals)
            finally:
                in_model[0] += time.perf_counter() - begun

        extractor.extract_batch = timed  # type: ignore[method-assign]
        report = ensure_features(ctx, extractor, samples)
        extractor.extract_batch = inner  # type: ignore[method-assign]
        assert report.computed == samples.height, report
        figures["in_model_seconds"] = in_model[0]
        print(f"(b) of the {report.seconds:.2f} s, {in_model[0]:.2f} s were spent in the embedder (batches, forward passes, pooling)")
        e2e = samples.height / report.seconds
        again = ensure_features(ctx, extractor, samples)
        assert again.computed == 0 and again.cached == samples.height, again
        figures.update(end_to_end=e2e, end_to_end_with_load=samples.height / (report.seconds + load_seconds), load_seconds=load_seconds,
                       extraction_seconds=report.seconds, cached_rerun_seconds=again.seconds,
                       gpu_peak_gb=torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0,
                       peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f"(b) end to end: {samples.height} files in {report.seconds:.2f} s = {e2e:7.1f} files/s "
              f"({samples.height / (report.seconds + load_seconds):.1f} files/s counting the {load_seconds:.1f} s model load); "
              f"rerun {again.seconds:.2f} s, 0 computed; GPU peak {figures['gpu_peak_gb']:.1f} GiB, RSS peak {figures['peak_rss_mb']:.0f} MB")

        import nkl.features.cache as engine

        chosen = engine.decode_processes(samples.height)
        ceiling = engine_ceiling(ctx, samples, "features_nomodel_default")
        figures.update(engine_ceiling=ceiling)
        print(f"(b) the engine alone (same decoding, batches and parts, a model that takes no time): {ceiling:7.1f} files/s "
              f"({f'{chosen} decoding processes' if chosen else f'{engine.decode_threads()} decoding threads'})")
        if args.compare_decoding:  # the other ways of decoding, to choose the default
            policy = engine.decode_processes
            for name, processes, threads in (("threads_8", 0, 8), ("threads_15", 0, 15), ("processes_15", 15, 0)):
                engine.decode_processes, engine.MAX_DECODE_THREADS = (lambda n, p=processes: p), threads or 8
                figures[f"engine_ceiling_{name}"] = engine_ceiling(ctx, samples, f"features_nomodel_{name}")
                print(f"    engine alone with {name}: {figures[f'engine_ceiling_{name}']:7.1f} files/s")
            engine.decode_processes, engine.MAX_DECODE_THREADS = (lambda n: 0), 8
            decode_alone(samples, figures)
            real_decode = engine.decode_items
            ready = load_signal(extractor, Item("", str(clips[0]), 0.0, None))[0]
            engine.decode_items = lambda spec, items: [ready.copy() for _ in items]
            figures["engine_ceiling_no_decoding"] = engine_ceiling(ctx, samples, "features_nomodel_no_decoding")
            print(f"    engine alone, decoding replaced by a copy: {figures['engine_ceiling_no_decoding']:7.1f} files/s")
            engine.decode_items = real_decode
            ws2 = RunContext(Workspace(root / "ws2"), logging.getLogger("bench"))
            samples2 = import_database(ws2, "clips", DatabaseSection(path=str(csv), type="csv"), "label")
            threaded = ensure_features(ws2, extractor, samples2)
            figures["end_to_end_threads_8"] = samples2.height / threaded.seconds
            print(f"    end to end with 8 decoding threads: {figures['end_to_end_threads_8']:7.1f} files/s")
            engine.decode_processes, engine.MAX_DECODE_THREADS = policy, 8

        # (c) agreement with the CPU
        rows = samples.head(args.check)
        gpu_rows = load_features(ctx, extractor, rows["content_key"].to_list())
        gpu_bf16 = gpu_rows.join(rows.select("content_key", "file"), on="content_key").sort("file")
        checked = [load_signal(extractor, Item("", f, 0.0, None))[0] for f in gpu_bf16["file"].to_list()]
        bf16 = gpu_bf16.select(extractor.names).to_numpy()
        cpu = SslEmbedder(str(folder), family="wav2vec2", device="cpu", dtype="float32").embed(checked)
        fp32 = SslEmbedder(str(folder), family="wav2vec2", device=device, dtype="float32").embed(checked)
        figures.update(gpu_bf16_vs_cpu=agreement(bf16, cpu), gpu_fp32_vs_cpu=agreement(fp32, cpu))
        for name in ("gpu_bf16_vs_cpu", "gpu_fp32_vs_cpu"):
            a = figures[name]
            print(f"(c) {name} over {len(checked)} clips: cosine min {a['cosine_min']:.5f} mean {a['cosine_mean']:.5f}; "
                  f"relative error max {a['rel_err_max']:.2e} mean {a['rel_err_mean']:.2e}; abs max {a['abs_err_max']:.2e}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
