"""The catalog as users see it: SQL and Polars LazyFrames over a workspace's tables."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from nkl.catalog.lazy_polars import pl
from nkl.catalog.workspace import Workspace, _quote
from nkl.errors import QueryError

T = TypeVar("T")


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

    def sql(self, query: str, *, allow_write: bool = False) -> pl.DataFrame:
        """Run SQL on a read-only connection; files on disk ('meta.csv', 'x.parquet') can be joined.

        Only reading statements run (SELECT, also WITH, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN): COPY, EXPORT,
        ATTACH, INSTALL, LOAD, SET, PRAGMA, CREATE, INSERT, ... are refused with a QueryError unless ``allow_write``.
        """
        def run(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
            relation = con.sql(query)
            return relation.pl() if relation is not None else pl.DataFrame()

        with self._reading(query, allow_write) as con:
            return interruptible(con, run)

    def head(self, query: str, n: int, *, allow_write: bool = False) -> Head:
        """The first ``n`` rows (0: all) of a query as Python tuples, with the column names and types and the number of
        rows in all. Needs neither Polars nor pyarrow: what ``nkl query`` prints in table format."""
        def run(con: duckdb.DuckDBPyConnection) -> Head:
            cursor = con.execute(query)
            if not con.description:
                return Head([], [], [], 0)
            columns, types = [d[0] for d in con.description], [str(d[1]) for d in con.description]
            rows = cursor.fetchmany(n + 1) if n else cursor.fetchall()
            total = len(rows)
            if n and total > n:  # a long result: DuckDB counts it (no rows travel to Python)
                rows = rows[:n]
                total = con.cursor().sql(query).aggregate("count(*)").fetchall()[0][0]
            return Head(columns, types, rows, total)

        with self._reading(query, allow_write) as con:
            return interruptible(con, run)

    @contextmanager
    def _reading(self, query: str, allow_write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for ``query`` (refused first unless it only reads, or ``allow_write``); DuckDB's
        errors become one QueryError line."""
        if not allow_write:
            check_read_only(query)
        con = self.workspace.connect(read_only=True)
        try:
            yield con
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


# Statement types that only read. DESCRIBE, SHOW and SUMMARIZE parse as SELECT; PIVOT as MULTI (checked by its text).
READ_STATEMENTS = frozenset({duckdb.StatementType.SELECT})
_EXPLAIN_ANALYZE = re.compile(r"\banaly[sz]e\b", re.IGNORECASE)
_PIVOT = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(?:un)?pivot\b", re.IGNORECASE | re.DOTALL)


def _refused(query: str, *, strict: bool = False) -> tuple[str, str] | None:
    """The first statement of ``query`` that could write a file, change a setting or the catalog, with its kind
    (COPY, INSTALL, SET, ...); None when every statement only reads. A syntax error is left for DuckDB to report
    (``strict``: refused, for the statement of an EXPLAIN ANALYZE that cannot be told apart)."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.ParserException:
        return (query, "EXPLAIN ANALYZE") if strict else None
    for statement in statements:
        try:
            kind = statement.type
        except ValueError:  # a statement type this DuckDB's Python API cannot name (UPDATE EXTENSIONS)
            kind = duckdb.StatementType.INVALID
        if kind in READ_STATEMENTS:
            continue
        if kind == duckdb.StatementType.MULTI and _PIVOT.match(statement.query):
            continue
        if kind == duckdb.StatementType.EXPLAIN:
            found = _EXPLAIN_ANALYZE.search(statement.query)
            if found is None:  # a plain EXPLAIN runs nothing
                continue
            if _refused(statement.query[found.end():], strict=True) is None:  # EXPLAIN ANALYZE runs its statement: check it
                continue
        words = statement.query.split()
        first = words[0].upper().strip(";(") if words else ""
        return statement.query, (first if first.isalpha() and first not in ("WITH", "FROM") else kind.name.replace("_", " "))
    return None


def check_read_only(query: str) -> None:
    """Raise QueryError (one line) when ``query`` holds a statement that is not a read."""
    refused = _refused(query)
    if refused is None:
        return
    statement, kind = refused
    words = " ".join(statement.split()).rstrip(";")
    shown = words if len(words) <= 60 else words[:57] + "..."
    raise QueryError(f"refused {kind} statement `{shown}`: nkl query is read-only (SELECT, DESCRIBE, SHOW, EXPLAIN); to save a result "
                     "use --out FILE --format csv|parquet, or pass --allow-write to run statements that write files or change settings")


@dataclass(frozen=True)
class Head:
    """The first rows of a query result (``Catalog.head``)."""

    columns: list[str]
    types: list[str]  # DuckDB type names
    rows: list[tuple]
    total: int

    def numeric(self, i: int) -> bool:
        return bool(_NUMERIC.match(self.types[i]))


_NUMERIC = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|DOUBLE|FLOAT|REAL|DECIMAL(\(\d+,\s*\d+\))?)$")


def connect(root: str | Path = "results") -> Catalog:
    """Open the catalog of a workspace folder (the ``[EXP] root`` of its experiments)."""
    return Catalog(root)


def interruptible(con: duckdb.DuckDBPyConnection, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """``work(con)``, stoppable with Ctrl-C: DuckDB does not look at Python's signals while a query runs, so the query
    runs in a thread while this (main) thread waits; Ctrl-C interrupts the query and is raised here."""
    if threading.current_thread() is not threading.main_thread():
        return work(con)
    done: dict[str, Any] = {}
    finished = threading.Event()  # not Thread.join: a join cut short by Ctrl-C may report a running thread as ended

    def target() -> None:
        try:
            done["value"] = work(con)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
            done["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="nkl-query", daemon=True).start()
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        con.interrupt()
        finished.wait()
        done.clear()  # the query's error and frames, which hold its result open
        raise
    if "error" in done:
        raise done.pop("error")
    return done["value"]
