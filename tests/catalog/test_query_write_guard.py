"""`nkl query` only reads: statements that write files, change settings or the catalog are refused before they run
(one line, exit 2, nothing written) unless --allow-write; reading the user's own files keeps working."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import nkl
from nkl.errors import QueryError


@pytest.fixture
def ws(trained, tmp_path) -> Path:
    """The trained workspace with its DuckDB file, copied."""
    shutil.copytree(trained.root, tmp_path / "ws")
    return tmp_path / "ws"


def files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(done) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


# statement (with {tmp} for the test's folder) → the kind the error names
REFUSED = {
    "copy (select * from predictions) to '{tmp}/out.csv'": "COPY",
    "copy predictions to '{tmp}/out.parquet' (format parquet)": "COPY",
    "attach '{tmp}/other.duckdb' as other": "ATTACH",
    "install httpfs": "INSTALL",
    "load httpfs": "LOAD",
    "set threads = 1": "SET",
    "pragma threads = 1": "PRAGMA",
    "create table t as select 1 x": "CREATE",
    "insert into nkl_meta values ('a', 'b')": "INSERT",
    "export database '{tmp}/dump'": "EXPORT",
    # a read, then a write: every statement is checked
    "select count(*) from samples; copy (select 1) to '{tmp}/out.csv'": "COPY",
    # a CTE in front of a write
    "with s as (select sample from samples) insert into nkl_meta select sample, sample from s": "INSERT",
    # EXPLAIN ANALYZE runs its statement
    "explain analyze copy (select 1) to '{tmp}/out.csv'": "EXPLAIN",
}


@pytest.mark.parametrize("sql", list(REFUSED))
def test_writing_statements_are_refused_with_one_line(ws, run_cli, tmp_path, sql):
    before_tmp, before_ws = files(tmp_path), files(ws)
    statement = sql.format(tmp=tmp_path)
    line = one_line_error(run_cli("query", statement, "--workspace", ws, cwd=tmp_path))
    assert f"refused {REFUSED[sql]} statement" in line
    assert "--out FILE --format csv|parquet" in line and "--allow-write" in line
    assert files(tmp_path) == before_tmp and files(ws) == before_ws  # nothing written anywhere


def test_the_python_api_refuses_too(ws, tmp_path):
    target = tmp_path / "api.csv"
    with pytest.raises(QueryError, match="refused COPY statement"):
        nkl.connect(ws).sql(f"copy (select 1 x) to '{target}'")
    assert not target.exists()
    nkl.connect(ws).sql(f"copy (select 1 x) to '{target}'", allow_write=True)
    assert pl.read_csv(target)["x"].to_list() == [1]


def test_reading_files_and_read_only_statements_still_work(ws, run_cli, tmp_path):
    pl.DataFrame({"speaker": ["03", "08", "09", "10"], "dialect": ["north", "south", "south", "east"]}).write_csv(tmp_path / "meta.csv")
    cat = nkl.connect(ws)
    joined = cat.sql(f"with m as (select * from read_csv('{tmp_path / 'meta.csv'}')) "
                     "select p.sample, m.dialect from predictions p join m using (speaker) order by 1")
    assert joined.height == 24 and set(joined["dialect"]) == {"north", "south", "east"}
    for sql in ("describe samples", "show tables", "summarize select duration from samples", "explain select * from samples",
                "pivot (select speaker, emotion from samples) on emotion using count(*)", "from samples select count(*)"):
        assert cat.sql(sql).height > 0, sql
    done = run_cli("query", "select count(*) n from predictions join read_csv('meta.csv') m using (speaker)", "--workspace", ws,
                   "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", "24"]


def test_allow_write_lets_copy_through(ws, run_cli, tmp_path):
    out = tmp_path / "predictions.csv"
    done = run_cli("query", f"copy (select sample, predicted from predictions order by 1) to '{out}'", "--workspace", ws,
                   "--allow-write", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(out).height == 24
