"""Many experiments in one workspace (a script, not a test): how the catalog refresh and a query grow with them.

    python tests/benchmarks/bench_many_experiments.py [--emodb DIR] [--experiments 200] [--no-compact]

Runs one real experiment (openSMILE + SVM on 60 EmoDB files), then adds experiments one by one the way `nkl run`
adds them (a part per experiment in runs, results, predictions and splits: copies of the real experiment's parts
under new names, with their `experiment` column renamed), and at checkpoints times, each in a fresh process:

  refresh   `nkl query "select count(*) from results"` right after an experiment was added (views refreshed)
  query     a group-by over results joined with runs with nothing to refresh
  pred      `select experiment, count(*), avg(truth = predicted) from predictions group by 1`

Without --no-compact, `nkl run`'s automatic compaction runs as it does after a run (``maybe_compact``), so the
figures are what a user sees. Each time is the median of 3 runs; the first checkpoint is the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
from bench_emodb import emodb_dir  # noqa: E402

PER_EXPERIMENT = ("runs", "results", "predictions", "splits")
QUERIES = {
    "refresh": "select count(*) from results",
    "query": "select r.experiment, avg(r.value) as uar, max(n.duration_s) as s from results r join runs n using (experiment) "
             "where r.metric = 'uar' group by 1 order by 2 desc limit 5",
    "pred": "select experiment, count(*), avg(cast(truth = predicted as int)) from predictions group by 1 order by 1 limit 5",
}


def nkl(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nkl.cli.app", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"nkl {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def add_experiment(ws_root: Path, template: dict[str, pl.DataFrame], name: str, compact: bool) -> None:
    from nkl.catalog.workspace import Workspace

    ws = Workspace(ws_root)
    for table, frame in template.items():
        ws.write_part(table, name, frame.with_columns(pl.lit(name).alias("experiment")), index=False)
    if compact:
        from nkl.catalog.maintenance import maybe_compact

        maybe_compact(ws, list(PER_EXPERIMENT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb")
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--no-compact", action="store_true", help="never compact (the curve before compaction existed)")
    args = parser.parse_args()
    emodb = emodb_dir(args.emodb)
    folder = Path(tempfile.mkdtemp(prefix="nkl-many-"))
    table = pl.read_csv(emodb / "emodb.csv", infer_schema=False)
    subset = table.group_by("speaker", maintain_order=True).head(6).with_columns(
        pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file"))
    subset.write_csv(folder / "db.csv")
    (folder / "exp.ini").write_text(
        f"[EXP]\nroot = {folder / 'ws'}\nname = exp000\n[DATA]\ndatabases = ['db']\ndb = {folder / 'db.csv'}\n"
        "db.split_strategy = speakers_stated\ndb.test = ['03', '08', '09', '10']\ntarget = emotion\n"
        "[FEATS]\ntype = ['os']\nscale = standard\n[MODEL]\ntype = svm\n")
    nkl("run", "exp.ini", cwd=folder)
    ws_root = folder / "ws"
    template = {t: pl.read_parquet(ws_root / "tables" / t / "exp000.parquet") for t in PER_EXPERIMENT}
    checkpoints = sorted({1, 10, 25, 50, 100, 150, args.experiments} & set(range(1, args.experiments + 1)))
    print(f"workspace {ws_root}; compaction {'off' if args.no_compact else 'automatic'}; median of 3 fresh processes, seconds")
    print(f"{'experiments':>11} {'parts':>6} " + " ".join(f"{k:>8}" for k in QUERIES))
    baseline: dict[str, float] = {}
    for n in range(1, args.experiments + 1):
        if n > 1:
            add_experiment(ws_root, template, f"exp{n - 1:03d}", compact=not args.no_compact)
        if n not in checkpoints:
            continue
        times = {}
        for key, sql in QUERIES.items():
            runs = []
            for _ in range(3):
                if key == "refresh":  # a new experiment's parts make the views stale
                    add_experiment(ws_root, template, f"probe{n}-{len(runs)}", compact=False)
                runs.append(nkl("query", sql, "--format", "csv", "--workspace", str(ws_root), cwd=folder))
                if key == "refresh":
                    from nkl.catalog.workspace import Workspace

                    ws = Workspace(ws_root)
                    for t in PER_EXPERIMENT:
                        ws.delete_parts(t, f"probe{n}-{len(runs) - 1}")
            times[key] = statistics.median(runs)
        baseline = baseline or times
        parts = sum(1 for t in PER_EXPERIMENT for _ in (ws_root / "tables" / t).glob("*.parquet"))
        print(f"{n:>11} {parts:>6} " + " ".join(f"{times[k]:>8.3f}" for k in QUERIES)
              + "   ratio " + " ".join(f"{times[k] / baseline[k]:.2f}x" for k in QUERIES), flush=True)
    print(f"(machine: {os.cpu_count()} cores; workspace left at {folder})")


if __name__ == "__main__":
    main()
