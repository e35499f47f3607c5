"""`nkl query` in table format starts without typer, Polars or pyarrow (nkl.cli.entry), and prints exactly what the full
command line (both parse to the same call); any argument the quick reader does not know goes to the full parser."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nkl.cli.entry import quick_query_args

QUERIES = [
    "select sample, split, truth, predicted, uncertainty from predictions order by sample",  # 24 rows: caption at --limit 5
    "select 1.5::decimal(3,1) d, null n, [1, 2] l, 3::hugeint h, 'x' s, 2.0e-7 f, true b",
    "describe predictions",
]


def cli(module: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONWARNINGS": "error"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.mark.parametrize("sql", QUERIES)
def test_quick_table_equals_the_full_command(trained, tmp_path: Path, sql: str) -> None:
    quick = cli("nkl.cli.entry", "query", sql, "-w", trained.root, "--limit", "5", cwd=tmp_path)
    full = cli("nkl.cli.app", "query", sql, "-w", trained.root, "--limit", "5", cwd=tmp_path)
    assert quick.returncode == full.returncode == 0, quick.stderr + full.stderr
    assert quick.stdout == full.stdout and quick.stdout.strip()


def test_the_quick_path_loads_no_polars_pyarrow_or_typer(trained, tmp_path: Path) -> None:
    script = ("import sys; from nkl.cli.entry import main; main(); "
              "print(sorted(m for m in ('polars', 'pyarrow', 'typer', 'pydantic') if m in sys.modules), file=sys.stderr)")
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", script, "query", "select count(*) n from predictions", "-w", str(trained.root)],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr.strip().endswith("[]"), done.stderr
    assert "24" in done.stdout


def test_errors_keep_their_one_line_and_exit_code(trained, tmp_path: Path) -> None:
    done = cli("nkl.cli.entry", "query", "select nope from predictions", "-w", trained.root, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0], done.stderr
    refused = cli("nkl.cli.entry", "query", "copy predictions to 'x.csv'", "-w", trained.root, cwd=tmp_path)
    assert refused.returncode == 2 and "refused COPY statement" in refused.stderr and not (tmp_path / "x.csv").exists()


def test_the_quick_reader_hands_unknown_arguments_to_the_full_parser() -> None:
    parsed = quick_query_args(["select 1", "-w", "ws", "--format=csv", "--limit", "3", "--allow-write", "-o", "out.csv"])
    assert parsed == {"sql": "select 1", "root": Path("ws"), "fmt": "csv", "limit": 3, "allow_write": True, "out": Path("out.csv")}
    for args in (["--help"], ["select 1", "--config", "x.ini"], ["select 1", "--limti", "3"], ["select 1", "select 2"], [],
                 ["select 1", "--limit", "many"], ["select 1", "-w"], ["select 1", "--allow-write=yes"]):
        assert quick_query_args(args) is None, args
    help_text = cli("nkl.cli.entry", "query", "--help", cwd=Path.cwd())
    assert help_text.returncode == 0 and "--allow-write" in help_text.stdout


LONG_QUERY = "select count(*) from range(3000000000) a, range(10) b where a.range % 7 = b.range"  # minutes of work


@pytest.mark.parametrize("module, fmt", [("nkl.cli.entry", "table"), ("nkl.cli.app", "csv")])
def test_ctrl_c_stops_a_long_query_at_once(trained, tmp_path: Path, module: str, fmt: str) -> None:
    """DuckDB does not see Python's signals while a query runs; nkl interrupts the query itself (exit 130, no traceback)."""
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", module, "query", LONG_QUERY, "-w", str(trained.root), "-f", fmt], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        proc.wait(timeout=3)  # started and running the query (it cannot finish in this time)
        pytest.fail(f"the query ended by itself: {proc.returncode} {proc.stderr.read()}")
    except subprocess.TimeoutExpired:
        pass
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "FATAL" not in stderr, stderr
