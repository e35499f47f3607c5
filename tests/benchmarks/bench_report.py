"""How long `nkl report` takes for the EmoDB experiment report (target: under 10 s), as a user runs it.

    python tests/benchmarks/bench_report.py [--emodb DIR] [--workspace DIR] [--repeat 3]

Without --workspace it first runs examples/emodb/exp_os_svm.ini and exp_os_xgb.ini (without their
[REPORT] sections) into a temporary workspace. Then it times, as separate `nkl` processes (imports
included):

  cold bundle   `nkl report CONFIG` with an empty NKL_CACHE_DIR (the Vega scripts for the HTML are built)
  warm          `nkl report CONFIG` again (PDF + HTML), best and median of --repeat runs
  pdf only      `nkl report CONFIG --format pdf`
  workspace     `nkl report --workspace DIR` (both experiments compared)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NKL = [sys.executable, "-m", "nkl.cli.app"]


def ini_for(example: str, root: Path, emodb: Path, out: Path, report: bool) -> Path:
    text = (REPO / "examples" / "emodb" / example).read_text()
    if not report:
        text = text.split("\n[REPORT]")[0]
    text = re.sub(r"^root = .*$", f"root = {root}", text, flags=re.M).replace("${NKL_EMODB:-../shared/data/emodb}", str(emodb))
    out.write_text(text)
    return out


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([*NKL, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: nkl {' '.join(args)}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb", default=os.environ.get("NKL_EMODB", str(REPO.parent / "shared" / "data" / "emodb")))
    parser.add_argument("--workspace", help="a workspace that already holds exp_os_svm (and others)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    emodb = Path(args.emodb).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        root = Path(args.workspace).resolve() if args.workspace else tmp_path / "ws"
        env = {**os.environ, "NKL_CACHE_DIR": str(tmp_path / "cache")}
        if not args.workspace:
            for example in ("exp_os_svm.ini", "exp_os_xgb.ini"):
                seconds = timed(["run", str(ini_for(example, root, emodb, tmp_path / example, report=False)), "-q"], env)
                print(f"setup: nkl run {example}: {seconds:.1f} s")
        config = ini_for("exp_os_svm.ini", root, emodb, tmp_path / "report.ini", report=True)
        cold = timed(["report", str(config), "-q"], env)
        warm = [timed(["report", str(config), "-q"], env) for _ in range(args.repeat)]
        pdf = [timed(["report", str(config), "--format", "pdf", "-q"], env) for _ in range(args.repeat)]
        workspace = [timed(["report", "--workspace", str(root), "-q"], env) for _ in range(args.repeat)]
        print(f"experiment report, cold Vega bundle (PDF + HTML): {cold:.2f} s")
        print(f"experiment report, warm (PDF + HTML):             best {min(warm):.2f} s, median {statistics.median(warm):.2f} s")
        print(f"experiment report, PDF only:                      best {min(pdf):.2f} s, median {statistics.median(pdf):.2f} s")
        print(f"workspace report (PDF + HTML):                    best {min(workspace):.2f} s, median {statistics.median(workspace):.2f} s")
        print(f"under 10 s: {'yes' if max(cold, *warm) < 10 else 'NO'} (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
