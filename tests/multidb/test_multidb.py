"""`nkl multidb`: the train × test matrix of two EmoDB subsets, cached cells, use_splits, train_extra, one-line errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from nkl.catalog import Catalog
from nkl.catalog.workspace import Workspace


@pytest.fixture(scope="module")
def corpora(balanced_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("multidb")
    table = pl.read_csv(balanced_csv, infer_schema=False).with_columns(pl.col("speaker").str.zfill(2))
    table.filter(pl.col("speaker").is_in(["03", "08", "09", "10", "11"])).write_csv(folder / "a.csv")
    table.filter(pl.col("speaker").is_in(["12", "13", "14", "15"])).write_csv(folder / "b.csv")
    table.filter(pl.col("speaker") == "16").write_csv(folder / "extra.csv")
    return folder


def multidb_ini(folder: Path, corpora: Path, exp: str = "", more: str = "", extra: bool = False) -> Path:
    path = folder / "cross.ini"
    path.write_text(f"""[EXP]
root = {folder / 'ws'}
name = cross
databases = ['a', 'b']
{exp}
[DATA]
a = {corpora / 'a.csv'}
a.split_strategy = ['03', '08']
b = {corpora / 'b.csv'}
b.split_strategy = ['12']
{f"extra = {corpora / 'extra.csv'}" if extra else ""}
target = emotion
[FEATS]
type = ['os']
scale = standard
workers = 1
[MODEL]
type = svm
{more}""")
    return path


def test_matrix_heatmap_and_cached_rerun(corpora: Path, tmp_path: Path, run_cli) -> None:
    ini = multidb_ini(tmp_path, corpora)
    done = run_cli("multidb", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = Catalog(tmp_path / "ws").sql("select train, test, cell, value, ci_low, ci_high, n_test from crossdb order by 1, 2")
    assert table.select("train", "test").rows() == [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]
    assert all(0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 1 for r in table.iter_rows(named=True))
    # diagonal: each corpus's own split; off it: the whole test corpus
    assert table["n_test"].to_list() == [12, 24, 30, 6]
    ws = Workspace(tmp_path / "ws")
    splits = ws.read_part("splits", "cross_a-b")
    samples = ws.read_part("samples", "a").select("sample", "speaker")
    train_speakers = set(splits.filter(pl.col("split") == "train").join(samples, on="sample")["speaker"].to_list())
    assert train_speakers == {"03", "08", "09", "10", "11"}  # all of a trains the a → b cell
    assert (tmp_path / "ws" / "experiments" / "cross" / "plots" / "cross_crossdb.png").stat().st_size > 0
    assert "│ a" in done.stdout and "[" in done.stdout
    again = run_cli("multidb", ini, cwd=tmp_path)
    assert again.returncode == 0 and "4 cells (4 unchanged" in again.stderr
    assert "extracting" not in again.stderr and "trained" not in again.stderr


def test_use_splits_and_train_extra(corpora: Path, tmp_path: Path, run_cli) -> None:
    ini = multidb_ini(tmp_path, corpora, exp="use_splits = True", more="[CROSSDB]\ntrain_extra = ['extra']\n", extra=True)
    done = run_cli("multidb", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = Catalog(tmp_path / "ws").sql("select train, test, n_test from crossdb order by 1, 2")
    assert table["n_test"].to_list() == [12, 6, 12, 6]  # always the test split of the test corpus
    ws = Workspace(tmp_path / "ws")
    splits = ws.read_part("splits", "cross_a-b")
    trained = splits.filter(pl.col("split") == "train")["sample"].to_list()
    assert any(s.startswith("extra/") for s in trained)  # train_extra joins every cell
    assert not any(s.startswith("b/") for s in trained)


def test_mistakes_are_one_line(corpora: Path, tmp_path: Path, run_cli) -> None:
    cases = [
        ("\n".join(line for line in multidb_ini(tmp_path, corpora).read_text().replace("databases = ['a', 'b']", "databases = ['a']")
                   .splitlines() if not line.startswith("b")), "at least two databases"),
        (multidb_ini(tmp_path, corpora).read_text().replace("databases = ['a', 'b']", "databases = ['a']"), "'b' is not one of"),
        (multidb_ini(tmp_path, corpora).read_text().replace("databases = ['a', 'b']", "databases = ['a', 'b', 'nowhere']"),
         "database 'nowhere' has no path"),
        (multidb_ini(tmp_path, corpora).read_text().replace("target = emotion\n", ""), "target is missing"),
    ]
    for text, expected in cases:
        ini = tmp_path / "bad.ini"
        ini.write_text(text)
        done = run_cli("multidb", ini, cwd=tmp_path)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert done.returncode == 2 and len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr, done.stderr
