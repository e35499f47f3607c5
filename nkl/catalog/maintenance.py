"""Keeping a workspace healthy: compaction of many small parts, and the check and repair of damaged or duplicated ones.

Compaction merges a table's parts into one ``_compact-<n>.parquet`` whose rows carry the name of the part they came
from (``_nkl_part``), so that every reader still finds a part by its name (``Workspace.read_part``, ``frame``) and a
part written later under the same name (an experiment run again) supersedes its compacted rows. Rows of one key in a
keyed table (features, estimates) are kept once. The new file is written atomically before the merged files are
removed; a crash in between leaves rows that the readers already resolve (the newest compacted file wins, a part's own
file wins over its compacted rows), and the next compaction removes the leftovers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from nkl.catalog.parts import COMPACT_PREFIX, KEYED, PART_COLUMN, lost_rows, part_error
from nkl.catalog.store import sweep_temp_files, write_parquet
from nkl.catalog.workspace import Workspace

log = logging.getLogger("nkl")

AUTO_COMPACT_PARTS = 48  # `nkl run` compacts a table it wrote to once it has more parts than this
COMPACT_LOCK = "compact"


def _key_columns(table: str, columns: list[str]) -> list[str] | None:
    return ["content_key", "spec_hash"] if table.startswith(KEYED) and {"content_key", "spec_hash"} <= set(columns) else None


@dataclass
class Compaction:
    table: str
    merged: int  # files merged (parts and older compacted files)
    rows: int
    duplicates: int  # rows of a key already present, dropped


def compact_table(ws: Workspace, table: str, *, min_parts: int = 2) -> Compaction | None:
    """Merge a table's parts into one compacted file when it has at least ``min_parts`` files (or stray older compacted
    files); None when there was nothing to do. One process compacts a table at a time."""
    with ws.claim(table, COMPACT_LOCK):
        files = ws.parts(table)
        compact, standalone = ws.layout(table, files)
        stale = [p for p in files if p.name.startswith(COMPACT_PREFIX) and p != compact]
        if len(files) < min_parts and not stale:
            return None
        stats = {p: p.stat() for p in standalone}
        # read one file at a time: one parallel scan of many small parts holds buffers for all of them
        frames = [pl.read_parquet(p).with_columns(pl.lit(p.stem).alias(PART_COLUMN)).lazy() for p in standalone]
        if compact is not None:
            shadowed = [p.stem for p in standalone]
            frames.insert(0, pl.scan_parquet(compact).filter(~pl.col(PART_COLUMN).is_in(shadowed)))
        merged = pl.concat(frames, how="diagonal_relaxed").collect() if frames else pl.DataFrame()
        duplicates = 0
        keys = _key_columns(table, merged.columns)
        if keys is not None:
            before = merged.height
            merged = merged.unique(keys, keep="last", maintain_order=True)
            duplicates = before - merged.height
        target = ws.tables_dir / table / f"{COMPACT_PREFIX}{time.time_ns():020d}.parquet"
        write_parquet(merged, target)
        for path, stat in stats.items():  # a part rewritten meanwhile stays: it supersedes its compacted rows
            try:
                now = path.stat()
            except FileNotFoundError:
                continue
            if (now.st_size, now.st_mtime_ns, now.st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
                path.unlink(missing_ok=True)
        for old in [*stale, *([compact] if compact is not None else [])]:
            old.unlink(missing_ok=True)
    ws.refresh_views([table])
    return Compaction(table, len(standalone) + len(stale) + (compact is not None), merged.height, duplicates)


def compact(ws: Workspace, tables: list[str] | None = None, *, min_parts: int = 2) -> list[Compaction]:
    """Compact every table (or the ones named) with at least ``min_parts`` files."""
    done = []
    for table in tables if tables is not None else ws.table_names():
        result = compact_table(ws, table, min_parts=min_parts)
        if result is not None:
            done.append(result)
    return done


def sweep_leftovers(ws: Workspace, older_than: float = 3600.0) -> int:
    """Remove temp files that killed processes left in the workspace (beside the catalog, in table folders, augmented
    audio, experiment folders and their model/plot folders), if over ``older_than`` seconds old; return how many."""
    root = ws.root
    folders = [root, *root.glob("augmented/*/"), *ws.tables_dir.glob("*/"), *root.glob("experiments/*/"), *root.glob("experiments/*/*/")]
    removed = sum(sweep_temp_files(folder, older_than) for folder in folders)
    if removed:
        log.info("removed %d temp file(s) left by an interrupted write (kill -9 or power loss)", removed)
    return removed


def maybe_compact(ws: Workspace, tables: list[str], threshold: int | None = None) -> list[Compaction]:
    """Compact those of ``tables`` that have more than ``threshold`` files (default ``AUTO_COMPACT_PARTS``; run after
    each `nkl run`)."""
    threshold = AUTO_COMPACT_PARTS if threshold is None else threshold
    done = []
    for table in tables:
        if len(ws.listed_parts(table)) > threshold:
            result = compact_table(ws, table)
            if result is not None:
                log.debug("compacted %s: %d files into one (%d rows)", table, result.merged, result.rows)
                done.append(result)
    return done


def drop_compacted(ws: Workspace, table: str, prefix: str) -> int:
    """Remove the rows of parts named ``prefix...`` from the table's compacted file; 1 when it changed, else 0."""
    with ws.claim(table, COMPACT_LOCK):
        compact, _ = ws.layout(table)
        if compact is None:
            return 0
        rows = pl.read_parquet(compact)
        kept = rows.filter(~pl.col(PART_COLUMN).str.starts_with(prefix))
        if kept.height == rows.height:
            return 0
        if kept.height:
            write_parquet(kept, compact)
        else:
            compact.unlink(missing_ok=True)
    return 1


