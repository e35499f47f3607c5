"""The catalog as users see it: SQL and Polars LazyFrames over a workspace's tables."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from nkl.catalog.workspace import Workspace, _quote
from nkl.errors import QueryError


class Catalog:
    """Read access to a workspace: ``.sql(query)``, ``.table(name)``, ``.tables()``.

    Example:
        >>> import nkl
        >>> cat = nkl.connect("results")          # doctest: +SKIP
        >>> cat.sql("select count(*) n from samples")  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.workspace = Workspace(root)

    def tables(self) -> list[str]:
        """Names of the tables that hold data."""
        return self.workspace.table_names()

    def table(self, name: str) -> pl.LazyFrame:
        """One table as a Polars LazyFrame (reads the Parquet parts directly, with pushdown)."""
        return self.workspace.scan(name)

    def sql(self, query: str) -> pl.DataFrame:
        """Run SQL on a read-only connection; files on disk ('meta.csv', 'x.parquet') can be joined."""
        con = self.workspace.connect(read_only=True)
        try:
            relation = con.sql(query)
            return relation.pl() if relation is not None else pl.DataFrame()
        except duckdb.Error as exc:
            raise QueryError(self._explain_error(exc, query, con)) from None
        finally:
            con.close()

    def _explain_error(self, exc: duckdb.Error, query: str = "", con: duckdb.DuckDBPyConnection | None = None) -> str:
        lines = str(exc).strip().splitlines()
        message = re.sub(r"^\w+ Error: ", "", lines[0])
        tables = self.tables()
        if isinstance(exc, duckdb.CatalogException) or "does not exist" in message:
            return f"{message} Tables: {', '.join(tables) or 'none (run an experiment first)'}"
        if isinstance(exc, duckdb.BinderException):
            # DuckDB's second line names the closest columns; add every column of the tables the query names.
            candidates = next((f" {line.strip()}" for line in lines[1:] if line.startswith("Candidate bindings")), "")
            named = [t for t in tables if re.search(rf"\b{re.escape(t)}\b", query)] if con is not None else []
            columns = "; ".join(f"{t}: {', '.join(r[0] for r in con.execute(f'describe {_quote(t)}').fetchall())}"
                                for t in named)
            where = f"columns of {columns}" if columns else f"see the columns with: nkl query \"describe <table>\"; tables: {', '.join(tables)}"
            return f"{message}{candidates} ({where})"
        if "read-only" in message.lower() or "read only" in message.lower():
            return f"{message} (nkl query is read-only: the catalog changes only through nkl commands)"
        return message


def connect(root: str | Path = "results") -> Catalog:
    """Open the catalog of a workspace folder (the ``[EXP] root`` of its experiments)."""
    return Catalog(root)
