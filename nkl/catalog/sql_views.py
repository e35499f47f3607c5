"""The analysis views and table macros of ``sql/``, installed into the catalog's DuckDB file.

Each ``sql/<name>.sql`` file creates views or table macros with ``create or replace``; its header names the
relations it needs (``-- requires: a, b``) and those whose presence makes it unnecessary (``-- unless: c``).
Files run in dependency order whenever the catalog's views are refreshed; a file whose inputs are missing is
skipped and its old views are dropped, so a view never points at a table that is gone.

Where the files are found: ``$NKL_SQL_DIR``; else ``sql/`` beside the ``nkl`` package (a source checkout or an
editable install); else ``nkl/sql`` inside an installed wheel (``nkl/sql`` is a link to ``sql/``, packaged as data).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

CREATES = re.compile(r"create\s+or\s+replace\s+(view|macro)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
log = logging.getLogger("nkl")


@dataclass(frozen=True)
class SqlFile:
    """One file of ``sql/``: what it creates, what it needs, and its text."""

    name: str
    text: str
    creates: tuple[tuple[str, str], ...]  # (kind, name): ('view', 'group_metrics'), ('macro', 'test_units')
    requires: tuple[str, ...]
    unless: tuple[str, ...]


def sql_dir() -> Path:
    """The folder holding the SQL files (see the module docstring for the search order)."""
    env = os.environ.get("NKL_SQL_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "sql")
    candidates.append(Path(str(resources.files("nkl") / "sql")))
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.sql")):
            return folder
    return candidates[-1]


def _header(text: str, word: str) -> tuple[str, ...]:
    found = re.search(rf"^--\s*{word}:\s*(.+)$", text, re.MULTILINE)
    return tuple(n.strip() for n in found.group(1).split(",") if n.strip()) if found else ()


@cache
def _read(folder: Path, stamp: tuple) -> tuple[SqlFile, ...]:
    files = []
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        creates = tuple((kind.lower(), name.lower()) for kind, name in CREATES.findall(text))
        files.append(SqlFile(path.stem, text, creates, _header(text, "requires"), _header(text, "unless")))
    return tuple(files)


def sql_files(folder: Path | None = None) -> tuple[SqlFile, ...]:
    """The SQL files, parsed (cached until a file changes)."""
    folder = folder or sql_dir()
    if not folder.is_dir():
        return ()
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.sql")))
    return _read(folder, stamp)


def _drop(con: duckdb.DuckDBPyConnection, kind: str, name: str) -> None:
    con.execute(f"drop view if exists {name}" if kind == "view" else f"drop macro table if exists {name}")


def install_sql_views(con: duckdb.DuckDBPyConnection, files: tuple[SqlFile, ...] | None = None) -> list[str]:
    """Create every view and macro whose inputs exist (in dependency order); drop the others. Returns the files run:
    none when neither the files nor the relations they read (names, columns) changed since the last install."""
    files = sql_files() if files is None else files
    ours = {name for f in files for _, name in f.creates}
    schemas = {r[0].lower(): r[1] for r in con.execute(
        "select table_name, string_agg(column_name || ':' || data_type, ',' order by column_index) from duckdb_columns() "
        "where not internal group by 1").fetchall()}
    available = set(schemas) - ours
    # the views depend on the files and on the relations they read (names and columns): unchanged, nothing to redo
    signature = hashlib.blake2b(repr(([f.text for f in files], sorted((k, v) for k, v in schemas.items() if k not in ours)))
                                .encode(), digest_size=12).hexdigest()
    if _stored_signature(con) == signature:
        return []
    done: list[str] = []
    pending = list(files)
    progress = True
    while pending and progress:
        progress = False
        for f in list(pending):
            if any(u in available for u in f.unless):
                pending.remove(f)
                continue
            if not all(r in available for r in f.requires):
                continue
            pending.remove(f)
            progress = True
            try:
                con.execute(f.text)
            except duckdb.Error as exc:  # a broken view must never break the writes that refresh the catalog
                log.debug("sql/%s.sql not installed: %s", f.name, str(exc).splitlines()[0])
                continue
            available.update(name for _, name in f.creates)
            done.append(f.name)
    for f in files:
        for kind, name in f.creates:
            if name not in available:
                _drop(con, kind, name)
    _store_signature(con, signature)
    return done


def _stored_signature(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        row = con.execute("select value from nkl_meta where key = 'sql_views'").fetchone()
    except duckdb.Error:  # no nkl_meta table (a bare connection): install every time
        return None
    return row[0] if row else None


def _store_signature(con: duckdb.DuckDBPyConnection, signature: str) -> None:
    try:
        con.execute("insert or replace into nkl_meta values ('sql_views', ?)", [signature])
    except duckdb.Error:
        pass