# ---- check and repair ---------------------------------------------------------------------------------------------
@dataclass
class Finding:
    table: str
    path: Path
    problem: str
    consequence: str


@dataclass
class Health:
    damaged: list[Finding] = field(default_factory=list)
    duplicated: list[Finding] = field(default_factory=list)
    catalog: str | None = None  # why catalog.duckdb cannot be used, or None

    @property
    def ok(self) -> bool:
        return not (self.damaged or self.duplicated or self.catalog)


def _duplicates(ws: Workspace, table: str) -> int:
    """Rows of a keyed table whose key is already in another row (on disk, before the views drop them)."""
    frame = ws.frame(table)
    if frame is None or not {"content_key", "spec_hash"} <= set(frame.collect_schema().names()):
        return 0
    counts = frame.select("content_key", "spec_hash").collect()
    return counts.height - counts.n_unique()


def _catalog_problem(ws: Workspace) -> str | None:
    import duckdb

    if not ws.catalog_path.exists():
        return "missing (rebuilt by the next command that reads the catalog)"
    try:
        con = duckdb.connect(str(ws.catalog_path), read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            return None  # in use by a running command: not damaged
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    try:
        con.execute("select count(*) from nkl_meta").fetchone()
    except duckdb.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    finally:
        con.close()
    return None


def check(ws: Workspace) -> Health:
    """What is wrong with a workspace, without changing anything: unreadable parts, keys stored twice, the DuckDB file."""
    health = Health()
    for path, error in ws.damaged_parts():
        table = path.parent.name
        health.damaged.append(Finding(table, path, error, lost_rows(table, path.stem)))
    for table in ws._table_dirs():
        if table.startswith(KEYED):
            if any(part_error(p) is not None for p in ws.listed_parts(table)):
                continue  # its damage is reported; duplicates are counted once it is repaired
            extra = _duplicates(ws, table)
            if extra:
                health.duplicated.append(Finding(table, ws.tables_dir / table, f"{extra} row(s) hold a key stored in another row",
                                                 "readers use one row per key; repair removes the copies"))
    health.catalog = _catalog_problem(ws)
    return health


def repair(ws: Workspace) -> tuple[Health, list[Compaction]]:
    """Quarantine unreadable parts, remove duplicated keys (by compacting those tables), rebuild catalog.duckdb.
    Returns what was found and the compactions done."""
    found = check(ws)
    for finding in found.damaged:
        ws.quarantine(finding.path, finding.problem)
    sweep_leftovers(ws, older_than=60.0)  # repair is run by hand: writes older than a minute are not in progress
    compactions = compact(ws, [f.table for f in found.duplicated], min_parts=1)
    ws.rebuild()
    return found, compactions
