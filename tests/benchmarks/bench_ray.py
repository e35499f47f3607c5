"""[EXP] engine = local against engine = ray on EmoDB (a script, not a test): cold openSMILE extraction of all 535 files.

    python tests/benchmarks/bench_ray.py [--emodb DIR]

Each engine runs `examples/emodb/exp_os_svm.ini` (without its report) in a fresh process and an empty workspace and
prints: the extraction's wall seconds and files/s, the whole experiment's wall seconds, and for Ray the seconds its
local start took (counted in the whole experiment, not in the extraction). Then it checks that both workspaces hold
the same feature rows and rejects. The machine's load average is printed before and after (other work slows both).

Measured on the 2-core development machine (otherwise idle, load average 1.0 before and 1.3 after), Ray 2.60.0:
  local  extraction 12.1 s, 44.3 files/s; experiment 12.9 s
  ray    extraction 15.1 s, 35.3 files/s; experiment 21.4 s (Ray's local start 4.1 s of it)
  same feature rows and rejects (535 rows each)
On one small machine Ray costs its start and its scheduling (the driver, raylet and Ray Data share the 2 cores with
the workers); it pays off on a cluster, where the same pipeline spreads over every node's CPUs and GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_emodb import emodb_dir, ini_for


def one(ini: Path, engine: str) -> dict:
    """Run the experiment with this engine here; what it took."""
    import logging

    from nkl.catalog.workspace import Workspace
    from nkl.config import load_config
    from nkl.context import RunContext
    from nkl.plan import Plan, execute

    logging.getLogger("nkl").setLevel(logging.WARNING)
    started = time.perf_counter()
    plan = Plan(load_config(ini))
    ray_start = 0.0
    engine_here = None
    if engine == "ray":  # started here, so that its start is timed apart; execute uses it as it is
        from nkl.features.ray_engine import RayEngine

        engine_here = RayEngine()
        engine_here.start()
        ray_start = time.perf_counter() - started
    try:
        result = execute(plan, RunContext(Workspace(Path(plan.config.exp.root))))
    finally:
        if engine_here is not None:
            engine_here.close()
    [report] = result.extraction
    return {"engine": engine, "files": report.computed + report.failed, "computed": report.computed, "failed": report.failed,
            "extraction_s": report.seconds, "experiment_s": time.perf_counter() - started, "ray_start_s": ray_start}


def same_rows(root_a: Path, root_b: Path) -> tuple[bool, bool]:
    """Whether two workspaces hold the same feature rows (float tolerance 1e-9) and the same rejects."""
    import numpy as np

    import nkl

    def rows(root: Path, sql: str):
        return nkl.connect(root).sql(sql)

    feats = [rows(r, "select * exclude (spec_hash) from features_os_egemapsv02 order by content_key") for r in (root_a, root_b)]
    same_features = feats[0]["content_key"].to_list() == feats[1]["content_key"].to_list() and np.allclose(
        feats[0].drop("content_key").to_numpy(), feats[1].drop("content_key").to_numpy(), rtol=0, atol=1e-9, equal_nan=True)
    rejects = [rows(r, "select database, file, stage, reason, content_key from rejects order by all") for r in (root_a, root_b)]
    return same_features, rejects[0].equals(rejects[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emodb")
    parser.add_argument("--one", nargs=2, metavar=("INI", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one[0]), args.one[1])))
        return
    emodb = emodb_dir(args.emodb)
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="nkl-bench-ray-") as tmp:
        roots = {}
        for engine in ("local", "ray"):
            roots[engine] = Path(tmp) / engine
            ini = ini_for("exp_os_svm.ini", roots[engine], emodb, Path(tmp) / f"{engine}.ini")
            ini.write_text(ini.read_text().replace("[EXP]\n", f"[EXP]\nengine = {engine}\n", 1))
            out = subprocess.run([sys.executable, __file__, "--one", str(ini), engine], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{engine:<6} extraction {r['extraction_s']:6.1f} s  {r['files'] / r['extraction_s']:5.1f} files/s  "
                  f"({r['computed']} rows, {r['failed']} rejects)   experiment {r['experiment_s']:6.1f} s"
                  + (f"   (Ray started in {r['ray_start_s']:.1f} s)" if engine == "ray" else ""), flush=True)
        features, rejects = same_rows(roots["local"], roots["ray"])
        print(f"same feature rows: {features}; same rejects: {rejects}")
    print(f"load average after: {os.getloadavg()}  (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
