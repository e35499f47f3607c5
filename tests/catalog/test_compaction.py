"""Compaction: many parts merged into one, every part still found by its name, a part written again supersedes its
compacted rows, an interrupted compaction leaves nothing doubled, and `nkl run` compacts by itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from nkl.catalog import Catalog, maintenance
from nkl.catalog.parts import COMPACT_PREFIX
from nkl.catalog.workspace import Workspace


def _experiment(name: str, uar: float) -> pl.DataFrame:
    return pl.DataFrame({"experiment": [name, name], "metric": ["uar", "acc"], "value": [uar, uar + 0.1]})


def _filled(tmp_path: Path, n: int = 6) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    for i in range(n):
        ws.write_part("results", f"exp{i}", _experiment(f"exp{i}", i / 10))
    return ws


def _view(ws: Workspace) -> pl.DataFrame:
    return Catalog(ws.root).sql("select experiment, value from results where metric = 'uar' order by experiment")


def test_compacted_parts_are_still_found_by_name(tmp_path: Path) -> None:
    ws = _filled(tmp_path)
    before = _view(ws)
    done = maintenance.compact(ws)
    assert [(c.table, c.merged, c.rows) for c in done] == [("results", 6, 12)]
    files = ws.listed_parts("results")
    assert len(files) == 1 and files[0].name.startswith(COMPACT_PREFIX)
    assert _view(ws).equals(before)
    assert ws.read_part("results", "exp3")["value"].to_list() == [0.3, 0.4]
    assert ws.read_part("results", "exp9") is None
    assert ws.scan("results", "exp1").collect().height == 2

    ws.write_part("results", "exp3", _experiment("exp3", 0.9))  # the experiment is run again
    assert _view(ws).filter(pl.col("experiment") == "exp3")["value"].to_list() == [0.9]
    assert ws.read_part("results", "exp3")["value"].to_list() == [0.9, 1.0]
    assert ws.scan("results").collect().height == 12

    assert ws.delete_parts("results", "exp2") == 1
    assert "exp2" not in _view(ws)["experiment"].to_list() and ws.read_part("results", "exp2") is None

    maintenance.compact(ws)  # the new exp3 joins the compacted file
    assert len(ws.listed_parts("results")) == 1
    assert _view(ws)["value"].to_list() == [0.0, 0.1, 0.9, 0.4, 0.5]


def test_an_interrupted_compaction_doubles_nothing(tmp_path: Path) -> None:
    ws = _filled(tmp_path)
    saved = tmp_path / "saved"
    shutil.copytree(ws.tables_dir / "results", saved)
    maintenance.compact(ws)
    first = ws.layout("results")[0]
    for part in saved.glob("*.parquet"):  # crash after the compacted file was written, before the parts were removed
        shutil.copy(part, ws.tables_dir / "results" / part.name)
    shutil.copy(first, first.with_name(f"{COMPACT_PREFIX}{0:020d}.parquet"))  # and an older compacted file left behind
    ws.rebuild()
    assert _view(ws).height == 6 and ws.scan("results").collect().height == 12
    maintenance.compact(ws)
    assert len(ws.listed_parts("results")) == 1 and _view(ws).height == 6


def test_compaction_keeps_one_row_per_key(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    rows = pl.DataFrame({"content_key": ["a", "b"], "spec_hash": ["s", "s"], "f": [1.0, 2.0]})
    ws.write_part("features_x", "s-1", rows)
    ws.write_part("features_x", "s-2", rows)
    (done,) = maintenance.compact(ws, ["features_x"])
    assert (done.rows, done.duplicates) == (2, 2)
    assert ws.frame("features_x", "s").collect().height == 2


def test_runs_compact_tables_with_many_parts_and_reuse_them(trained, ws_copy: Path, run_cli, monkeypatch) -> None:
    ws = Workspace(ws_copy)
    for i in range(5):
        ws.write_part("results", f"other{i}", _experiment(f"other{i}", 0.5))
    assert maintenance.maybe_compact(ws, ws.table_names(), threshold=5)[0].table == "results"
    assert maintenance.maybe_compact(ws, ws.table_names(), threshold=5) == []
    assert run_cli("catalog", "compact", "--workspace", ws_copy, cwd=ws_copy.parent).returncode == 0
    assert all(len(ws.listed_parts(t)) == 1 for t in ws.table_names())
    ini = ws_copy.parent / "exp.ini"
    ini.write_text(trained.ini.read_text().replace(str(trained.root), str(ws_copy)))
    again = run_cli("run", ini, cwd=ws_copy.parent)
    assert again.returncode == 0, again.stderr
    assert "features: 0 extracted, 60 from cache; model: unchanged" in again.stderr


def test_temp_files_of_killed_writes_are_swept_after_an_hour(tmp_path: Path) -> None:
    """kill -9 mid-write leaves `.<name>.<hex>.tmp` beside the target; the end of each run removes those over an hour
    old (beside the catalog, in table folders, experiment and model folders); fresh ones may be a live writer's."""
    import os
    import time

    ws = _filled(tmp_path, n=2)
    hour_ago = time.time() - 3700
    old = [ws.root / ".catalog.duckdb.0123456789abcdef.tmp", ws.tables_dir / "results" / ".exp9.parquet.0123456789abcdef.tmp",
           ws.root / "experiments" / "e" / "model" / ".estimator.skops.0123456789abcdef.tmp"]
    fresh = ws.tables_dir / "results" / ".exp8.parquet.fedcba9876543210.tmp"
    for path in [*old, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    for path in old:
        os.utime(path, (hour_ago, hour_ago))
    before = _view(ws)
    assert maintenance.sweep_leftovers(ws) == len(old)  # what the end of `nkl run` calls (plan.execute._tidy)
    assert not any(path.exists() for path in old) and fresh.exists()
    assert _view(ws).equals(before)
