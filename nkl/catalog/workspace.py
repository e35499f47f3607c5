"""A workspace: Parquet tables (the record) and one DuckDB file of views over them (the index).

Layout under the root folder::

    tables/<table>/<part>.parquet     one folder per table, one or more parts
    tables/<table>/_compact-<n>.parquet  many parts merged into one (``nkl catalog compact``), each row tagged with the
                                      part it came from; a part written later under the same name supersedes its rows
    tables/.locks/<table>.<key>       advisory locks of processes computing rows of a table (see ``Workspace.claim``)
    tables/.quarantine/<table>/       parts that could not be read, moved aside (see ``Workspace.parts``)
    catalog.duckdb                    views over the parts and the views of sql/; rebuilt from them whenever missing or damaged
    experiments/<name>/               log, config copy, plots and the saved model of one experiment
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from nkl.catalog.lazy_polars import pl  # the query path (connect, stale check) needs no Polars
from nkl.catalog.locks import claim
from nkl.catalog.parts import COMPACT_PREFIX, KEYED, PART_COLUMN, lost_rows, part_error
from nkl.catalog.sql_views import install_sql_views
from nkl.catalog.store import write_parquet
from nkl.errors import CatalogError, NklError

CATALOG_FILE = "catalog.duckdb"
QUARANTINE = ".quarantine"
LOCKS = ".locks"

log = logging.getLogger("nkl")

GROWN = ("runs",)  # tables whose schema gained columns (runs: task, eval_split, members); others keep their parts' columns


def _duckdb_type(dtype: pl.DataType) -> str:
    names = {pl.String: "varchar", pl.Int64: "bigint", pl.Int32: "integer", pl.Float64: "double", pl.Boolean: "boolean",
             pl.Datetime: "timestamptz", pl.Date: "date"}
    return names.get(dtype.base_type(), "varchar")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_error(exc: BaseException) -> bool:
    return "lock" in str(exc).lower()


def _damage(exc: BaseException) -> bool:
    """Whether a failure to open the DuckDB file means the file is damaged (not a lock, a permission, or a second
    connection of this process with other settings): then it is rebuilt."""
    text = str(exc).lower()
    return not (_lock_error(exc) or isinstance(exc, duckdb.ConnectionException) or "permission" in text or "no such file" in text)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Workspace:
    """The folder that holds one catalog; cheap to create, does no I/O until asked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._stale: set[str] = set()  # tables that lost a part to the quarantine since their view was last made
        self._indexing = False  # inside _create_views: quarantined tables are refreshed there
        self._unmovable: set[Path] = set()  # damaged parts that could not be moved (warned once)
        self._deferred: dict[str, None] | None = None  # inside deferred_views(): tables whose views are to be refreshed

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_FILE

    @property
    def quarantine_dir(self) -> Path:
        return self.tables_dir / QUARANTINE

    def experiment_dir(self, name: str) -> Path:
        """Folder of one experiment's files (log, config copy, plots, model)."""
        return self.root / "experiments" / name

    # ---- Parquet parts -------------------------------------------------------------------
    def listed_parts(self, table: str, prefix: str = "") -> list[Path]:
        """The part files of a table as they are on disk, readable or not (``parts`` is what readers want)."""
        folder = self.tables_dir / table
        if table.startswith(".") or not folder.is_dir():
            return []
        return sorted(p for p in folder.glob(f"{prefix}*.parquet") if not p.name.startswith("."))

    def parts(self, table: str, prefix: str = "") -> list[Path]:
        """Readable Parquet parts of a table, optionally only those whose name starts with ``prefix``.

        A part that cannot be read (truncated, overwritten) is moved to ``tables/.quarantine/<table>/`` with a warning
        that says what its loss means, so that no reader (Polars, DuckDB views) ever meets it.
        """
        found = []
        for path in self.listed_parts(table, prefix):
            error = part_error(path)
            if error is None:
                found.append(path)
            else:
                self.quarantine(path, error)
        return found

    def part_path(self, table: str, part: str) -> Path:
        """Where one part lives. One that exists but cannot be read is quarantined first: callers find it missing."""
        path = self.tables_dir / table / f"{part}.parquet"
        error = part_error(path)
        if error is not None:
            self.quarantine(path, error)
        return path

    def damaged_parts(self) -> list[tuple[Path, str]]:
        """Every part that cannot be read, with the reason; nothing is moved (``parts`` moves them)."""
        return [(path, error) for table in self._table_dirs() for path in self.listed_parts(table)
                if (error := part_error(path)) is not None]

    def quarantine(self, path: Path, reason: str) -> Path | None:
        """Move an unreadable part to ``tables/.quarantine/<table>/`` (an atomic rename), warn what its loss means, and
        point the table's view at the parts left. Returns the new path (None when another process moved it first)."""
        table = path.parent.name
        folder = self.quarantine_dir / table
        target = folder / path.name
        shown = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target = folder / f"{path.stem}.{time.time_ns()}{path.suffix}"
            os.replace(path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if path not in self._unmovable:
                self._unmovable.add(path)
                log.warning("%s cannot be read (%s) and cannot be moved aside (%s); it is skipped", shown, reason, exc.strerror or exc)
            return None
        log.warning("%s cannot be read (%s); moved to %s; %s", shown, reason, target.relative_to(self.root), lost_rows(table, path.stem))
        self._stale.add(table)
        if not self._indexing:
            try:
                self.refresh_views([])
            except (NklError, duckdb.Error) as exc:  # e.g. another connection of this process is open: the next refresh does it
                log.debug("views not refreshed after the quarantine: %s", _first_line(exc))
        return target

    def write_part(self, table: str, part: str, df: pl.DataFrame, *, index: bool = True) -> Path:
        """Write (or replace) one part atomically and refresh the table's view."""
        path = write_parquet(df, self.part_path(table, part))
        if index:
            self.refresh_views([table])
        return path

    def delete_parts(self, table: str, prefix: str) -> int:
        """Remove the parts of a table whose names start with ``prefix`` (their rows in a compacted file too); return how
        many files changed."""
        removed = 0
        compact, standalone = self.layout(table)
        for part in standalone:
            if part.stem.startswith(prefix):
                part.unlink(missing_ok=True)
                removed += 1
        if compact is not None:
            from nkl.catalog.maintenance import drop_compacted

            removed += drop_compacted(self, table, prefix)
        if removed:
            self.refresh_views([table])
        return removed

    def layout(self, table: str, parts: list[Path] | None = None) -> tuple[Path | None, list[Path]]:
        """A table's current compacted file (None when it has none) and its other parts (each supersedes the compacted
        rows of its name), from ``parts`` when already listed. Older compacted files, left by a compaction that was
        interrupted, are ignored."""
        compacts, standalone = [], []
        for part in self.parts(table) if parts is None else parts:
            (compacts if part.name.startswith(COMPACT_PREFIX) else standalone).append(part)
        return (compacts[-1] if compacts else None), standalone

    @staticmethod
    def _compacted_rows(compact: Path, standalone: list[Path], prefix: str) -> pl.LazyFrame:
        """The compacted file's rows of the parts whose names start with ``prefix``, less those written again since."""
        shadowed = [p.stem for p in standalone]
        rows = pl.scan_parquet(compact)
        if prefix:
            rows = rows.filter(pl.col(PART_COLUMN).str.starts_with(prefix))
        if shadowed:
            rows = rows.filter(~pl.col(PART_COLUMN).is_in(shadowed))
        return rows.drop(PART_COLUMN)

    def frame(self, table: str, prefix: str = "") -> pl.LazyFrame | None:
        """The rows of the parts whose names start with ``prefix`` (compacted or not) as one LazyFrame; None when no file
        of the table can hold such rows."""
        compact, standalone = self.layout(table)
        frames = [pl.scan_parquet(p) for p in standalone if p.stem.startswith(prefix)]
        if compact is not None:
            frames.insert(0, self._compacted_rows(compact, standalone, prefix))
        if not frames:
            return None
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    def collect(self, table: str, prefix: str = "", where: pl.Expr | None = None) -> pl.DataFrame | None:
        """``frame(table, prefix)`` filtered by ``where`` and read one file at a time: one parallel scan of many small
        parts (a feature table before compaction) holds buffers for all of them (+64 MB for 84 parts of 10x EmoDB,
        +27 MB this way)."""
        compact, standalone = self.layout(table)
        rows = []
        if compact is not None:
            lazy = self._compacted_rows(compact, standalone, prefix)
            rows.append((lazy if where is None else lazy.filter(where)).collect())
        for path in standalone:
            if path.stem.startswith(prefix):
                part = pl.read_parquet(path)
                rows.append(part if where is None else part.filter(where))
        if not rows:
            return None
        return rows[0] if len(rows) == 1 else pl.concat(rows, how="diagonal_relaxed")

    def read_part(self, table: str, part: str) -> pl.DataFrame | None:
        """One part's rows, from its own file or from the compacted file; None when the table has no such part."""
        path = self.part_path(table, part)
        if path.is_file():
            return pl.read_parquet(path)
        compact, _ = self.layout(table)
        if compact is None:
            return None
        rows = pl.scan_parquet(compact).filter(pl.col(PART_COLUMN) == part).drop(PART_COLUMN).collect()
        return rows if rows.height else None

    def _table_dirs(self) -> list[str]:
        if not self.tables_dir.is_dir():
            return []
        return sorted(d.name for d in self.tables_dir.iterdir() if d.is_dir() and not d.name.startswith("."))

    def table_names(self) -> list[str]:
        """Tables that have at least one readable part."""
        return [name for name in self._table_dirs() if self.parts(name)]

    def scan(self, table: str, prefix: str = "") -> pl.LazyFrame:
        """A table (or the parts with a name prefix) as a Polars LazyFrame; an error when it has no part."""
        frame = self.frame(table, prefix)
        if frame is None:
            raise CatalogError(f"table '{table}' does not exist in {self.root}; tables: {', '.join(self.table_names()) or 'none'}")
        return frame

    def claim(self, table: str, key: str, *, waiting: Callable[[], object] | None = None) -> AbstractContextManager[None]:
        """Hold the advisory lock ``tables/.locks/<table>.<key>`` for the block (``nkl.catalog.locks.claim``)."""
        return claim(self.tables_dir / LOCKS / f"{table}.{key}", waiting=waiting)

    # ---- DuckDB index --------------------------------------------------------------------
    def _open(self, path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection to a DuckDB file, waiting up to 5 s while another process holds it."""
        for attempt in range(50):
            try:
                return duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as exc:
                if not _lock_error(exc) or attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _write_connection(self) -> duckdb.DuckDBPyConnection:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            return self._open(self.catalog_path)
        except duckdb.Error as exc:
            if not _damage(exc) or not self.catalog_path.exists():
                raise CatalogError(f"cannot open {self.catalog_path}: {_first_line(exc)}") from None
            log.warning("%s cannot be opened (%s); rebuilt from the Parquet tables", self.catalog_path, _first_line(exc))
            self.rebuild()
        try:
            return self._open(self.catalog_path)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open {self.catalog_path}: {_first_line(exc)}") from None

    @staticmethod
    def _signature(parts: list[Path]) -> str:
        return hashlib.blake2b("\n".join(p.name for p in parts).encode(), digest_size=8).hexdigest()

    def _create_view(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """Point ``table``'s view at its current parts (drop it when there are none); note which parts those are."""
        parts = self.parts(table)
        if not parts:
            con.execute(f"drop view if exists {_quote(table)}")
            con.execute("delete from nkl_meta where key = ?", [f"parts:{table}"])
            return
        compact, standalone = self.layout(table, parts)
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in ([compact] if compact else []) + standalone)
        source = f"read_parquet([{files}], union_by_name = true)"
        if compact is not None:  # compacted rows, less those of parts written again since
            shadowed = ", ".join("'" + p.stem.replace("'", "''") + "'" for p in standalone)
            keep = f" where {PART_COLUMN} is null or {PART_COLUMN} not in ({shadowed})" if shadowed else ""
            source = f"(select * exclude ({PART_COLUMN}) from {source}{keep})"
        added = ""
        if table in GROWN:  # parts written by older versions lack the columns added since: they read as NULL
            from nkl.catalog.schemas import SCHEMAS

            present = {row[0] for row in con.execute(f"describe select * from {source}").fetchall()}
            added = "".join(f", cast(null as {_duckdb_type(dtype)}) as {_quote(name)}"
                            for name, dtype in SCHEMAS[table].items() if name not in present)
        view = f"select *{added} from {source}"
        if table.startswith(KEYED) and self._has_duplicates(con, source):
            # one key in several parts (extracted by two processes before claims existed, or on a file system without
            # locks): one row per key; `nkl catalog repair` removes the copies from disk
            view += " qualify row_number() over (partition by content_key, spec_hash) = 1"
        con.execute(f"create or replace view {_quote(table)} as {view}")
        con.execute("insert or replace into nkl_meta values (?, ?)", [f"parts:{table}", self._signature(parts)])

    @staticmethod
    def _has_duplicates(con: duckdb.DuckDBPyConnection, source: str) -> bool:
        try:
            return bool(con.execute(f"select exists (select 1 from {source} group by content_key, spec_hash having count(*) > 1)")
                        .fetchone()[0])
        except duckdb.BinderException:  # no content_key or spec_hash column: nothing to deduplicate by
            return False

    def _create_views(self, con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        con.execute("create table if not exists nkl_meta (key varchar primary key, value varchar)")
        indexing, self._indexing = self._indexing, True
        try:
            present = self.table_names()  # judges every part first: tables that lose one to the quarantine are refreshed too
            for table in dict.fromkeys([*tables, *sorted(self._stale)]):
                self._create_view(con, table)
            self._stale.clear()
            self._create_estimates_view(con, present)
            install_sql_views(con)  # the analysis views of sql/ (group_metrics, ...) over whatever tables exist now
            con.execute("insert or replace into nkl_meta values ('root', ?)", [str(self.root)])
        finally:
            self._indexing = indexing

    def _create_estimates_view(self, con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        """``estimates``: one row per sample with the est_* columns of every ``estimates_<target>`` table."""
        targets = [t for t in tables if t.startswith("estimates_")]
        if not targets or "samples" not in tables:
            con.execute("drop view if exists estimates")
            return
        views = {row[0] for row in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        for table in targets:
            if table not in views:  # parts written by a run still in progress (or interrupted) that has not refreshed yet
                self._create_view(con, table)
        joins, columns, present = [], [], []
        for i, table in enumerate(targets):
            alias = f"e{i}"
            joins.append(f"left join (select content_key, any_value(columns('^est_')) from {_quote(table)} "
                         f"group by content_key) {alias} using (content_key)")
            columns.append(f"{alias}.* exclude (content_key)")
            present.append(f"{alias}.content_key is not null")
        con.execute(
            "create or replace view estimates as select s.sample, s.database, s.content_key, " + ", ".join(columns)
            + " from samples s " + " ".join(joins) + " where " + " or ".join(present)
        )

    def refresh_views(self, tables: list[str]) -> None:
        """Point the views of some tables (and of those that lost a part to the quarantine) at their current parts.

        Inside ``deferred_views()`` this only notes the tables; they are refreshed together when the block ends or a
        connection is opened, whichever comes first.
        """
        if self._deferred is not None:
            self._deferred.update(dict.fromkeys(tables))
            return
        self._refresh_now(tables)

    @contextmanager
    def deferred_views(self) -> Iterator[None]:
        """Refresh views once for all the writes of a block (a run writes 5–7 tables; each refresh costs ~60 ms).

        Readers of this workspace see fresh views all the same: ``connect`` refreshes what is pending first, and other
        processes find views older than their parts stale and refresh them (``stale_tables``).
        """
        if self._deferred is not None:  # nested: the outer block refreshes
            yield
            return
        self._deferred = {}
        try:
            yield
        finally:
            try:
                self._flush_deferred()
            finally:
                self._deferred = None

    def _flush_deferred(self) -> None:
        if self._deferred is not None and (self._deferred or self._stale):
            tables, self._deferred = list(self._deferred), {}
            self._refresh_now(tables)

    def _refresh_now(self, tables: list[str]) -> None:
        if not self.catalog_path.exists():
            self.rebuild()
            return
        con = self._write_connection()
        try:
            self._create_views(con, tables)
        finally:
            con.close()

    def rebuild(self) -> list[str]:
        """Recreate the DuckDB file from the Parquet parts alone; return the tables found.

        The new file is built under a temporary name and moved into place, so other processes never open half of one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{CATALOG_FILE}.{secrets.token_hex(8)}.tmp"
        indexing, self._indexing = self._indexing, True  # parts quarantined meanwhile are left out of the new file anyway
        try:
            tables = self.table_names()
            con = duckdb.connect(str(tmp))
            try:
                self._create_views(con, tables)
            finally:
                con.close()
            Path(str(self.catalog_path) + ".wal").unlink(missing_ok=True)
            os.replace(tmp, self.catalog_path)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot build {self.catalog_path}: {_first_line(exc)}") from None
        finally:
            self._indexing = indexing
            for leftover in (tmp, Path(str(tmp) + ".wal")):
                leftover.unlink(missing_ok=True)
        return tables

    def stale_tables(self) -> list[str] | None:
        """Tables whose views do not point at their current readable parts (written or quarantined by another process);
        None when the DuckDB file must be rebuilt (missing, damaged, or made for another folder)."""
        if not self.catalog_path.exists():
            return None
        try:
            con = self._open(self.catalog_path, read_only=True)
        except duckdb.Error as exc:
            if not _damage(exc):
                return []  # held by another process, or not ours to open: connecting says so
            log.warning("%s cannot be opened (%s); rebuilt from the Parquet tables", self.catalog_path, _first_line(exc))
            return None
        try:
            meta = dict(con.execute("select key, value from nkl_meta").fetchall())
            views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        except duckdb.Error:
            return None
        finally:
            con.close()
        if meta.get("root") != str(self.root):
            return None
        stale = []
        for table in sorted(set(self._table_dirs()) | {k.removeprefix("parts:") for k in meta if k.startswith("parts:")}):
            parts = self.parts(table)
            if (self._signature(parts) if parts else None) != meta.get(f"parts:{table}") or (parts and table not in views):
                stale.append(table)
        return stale

    def _needs_rebuild(self) -> bool:
        return self.stale_tables() is None

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to the catalog; rebuilt first if it is missing or damaged, views refreshed if stale."""
        if not self.tables_dir.is_dir():
            raise CatalogError(f"{self.root} is not an nkl workspace (no tables/ folder); run `nkl run CONFIG.ini` first or pass --workspace")
        self._flush_deferred()
        stale = self.stale_tables()
        if stale is None:
            self.rebuild()
        elif stale:
            try:
                self._refresh_now(stale)
            except (NklError, duckdb.Error, OSError) as exc:  # a catalog we may not write: its views as they are
                log.debug("views of %s not refreshed: %s", ", ".join(stale), _first_line(exc))
        if not read_only:
            return self._write_connection()
        try:
            return self._open(self.catalog_path, read_only=True)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open {self.catalog_path}: {_first_line(exc)}") from None
