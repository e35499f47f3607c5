"""DNSMOS fast vs reference mode on EmoDB (a script, not a test): files/s of each, and how far fast is from reference.

    python tests/benchmarks/bench_dnsmos.py [--emodb DIR] [--files N | --all] [--reference-files N] [--workers N] [--per-file]
    python tests/benchmarks/bench_dnsmos.py --lengths N [--seed S]

Both modes run end to end through nkl's engine (decoding, the predictor, Parquet parts) into an empty workspace:
fast on ``--files`` files (default 60; ``--all`` = 535), reference on the first ``--reference-files`` of them (default
60; about 1 s per file on 2 cores). ``--per-file`` runs the predictor in worker processes, one file per call, instead
of batches of files in the main process (to compare the two shapes). Prints the mean and max absolute difference of
each score between the modes on the files both scored, and the windows each mode scored per file.

Every file of the EmoDB copy here lasts exactly 2.0 s, where fast mode scores every distinct window. ``--lengths N``
measures agreement where it does not: N clips of 0.5-8.9 s (uniform), each cut at a random place from five joined
utterances of one speaker, scored by both modes in this process (no timing).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def run_mode(files: list[str], mode: str, workers: int, per_file: bool) -> tuple[dict[str, list[float]], float, float]:
    """Scores by file (``NAMES`` order), seconds and CPU seconds (this process and its workers) of one mode, in a fresh workspace."""
    from nkl.catalog import Workspace
    from nkl.context import RunContext
    from nkl.predict.dnsmos import NAMES, DnsmosPredictor
    from nkl.predict.inputs import file_samples
    from nkl.predict.run import estimate, estimates_for

    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(Workspace(tmp), logging.getLogger("bench"))
        samples = file_samples(ctx, files)
        predictor = DnsmosPredictor({"mode": mode})
        if per_file:
            predictor.batched = False  # type: ignore[misc] - the engine then runs extract() in worker processes
        start, cpu = time.perf_counter(), os.times()
        report = estimate(ctx, [predictor], samples, workers=workers)[0]
        seconds, used = time.perf_counter() - start, os.times()
        assert report.computed == len(files), report
        rows = estimates_for(ctx, samples)
        cpu_seconds = sum(getattr(used, f) - getattr(cpu, f) for f in ("user", "system", "children_user", "children_system"))
        return {r["file"]: [r[n] for n in NAMES] for r in rows.iter_rows(named=True)}, seconds, cpu_seconds


def shown(value: float) -> str:
    """A difference to print: four decimals, or its order of magnitude when smaller (1e-07 is float noise, not 0)."""
    return f"{value:.4f}" if value >= 1e-4 or value == 0 else f"{value:.0e}"


def lengths(emodb: Path, count: int, seed: int) -> None:
    """Agreement of the modes on clips of random length (see the module docstring)."""
    import numpy as np
    import polars as pl

    from nkl.audio.decode import load_audio
    from nkl.predict.dnsmos import NAMES, RATE, DnsmosPredictor, plan_windows

    table = pl.read_csv(emodb / "emodb.csv", infer_schema=False)
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(count):
        speaker = rng.choice(sorted(set(table["speaker"])))
        files = rng.permutation(table.filter(pl.col("speaker") == speaker)["file"].to_list())[:5]
        speech = np.concatenate([load_audio(emodb / f, sample_rate=RATE)[0] for f in files])
        size = int(rng.uniform(0.5, 8.9) * RATE)
        start = int(rng.integers(0, len(speech) - size))
        clips.append(speech[start:start + size])
    rows = {mode: np.vstack([DnsmosPredictor({"mode": mode}).extract_batch(clips[i:i + 8]) for i in range(0, count, 8)])
            for mode in ("fast", "reference")}
    windows = {mode: np.mean([len(plan_windows(len(c), mode)) for c in clips]) for mode in rows}
    differs = [i for i, c in enumerate(clips) if plan_windows(len(c)) != plan_windows(len(c), "reference")]
    print(f"{count} clips of 0.5-8.9 s (seed {seed}): windows per clip {windows['fast']:.2f} (fast), {windows['reference']:.2f} (reference); "
          f"fast skips rotations on {len(differs)} of them")
    difference = np.abs(rows["fast"] - rows["reference"])
    for i, name in enumerate(NAMES):
        print(f"  {name:<16} mean {shown(difference[:, i].mean())}  max {shown(difference[:, i].max())}  "
              f"(mean {shown(difference[differs, i].mean())} on the {len(differs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb")
    parser.add_argument("--files", type=int, default=60, help="files for fast mode")
    parser.add_argument("--all", action="store_true", help="fast mode on all 535 files")
    parser.add_argument("--reference-files", type=int, default=60, help="files for reference mode (slow)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--per-file", action="store_true", help="worker processes, one file per call (else batches in one process)")
    parser.add_argument("--lengths", type=int, default=0, help="instead: agreement on this many clips of random length")
    parser.add_argument("--seed", type=int, default=0, help="seed of --lengths")
    args = parser.parse_args()
    emodb = next((Path(c) for c in (args.emodb, os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb")
                  if c and (Path(c) / "emodb.csv").is_file()), None)
    if emodb is None:
        sys.exit("EmoDB not found: pass --emodb DIR or set NKL_EMODB")
    if args.lengths:
        return lengths(emodb, args.lengths, args.seed)
    import numpy as np
    import soundfile as sf

    from nkl.predict.dnsmos import NAMES, RATE, plan_windows

    every = sorted(str(p) for p in (emodb / "wav").glob("*.wav"))
    files = every if args.all else every[: args.files]
    reference_files = files[: args.reference_files]
    shape = "per-file worker processes" if args.per_file else "batches of files in one process"
    print(f"EmoDB: {len(files)} files (fast), {len(reference_files)} (reference); {args.workers} cores, {shape}; load {os.getloadavg()[0]:.2f}")
    results = {}
    for mode, chosen in (("fast", files), ("reference", reference_files)):
        if not chosen:
            continue
        scores, seconds, cpu_seconds = run_mode(chosen, mode, args.workers, args.per_file)
        results[mode] = scores
        windows = np.mean([len(plan_windows(int(sf.info(f).duration * RATE), mode)) for f in chosen])
        # CPU seconds per file hardly depend on other work on the machine: files/s on idle cores is at most cores / them
        print(f"{mode:<9} {len(chosen)} files in {seconds:6.1f} s = {len(chosen) / seconds:5.2f} files/s ({windows:.1f} windows per file; "
              f"{cpu_seconds / len(chosen):.2f} CPU s per file; load {os.getloadavg()[0]:.2f})")
    both = [f for f in reference_files if f in results.get("fast", {}) and f in results.get("reference", {})]
    if both:
        difference = np.abs(np.array([results["fast"][f] for f in both]) - np.array([results["reference"][f] for f in both]))
        print(f"|fast - reference| on {len(both)} files:")
        for i, name in enumerate(NAMES):
            print(f"  {name:<16} mean {shown(difference[:, i].mean())}  max {shown(difference[:, i].max())}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
