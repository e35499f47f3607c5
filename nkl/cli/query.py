"""``nkl query`` and ``nkl catalog``."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.catalog import Catalog, Head
from nkl.cli.console import err_console, out_console
from nkl.errors import QueryError

FORMATS = ("table", "csv", "json", "parquet")


def _rich_table(head: Head, limit: int) -> Table:
    table = Table(show_lines=False)
    for i, name in enumerate(head.columns):
        table.add_column(name, justify="right" if head.numeric(i) else "left")
    for row in head.rows:
        table.add_row(*["" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    if limit and head.total > limit:
        table.caption = f"{limit} of {head.total} rows (--limit 0 shows all, --format csv --out FILE saves all)"
    return table


def query_command(sql: str, root: Path, fmt: str, out: Path | None, limit: int, allow_write: bool = False) -> None:
    """Run SQL that only reads (unless ``allow_write``) and print the result or save it with ``--out``."""
    if fmt not in FORMATS:
        raise QueryError(f"unknown --format '{fmt}'; choices: {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise QueryError("--format parquet needs --out FILE")
    if fmt == "table" and out is None:  # no Polars, no pyarrow: starts in a fraction of the time
        out_console.print(_rich_table(Catalog(root).head(sql, limit, allow_write=allow_write), limit))
        return
    df = Catalog(root).sql(sql, allow_write=allow_write)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        {"csv": df.write_csv, "json": df.write_json, "parquet": df.write_parquet,
         "table": df.write_csv}[fmt](out)
        err_console.print(f"{df.height} rows written to {out}")
        return
    if fmt == "csv":
        print(df.write_csv(), end="")
    elif fmt == "json":
        print(df.write_json())


def list_tables(root: Path) -> None:
    cat = Catalog(root)
    ws = cat.workspace
    names = cat.tables()
    if not names:
        err_console.print(f"{ws.root}: no tables yet; run `nkl run CONFIG.ini` first")
        return
    con = ws.connect(read_only=True)
    table = Table(title=f"catalog {ws.root}")
    for col, justify in (("table", "left"), ("rows", "right"), ("columns", "right"), ("parts", "right"), ("size", "right")):
        table.add_column(col, justify=justify)
    try:
        for name in names:
            rows = con.execute(f'select count(*) from "{name}"').fetchone()[0]
            cols = len(con.execute(f'select * from "{name}" limit 0').description)
            parts = ws.parts(name)
            size = sum(p.stat().st_size for p in parts)
            table.add_row(name, f"{rows:,}", str(cols), str(len(parts)), f"{size / 1024:,.0f} KiB")
    finally:
        con.close()
    out_console.print(table)


def rebuild(root: Path) -> None:
    tables = Catalog(root).workspace.rebuild()
    err_console.print(f"rebuilt {Catalog(root).workspace.catalog_path} with {len(tables)} tables: {', '.join(tables)}")
