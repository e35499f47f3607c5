"""``nkl catalog check``, ``repair`` and ``compact``: the health of a workspace's tables."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nkl.catalog.workspace import Workspace
from nkl.cli.console import err_console, out_console
from nkl.errors import CatalogError


def _workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    if not ws.tables_dir.is_dir():
        raise CatalogError(f"{ws.root} is not an nkl workspace (no tables/ folder); pass --workspace")
    return ws


def _shown(ws: Workspace, path: Path) -> str:
    return str(path.relative_to(ws.root)) if path.is_relative_to(ws.root) else str(path)


def check_command(root: Path) -> int:
    """Print what is wrong (nothing is changed); 0 when the workspace is healthy, 1 when not."""
    from nkl.catalog.maintenance import check

    ws = _workspace(root)
    health = check(ws)
    if health.ok:
        parts = sum(len(ws.listed_parts(t)) for t in ws.table_names())
        err_console.print(f"{ws.root}: healthy ({len(ws.table_names())} tables, {parts} parts, catalog.duckdb readable)")
        return 0
    table = Table(title=f"problems in {ws.root}")
    for column in ("file", "problem", "what it means"):
        table.add_column(column, overflow="fold")
    for finding in [*health.damaged, *health.duplicated]:
        table.add_row(_shown(ws, finding.path), finding.problem, finding.consequence)
    if health.catalog:
        table.add_row("catalog.duckdb", health.catalog, "rebuilt from the Parquet tables (nothing is lost)")
    out_console.print(table)
    err_console.print("run `nkl catalog repair` to quarantine unreadable parts, remove duplicated rows and rebuild catalog.duckdb")
    return 1


def repair_command(root: Path) -> None:
    from nkl.catalog.maintenance import repair

    ws = _workspace(root)
    found, compactions = repair(ws)
    for finding in found.damaged:
        err_console.print(f"quarantined {_shown(ws, finding.path)} ({finding.problem}): {finding.consequence}")
    for done in compactions:
        err_console.print(f"{done.table}: {done.duplicates} duplicated row(s) removed ({done.merged} files merged into one)")
    if found.catalog:
        err_console.print(f"catalog.duckdb could not be used ({found.catalog}); rebuilt")
    err_console.print(f"{ws.root}: repaired; catalog.duckdb rebuilt from the Parquet tables" if not found.ok
                      else f"{ws.root}: nothing to repair; catalog.duckdb rebuilt")


def compact_command(root: Path, min_parts: int) -> None:
    from nkl.catalog.maintenance import compact

    ws = _workspace(root)
    done = compact(ws, min_parts=min_parts)
    for result in done:
        err_console.print(f"{result.table}: {result.merged} files merged into one ({result.rows:,} rows"
                          + (f", {result.duplicates} duplicated rows dropped)" if result.duplicates else ")"))
    if not done:
        err_console.print(f"{ws.root}: no table has {min_parts} or more parts; nothing to compact")
