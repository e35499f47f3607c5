"""EmoDB benchmark (a script, not a test): prints wall seconds, peak RSS and extraction throughput.

    python tests/benchmarks/bench_emodb.py [--emodb DIR] [--workers N]

Measures, each in a fresh temporary workspace:
  cold run          `nkl run exp_os_svm.ini`: import, extraction of all 535 files, training, evaluation
  warm run          the same command again (nothing to compute)
  model-change run  `nkl run exp_os_xgb.ini` on the same workspace (features reused, new model)
  extraction        files/s with 1 worker and with all workers (nkl's content-addressed cache)
  raw openSMILE     opensmile.Smile.process_file on the same files, 1 process and all processes
Peak RSS is the largest resident set of any single process of the command (ru_maxrss of children).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def emodb_dir(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb"):
        if candidate and (Path(candidate) / "emodb.csv").is_file():
            return Path(candidate).resolve()
    sys.exit("EmoDB not found: pass --emodb DIR or set NKL_EMODB")


def ini_for(example: str, root: Path, emodb: Path, out: Path) -> Path:
    text = (REPO / "examples" / "emodb" / example).read_text().split("\n[REPORT]")[0]  # time the experiment, not its report
    text = re.sub(r"^root = .*$", f"root = {root}", text, flags=re.M)
    text = text.replace("${NKL_EMODB:-../shared/data/emodb}", str(emodb))
    out.write_text(text)
    return out


def timed_command(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of any one process of a command run as a child."""
    script = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "w = time.perf_counter() - t\n"
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True).stdout.split()
    if out[2] != "0":
        sys.exit(f"command failed: {' '.join(args)}")
    return float(out[0]), int(out[1]) / 1024


def _raw_chunk(files: list[str]) -> int:
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02)
    for f in files:
        smile.process_file(f)
    return len(files)


def _reused_chunk(files: list[str]) -> int:
    """openSMILE as nkl runs it: one engine per process, reset between files (same values as process_file)."""
    import soundfile

    from nkl.features.opensmile_extractor import OpenSmileExtractor

    extractor = OpenSmileExtractor()
    for f in files:
        signal, rate = soundfile.read(f, dtype="float32")
        extractor.extract(signal, rate)
    return len(files)


def raw_opensmile(files: list[str], workers: int, reused: bool = False) -> float:
    """Seconds for opensmile.Smile.process_file on every file in ``workers`` processes (``reused``: on nkl's reused
    engine instead, to tell openSMILE's own cost from the rest of a run)."""
    work = _reused_chunk if reused else _raw_chunk
    start = time.perf_counter()
    if workers == 1:
        work(files)
    else:
        chunks = [files[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(work, chunks))
    return time.perf_counter() - start


def nkl_extraction(emodb: Path, workers: int) -> float:
    """Seconds for nkl to import EmoDB and extract eGeMAPS for every file into an empty workspace."""
    from nkl.catalog import Workspace
    from nkl.config import load_config
    from nkl.context import RunContext
    from nkl.data import import_database
    from nkl.features import build_extractors, ensure_features

    with tempfile.TemporaryDirectory() as tmp:
        ini = ini_for("exp_os_svm.ini", Path(tmp) / "ws", emodb, Path(tmp) / "x.ini")
        config = load_config(ini)
        ctx = RunContext(Workspace(config.exp.root), logging.getLogger("bench"))
        name, db = config.databases[0]
        start = time.perf_counter()
        samples = import_database(ctx, name, db, config.data.target)
        report = ensure_features(ctx, build_extractors(config.feats)[0], samples, workers=workers)
        assert report.computed == samples.height, report
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    emodb = emodb_dir(args.emodb)
    nkl = str(Path(sys.executable).with_name("nkl"))
    files = sorted(str(p) for p in (emodb / "wav").glob("*.wav"))
    n = len(files)
    print(f"EmoDB: {n} files in {emodb}; {args.workers} cores; nkl at {nkl}")
    with tempfile.TemporaryDirectory() as tmp:
        svm = ini_for("exp_os_svm.ini", Path(tmp) / "ws", emodb, Path(tmp) / "svm.ini")
        xgb = ini_for("exp_os_xgb.ini", Path(tmp) / "ws", emodb, Path(tmp) / "xgb.ini")
        cold = timed_command([nkl, "run", str(svm), "-q"])
        warm = timed_command([nkl, "run", str(svm), "-q"])
        change = timed_command([nkl, "run", str(xgb), "-q"])
    print(f"cold run          {cold[0]:7.2f} s   peak RSS {cold[1]:6.0f} MB")
    print(f"warm run          {warm[0]:7.2f} s   peak RSS {warm[1]:6.0f} MB")
    print(f"model-change run  {change[0]:7.2f} s   peak RSS {change[1]:6.0f} MB")
    one = nkl_extraction(emodb, 1)
    many = nkl_extraction(emodb, args.workers)
    print(f"nkl extraction    1 worker  {one:6.2f} s = {n / one:5.1f} files/s")
    print(f"nkl extraction    {args.workers} workers {many:6.2f} s = {n / many:5.1f} files/s   speed-up {one / many:.2f}x")
    raw1 = raw_opensmile(files, 1)
    rawn = raw_opensmile(files, args.workers)
    print(f"raw openSMILE     1 process  {raw1:6.2f} s = {n / raw1:5.1f} files/s")
    print(f"raw openSMILE     {args.workers} processes {rawn:6.2f} s = {n / rawn:5.1f} files/s")
    print(f"cold run / raw openSMILE ({args.workers} processes): {cold[0] / rawn:.2f}")
    print(f"peak RSS of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
