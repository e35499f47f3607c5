"""Runs that share a workspace: each file is extracted once, readers see one row per key, claims die with their process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from nkl.catalog import Catalog
from nkl.catalog.workspace import Workspace
from tests.conftest import write_subset

FEATURES = "features_os_egemapsv02"


def _nkl(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "nkl.cli.app", *map(str, args)]


def _extracted(stderr: str) -> int:
    found = re.search(r"features: (\d+) extracted, (\d+) from cache", stderr)
    assert found, stderr
    return int(found.group(1))


def test_runs_started_together_extract_each_file_once(emodb, emodb_table, tmp_path: Path, make_ini) -> None:
    csv = write_subset(emodb, emodb_table, tmp_path / "data" / "db.csv", per_speaker=4)  # 40 files
    inis = [make_ini(csv, name="a"), make_ini(csv, name="b", model="knn")]
    env = {**os.environ, "COLUMNS": "300"}
    procs = [subprocess.Popen(_nkl("run", ini), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=env) for ini in inis]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    third = subprocess.run(_nkl("run", make_ini(csv, name="c", model="tree")), cwd=tmp_path, capture_output=True, text=True,
                           timeout=600, env=env)
    assert third.returncode == 0, third.stderr

    extracted = [_extracted(e) for e in [*errs, third.stderr]]
    assert sum(extracted) == 40 and extracted[2] == 0  # the second waited for the first, then found every file done
    on_disk = pl.concat([pl.read_parquet(p) for p in (tmp_path / "ws" / "tables" / FEATURES).glob("*.parquet")])
    assert on_disk.height == 40 and on_disk["content_key"].n_unique() == 40
    assert Catalog(tmp_path / "ws").sql(f"select count(*) as n from {FEATURES}")["n"][0] == 40


def test_a_claim_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom nkl.catalog.workspace import Workspace\n"
        f"with Workspace({str(ws.root)!r}).claim('features_x', 'spec'):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    holder.stdout.close()
    started = time.monotonic()
    with ws.claim("features_x", "spec"):
        elapsed = time.monotonic() - started
    assert elapsed < 5  # a lock left by the dead process would block here until killed by the test's timeout


def test_readers_see_one_row_per_key_and_repair_removes_the_copies(tmp_path: Path, run_cli) -> None:
    ws = Workspace(tmp_path / "ws")
    rows = pl.DataFrame({"content_key": ["k1", "k2", "k3"], "spec_hash": ["s"] * 3, "f0": [1.0, 2.0, 3.0]})
    ws.write_part(FEATURES, "s-1", rows)
    ws.write_part(FEATURES, "s-2", rows.head(2))  # two processes extracted k1 and k2 (before claims existed)
    assert Catalog(ws.root).sql(f"select count(*) as n, count(distinct content_key) as k from {FEATURES}").row(0) == (3, 3)
    assert ws.scan(FEATURES).collect().height == 5  # on disk
    check = run_cli("catalog", "check", "--workspace", ws.root, cwd=tmp_path)
    assert check.returncode == 1 and "2 row(s) hold a key stored in another row" in check.stdout
    repaired = run_cli("catalog", "repair", "--workspace", ws.root, cwd=tmp_path)
    assert repaired.returncode == 0 and "2 duplicated row(s) removed" in repaired.stderr, repaired.stderr
    on_disk = pl.concat([pl.read_parquet(p) for p in (ws.tables_dir / FEATURES).glob("*.parquet")], how="diagonal_relaxed")
    assert on_disk.height == 3
    assert run_cli("catalog", "check", "--workspace", ws.root, cwd=tmp_path).returncode == 0
