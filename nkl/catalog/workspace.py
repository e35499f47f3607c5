"""A workspace: Parquet tables (the record) and one DuckDB file of views over them (the index).

Layout under the root folder::

    tables/<table>/<part>.parquet     one folder per table, one or more parts
    catalog.duckdb                    views over the parts and the views of sql/; rebuilt from them whenever missing
    experiments/<name>/               log, config copy, plots and the saved model of one experiment
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl

from nkl.catalog.schemas import RUNS
from nkl.catalog.sql_views import install_sql_views
from nkl.catalog.store import write_parquet
from nkl.errors import CatalogError

CATALOG_FILE = "catalog.duckdb"


GROWN = {"runs": RUNS}  # tables whose schema gained columns (runs: task, eval_split); others keep their parts' columns
DUCKDB_TYPES = {pl.String: "varchar", pl.Int64: "bigint", pl.Int32: "integer", pl.Float64: "double", pl.Boolean: "boolean",
                pl.Datetime: "timestamptz", pl.Date: "date"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Workspace:
    """The folder that holds one catalog; cheap to create, does no I/O until asked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_FILE

    def experiment_dir(self, name: str) -> Path:
        """Folder of one experiment's files (log, plots, model)."""
        return self.root / "experiments" / name

    # ---- Parquet parts -------------------------------------------------------------------
    def parts(self, table: str, prefix: str = "") -> list[Path]:
        """Parquet parts of a table, optionally only those whose name starts with ``prefix``."""
        folder = self.tables_dir / table
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob(f"{prefix}*.parquet") if not p.name.startswith("."))

    def part_path(self, table: str, part: str) -> Path:
        return self.tables_dir / table / f"{part}.parquet"

    def write_part(self, table: str, part: str, df: pl.DataFrame, *, index: bool = True) -> Path:
        """Write (or replace) one part atomically and refresh the table's view."""
        path = write_parquet(df, self.part_path(table, part))
        if index:
            self.refresh_views([table])
        return path

    def delete_parts(self, table: str, prefix: str) -> int:
        """Remove the parts of a table whose names start with ``prefix``; return how many."""
        removed = 0
        for part in self.parts(table, prefix):
            part.unlink()
            removed += 1
        if removed:
            self.refresh_views([table])
        return removed

    def table_names(self) -> list[str]:
        """Tables that have at least one part."""
        if not self.tables_dir.is_dir():
            return []
        return sorted(d.name for d in self.tables_dir.iterdir() if d.is_dir() and self.parts(d.name))

    def scan(self, table: str, prefix: str = "") -> pl.LazyFrame:
        """A table (or the parts with a name prefix) as a Polars LazyFrame."""
        parts = self.parts(table, prefix)
        if not parts:
            raise CatalogError(f"table '{table}' does not exist in {self.root}; tables: {', '.join(self.table_names()) or 'none'}")
        frames = [pl.scan_parquet(p) for p in parts]
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    # ---- DuckDB index --------------------------------------------------------------------
    def _write_connection(self) -> duckdb.DuckDBPyConnection:
        self.root.mkdir(parents=True, exist_ok=True)
        for attempt in range(50):
            try:
                return duckdb.connect(str(self.catalog_path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == 49:
                    raise CatalogError(f"cannot open {self.catalog_path}: {str(exc).splitlines()[0]}") from None
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _create_view(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """Point ``table``'s view at its current parts (drop it when there are none)."""
        parts = self.parts(table)
        if not parts:
            con.execute(f"drop view if exists {_quote(table)}")
            return
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
        source = f"read_parquet([{files}], union_by_name = true)"
        schema = GROWN.get(table)
        added = ""
        if schema is not None:  # parts written by older versions lack the columns added since: they read as NULL
            present = {row[0] for row in con.execute(f"describe select * from {source}").fetchall()}
            added = "".join(f", cast(null as {DUCKDB_TYPES.get(dtype.base_type(), 'varchar')}) as {_quote(name)}"
                            for name, dtype in schema.items() if name not in present)
        con.execute(f"create or replace view {_quote(table)} as select *{added} from {source}")

    def _create_views(self, con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        for table in tables:
            self._create_view(con, table)
        self._create_estimates_view(con)
        install_sql_views(con)  # the analysis views of sql/ (group_metrics, ...) over whatever tables exist now
        con.execute("create table if not exists nkl_meta (key varchar primary key, value varchar)")
        con.execute("insert or replace into nkl_meta values ('root', ?)", [str(self.root)])

    def _create_estimates_view(self, con: duckdb.DuckDBPyConnection) -> None:
        """``estimates``: one row per sample with the est_* columns of every ``estimates_<target>`` table."""
        targets = [t for t in self.table_names() if t.startswith("estimates_")]
        if not targets or not self.parts("samples"):
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
        """Point the views of some tables at their current parts."""
        if not self.catalog_path.exists():
            self.rebuild()
            return
        con = self._write_connection()
        try:
            self._create_views(con, tables)
        finally:
            con.close()

    def rebuild(self) -> list[str]:
        """Recreate the DuckDB file from the Parquet parts alone; return the tables found."""
        tables = self.table_names()
        for suffix in ("", ".wal"):
            Path(str(self.catalog_path) + suffix).unlink(missing_ok=True)
        con = self._write_connection()
        try:
            self._create_views(con, tables)
        finally:
            con.close()
        return tables

    def _needs_rebuild(self) -> bool:
        if not self.catalog_path.exists():
            return True
        try:
            con = duckdb.connect(str(self.catalog_path), read_only=True)
        except duckdb.Error:
            return True
        try:
            row = con.execute("select value from nkl_meta where key = 'root'").fetchone()
            views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
        except duckdb.Error:
            return True
        finally:
            con.close()
        return row is None or row[0] != str(self.root) or not set(self.table_names()) <= views

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to the catalog, rebuilt first if it is missing or stale."""
        if not self.tables_dir.is_dir():
            raise CatalogError(f"{self.root} is not an nkl workspace (no tables/ folder); run `nkl run CONFIG.ini` first or pass --workspace")
        if self._needs_rebuild():
            self.rebuild()
        if not read_only:
            return self._write_connection()
        for attempt in range(50):
            try:
                return duckdb.connect(str(self.catalog_path), read_only=True)
            except duckdb.IOException as exc:
                if attempt == 49:
                    raise CatalogError(f"cannot open {self.catalog_path}: {str(exc).splitlines()[0]}") from None
                time.sleep(0.1)
        raise AssertionError("unreachable")
