"""Predictor and segmentation throughput on EmoDB (a script, not a test): files/s for snr, mos and silero.

    python tests/benchmarks/bench_predict.py [--emodb DIR] [--files N] [--workers N]

snr and mos run through nkl's extraction engine (worker processes, content-addressed cache) into an
empty workspace; silero segmentation runs in this process over the same files.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb")
    parser.add_argument("--files", type=int, default=535, help="files for snr and silero")
    parser.add_argument("--mos-files", type=int, default=40, help="files for mos (slow: ~4 s per file per core)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    emodb = next((Path(c) for c in (args.emodb, os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb")
                  if c and (Path(c) / "emodb.csv").is_file()), None)
    if emodb is None:
        sys.exit("EmoDB not found: pass --emodb DIR or set NKL_EMODB")
    from nkl.audio.decode import load_audio
    from nkl.catalog import Workspace
    from nkl.context import RunContext
    from nkl.predict.inputs import file_samples
    from nkl.predict.run import build_predictors, estimate

    files = sorted(str(p) for p in (emodb / "wav").glob("*.wav"))[: args.files]
    print(f"EmoDB files: {len(files)} (snr, silero), {min(args.mos_files, len(files))} (mos); {args.workers} workers")
    for target, count in (("snr", len(files)), ("mos", args.mos_files)):
        with tempfile.TemporaryDirectory() as tmp:
            ctx = RunContext(Workspace(tmp), logging.getLogger("bench"))
            samples = file_samples(ctx, files[:count])
            start = time.perf_counter()
            report = estimate(ctx, build_predictors([target]), samples, workers=args.workers)[0]
            seconds = time.perf_counter() - start
            print(f"{target:<7} {report.computed} files in {seconds:6.2f} s = {report.computed / seconds:6.2f} files/s")
    try:
        from nkl.segment.vad import load_vad_model, speech_segments
    except ImportError as exc:
        print(f"silero  skipped ({exc})")
        return
    model = load_vad_model()
    speech_segments(load_audio(files[0], sample_rate=16000)[0], 16000, model=model)  # first call compiles
    start = time.perf_counter()
    for f in files:
        signal, rate = load_audio(f, sample_rate=16000)
        speech_segments(signal, rate, model=model)
    seconds = time.perf_counter() - start
    print(f"silero  {len(files)} files in {seconds:6.2f} s = {len(files) / seconds:6.2f} files/s (one process)")


if __name__ == "__main__":
    main()
