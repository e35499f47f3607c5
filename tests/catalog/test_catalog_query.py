"""The catalog after a run: its tables and columns, rebuilding the DuckDB index from Parquet alone,
and `nkl query` (the README's examples, external files, output formats, one-line errors, read-only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

import nkl
from nkl.catalog.schemas import PREDICTIONS, SCHEMAS
from nkl.errors import CatalogError, QueryError

TABLES = ["features_os_egemapsv02", "predictions", "rejects", "results", "runs", "samples", "splits"]
LABELS = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]


@pytest.fixture
def full_copy(trained, tmp_path) -> Path:
    """The trained workspace with its DuckDB file, copied."""
    shutil.copytree(trained.root, tmp_path / "ws")
    return tmp_path / "ws"


def one_line_error(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_tables_exist_with_the_documented_columns(trained):
    catalog = nkl.connect(trained.root)
    assert catalog.tables() == TABLES
    for table, schema in {**SCHEMAS, "predictions": PREDICTIONS}.items():
        columns = catalog.table(table).collect_schema()
        for column, dtype in schema.items():
            assert columns[column] == dtype, (table, column)
    assert [c for c in catalog.table("predictions").collect_schema() if c.startswith("prob_")] == [f"prob_{x}" for x in LABELS]
    features = catalog.table("features_os_egemapsv02").collect_schema()
    assert list(features)[:2] == ["content_key", "spec_hash"] and len(features) == 90


def test_table_rows_describe_the_run(trained):
    catalog = nkl.connect(trained.root)
    n = catalog.sql("select (select count(*) from samples) samples, (select count(*) from splits) splits, "
                    "(select count(*) from predictions) predictions, (select count(*) from rejects) rejects, "
                    "(select count(*) from features_os_egemapsv02) features").row(0, named=True)
    assert n == {"samples": 60, "splits": 60, "predictions": 24, "rejects": 0, "features": 60}
    runs = catalog.sql("select * from runs")
    assert runs.height == 1 and runs["status"][0] == "done" and runs["best_run"][0] == 0
    assert runs["config_hash"][0] == nkl.load_config(trained.ini).hash
    assert "scikit-learn" in json.loads(runs["versions"][0]) and json.loads(runs["feature_spec"][0])[0]["name"] == "os"
    results = catalog.sql("select * from results where split = 'test'")
    assert {"uar", "accuracy", "macro_f1", *(f"f1_{x}" for x in LABELS)} <= set(results["metric"])
    assert (results["ci_low"] <= results["value"]).all() and (results["value"] <= results["ci_high"]).all()
    splits = catalog.sql("select s.split, x.speaker from splits s join samples x using (sample)")
    assert set(splits.filter(pl.col("split") == "test")["speaker"]) == {"03", "08", "09", "10"}
    probabilities = catalog.sql(f"select {' + '.join(f'prob_{x}' for x in LABELS)} total from predictions")["total"]
    assert probabilities.to_numpy() == pytest.approx(1.0)


def counts(root: Path) -> dict[str, int]:
    catalog = nkl.connect(root)
    return {t: catalog.sql(f'select count(*) n from "{t}"')["n"][0] for t in catalog.tables()}


def test_deleting_the_duckdb_file_loses_nothing(full_copy, run_cli, tmp_path):
    before = counts(full_copy)
    (full_copy / "catalog.duckdb").unlink()
    done = run_cli("catalog", "--workspace", full_copy, "rebuild", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rebuilt" in done.stderr and "7 tables" in done.stderr
    assert counts(full_copy) == before
    (full_copy / "catalog.duckdb").unlink()
    assert counts(full_copy) == before  # connect rebuilds it by itself
    assert (full_copy / "catalog.duckdb").is_file()


def test_a_moved_workspace_rebuilds_its_views(full_copy, tmp_path):
    before = counts(full_copy)
    moved = tmp_path / "moved"
    full_copy.rename(moved)  # the views in catalog.duckdb still point at the old folder
    assert counts(moved) == before


def test_nkl_catalog_lists_tables(trained, run_cli, tmp_path):
    done = run_cli("catalog", "--workspace", trained.root, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for table in TABLES:
        assert table in done.stdout


def query(run_cli, root: Path, sql: str, *args: str, cwd: Path):
    return run_cli("query", sql, "--workspace", root, *args, cwd=cwd)


def test_readme_queries(trained, run_cli, tmp_path):
    done = query(run_cli, trained.root, "select emotion, count(*) n from samples group by 1 order by n desc, 1", "--format", "csv",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = pl.read_csv(trained.csv)["emotion"].value_counts(name="n").sort(["n", "emotion"], descending=[True, False])
    assert pl.read_csv(done.stdout.encode()).equals(expected.cast({"n": pl.Int64}))

    done = query(run_cli, trained.root, "select p.speaker, avg((p.predicted = p.truth)::int) acc from predictions p group by 1",
                 "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    accuracy = {row["speaker"]: row["acc"] for row in json.loads(done.stdout)}
    predictions = nkl.connect(trained.root).table("predictions").collect()
    assert set(accuracy) == {"03", "08", "09", "10"}
    for speaker, acc in accuracy.items():
        rows = predictions.filter(pl.col("speaker") == speaker)
        assert acc == pytest.approx((rows["predicted"] == rows["truth"]).mean())


def test_join_with_an_external_csv(trained, run_cli, tmp_path):
    pl.DataFrame({"speaker": ["03", "08", "09", "10"], "dialect": ["north", "south", "south", "east"]}).write_csv(tmp_path / "meta.csv")
    sql = "select * from predictions join 'meta.csv' m using (speaker)"
    out = tmp_path / "joined.parquet"
    done = query(run_cli, trained.root, sql, "--format", "parquet", "--out", out.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    joined = pl.read_parquet(out)
    assert joined.height == 24 and "dialect" in joined.columns
    assert set(joined.filter(pl.col("speaker") == "08")["dialect"]) == {"south"}


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_output_formats_write_the_same_rows(trained, run_cli, tmp_path, fmt):
    sql = "select sample, truth, predicted, uncertainty from predictions order by sample"
    out = tmp_path / "out" / f"result.{fmt}"
    done = query(run_cli, trained.root, sql, "--format", fmt, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"24 rows written to {out}" in " ".join(done.stderr.split())
    expected = nkl.connect(trained.root).sql(sql)
    got = {"csv": pl.read_csv, "json": pl.read_json, "parquet": pl.read_parquet}[fmt](out)
    assert got.equals(expected)


def test_table_format_prints_a_table(trained, run_cli, tmp_path):
    done = query(run_cli, trained.root, "select metric, value from results where split = 'test' and metric = 'uar'", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "metric" in done.stdout and "uar" in done.stdout


def test_unknown_table_lists_the_tables(trained, run_cli, tmp_path):
    line = one_line_error(query(run_cli, trained.root, "select * from smaples", cwd=tmp_path))
    assert "smaples does not exist" in line and "Tables: " + ", ".join(TABLES) in line


def test_unknown_column_lists_the_columns(trained, run_cli, tmp_path):
    line = one_line_error(query(run_cli, trained.root, "select emotoin from samples", cwd=tmp_path))
    assert '"emotoin"' in line and '"emotion"' in line
    assert "columns of samples: sample, database, file, start, end, duration" in line


def test_query_connection_is_read_only(full_copy, run_cli, tmp_path):
    before = counts(full_copy)
    for sql in ("create table x as select 1", "drop view samples", "insert into nkl_meta values ('a', 'b')"):
        line = one_line_error(query(run_cli, full_copy, sql, cwd=tmp_path))
        assert "read-only" in line
    with pytest.raises(QueryError, match="read-only"):
        nkl.connect(full_copy).sql("insert into nkl_meta values ('x', 'y')")
    con = nkl.connect(full_copy).workspace.connect()
    with pytest.raises(duckdb.Error):
        con.execute("create table y as select 1")
    con.close()
    assert counts(full_copy) == before


def test_bad_format_and_missing_workspace(trained, run_cli, tmp_path):
    assert "unknown --format 'xml'" in one_line_error(query(run_cli, trained.root, "select 1", "--format", "xml", cwd=tmp_path))
    assert "needs --out" in one_line_error(query(run_cli, trained.root, "select 1", "--format", "parquet", cwd=tmp_path))
    line = one_line_error(query(run_cli, tmp_path / "nowhere", "select 1", cwd=tmp_path))
    assert "not an nkl workspace" in line
    with pytest.raises(CatalogError, match="table 'nope' does not exist"):
        nkl.connect(trained.root).table("nope")


def test_estimates_parts_of_a_run_in_progress_do_not_break_other_commands(full_copy):
    """Another process has written estimates parts but not refreshed the catalog yet: views still refresh."""
    from nkl.catalog.workspace import Workspace

    ws = Workspace(full_copy)
    key = pl.read_parquet(ws.parts("samples")[0])["content_key"][0]
    # a part written without refreshing the views, as a running `nkl predict` leaves it
    (ws.tables_dir / "estimates_snr").mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"content_key": [key], "spec_hash": ["x"], "est_snr": [12.5]}).write_parquet(ws.tables_dir / "estimates_snr" / "x-1.parquet")
    ws.refresh_views(["samples"])
    rows = nkl.connect(full_copy).sql("select est_snr from estimates")
    assert rows["est_snr"].to_list() == [12.5]
