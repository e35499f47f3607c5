"""The ``nkl`` console script. ``nkl query`` starts without the full command line (typer, which imports pydantic):
its arguments are few and read here; anything else, and any query argument this reader does not know (``--help``, a
typo), goes to ``nkl.cli.app``, which parses and reports exactly as before."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

# option spellings of `nkl query` (nkl.cli.app.query) -> (field, takes a value)
QUERY_OPTIONS = {"--workspace": ("workspace", True), "-w": ("workspace", True), "--format": ("fmt", True), "-f": ("fmt", True),
                 "--out": ("out", True), "-o": ("out", True), "--limit": ("limit", True), "--allow-write": ("allow_write", False)}


def quick_query_args(args: list[str]) -> dict | None:
    """``nkl query`` arguments as keyword arguments of ``query_command``; None when the full parser should read them."""
    found: dict = {"workspace": None, "fmt": "table", "out": None, "limit": 50, "allow_write": False}
    sql: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, _, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in QUERY_OPTIONS:
            field, takes_value = QUERY_OPTIONS[name]
            if not takes_value:
                if value:
                    return None
                found[field] = True
            else:
                if not value:
                    i += 1
                    if i == len(args):
                        return None
                    value = args[i]
                found[field] = value
        elif arg.startswith("-"):
            return None  # --help, --config, a typo: the full parser answers
        else:
            sql.append(arg)
        i += 1
    if len(sql) != 1:
        return None
    try:
        found["limit"] = int(found["limit"])
    except ValueError:
        return None
    found["out"] = Path(found["out"]) if found["out"] is not None else None
    found["root"] = Path(found.pop("workspace") or os.environ.get("NKL_WORKSPACE", "results"))
    found["sql"] = sql[0]
    return found


def main() -> None:
    """Console entry point."""
    args = sys.argv[1:]
    quick = quick_query_args(args[1:]) if args[:1] == ["query"] else None
    if quick is None:
        from nkl.cli.app import main as full

        try:
            full()
        finally:
            # The command is done: its files written (atomically) and closed, its processes stopped. Freezing the
            # objects that exist now spares the interpreter's exit a garbage collection over every module loaded
            # (scikit-learn, SciPy, pandas, Polars): 0.35-0.4 s of a cold `nkl run`. Exit handlers (logging's flush)
            # still run and objects are still released; only reference cycles among them are left to the process's end.
            gc.freeze()
        return
    from nkl.errors import NklError, is_interrupt

    try:
        from nkl.cli.query import query_command

        query_command(quick["sql"], quick["root"], quick["fmt"], quick["out"], quick["limit"], allow_write=quick["allow_write"])
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if is_interrupt(exc):  # Ctrl-C inside a DuckDB query
            sys.exit(130)
        if not isinstance(exc, NklError):
            raise
        from nkl.cli.console import print_error

        print_error(str(exc))
        sys.exit(2)


if __name__ == "__main__":
    main()
