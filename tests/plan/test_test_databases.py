"""`[DATA] tests` (nkululeko's `testing`): a second database scored by the best saved model, cached, one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from nkl.catalog.workspace import Workspace
from tests.conftest import TEST_SPEAKERS


def ini_with_tests(trained, ws: Path, extra_data: str, extra_exp: str = "") -> Path:
    text = trained.ini.read_text().replace(str(trained.root), str(ws))
    text = text.replace("target = emotion\n", f"target = emotion\n{extra_data}\n").replace("[EXP]\n", f"[EXP]\n{extra_exp}")
    path = ws.parent / "with_tests.ini"
    path.write_text(text)
    return path


def test_a_test_database_of_the_test_speakers_scores_like_the_own_test_split(trained, ws_copy: Path, run_cli) -> None:
    csv = pl.read_csv(trained.csv, infer_schema=False)
    newtest = ws_copy.parent / "newtest.csv"
    csv.filter(pl.col("speaker").str.zfill(2).is_in(TEST_SPEAKERS)).write_csv(newtest)
    # written as nkululeko users write it: only in tests, with its own type key, and res_name in [EXP]
    ini = ini_with_tests(trained, ws_copy, f"tests = ['newtest']\nnewtest = {newtest}\nnewtest.type = csv", "res_name = emodb_svm\n")
    done = run_cli("run", ini, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    assert "features: 0 extracted" in done.stderr  # the test files are the experiment's own: their features are cached
    results = Workspace(ws_copy).scan("results").filter(pl.col("metric") == "uar").collect()
    own = results.filter(pl.col("split") == "test")["value"][0]
    scored = results.filter(pl.col("split") == "newtest")["value"][0]
    assert scored == own
    assert re.search(r"newtest\s+│\s+\d\.\d{3}\s+\[", done.stdout)
    again = run_cli("run", ini, cwd=ws_copy.parent)
    assert again.returncode == 0 and "test databases unchanged" in again.stderr and "model: unchanged" in again.stderr


def test_classes_the_model_does_not_know_are_left_out_with_a_warning(trained, ws_copy: Path, run_cli, balanced_csv) -> None:
    csv = pl.read_csv(balanced_csv, infer_schema=False)
    other = ws_copy.parent / "other.csv"
    csv.head(8).with_columns(emotion=pl.when(pl.int_range(pl.len()) < 2).then(pl.lit("surprise")).otherwise(pl.col("emotion"))).write_csv(other)
    ini = ini_with_tests(trained, ws_copy, f"tests = ['other']\nother = {other}")
    done = run_cli("run", ini, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    assert "2 sample(s) with classes the model does not know are left out (surprise)" in done.stderr.replace("\n", " ").replace("  ", " ")
    assert Workspace(ws_copy).read_part("predictions", "exp.tests").height == 6


def test_test_database_mistakes_are_one_line(trained, ws_copy: Path, run_cli) -> None:
    cases = [
        ("tests = ['nowhere']", "database 'nowhere' has no path"),
        ("tests = ['t']\nt = missing.csv", "CSV file not found"),
    ]
    for extra, message in cases:
        done = run_cli("run", ini_with_tests(trained, ws_copy, extra), cwd=ws_copy.parent)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert done.returncode == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr
    unsaved = ini_with_tests(trained, ws_copy, "tests = ['t']\nt = x.csv", "save = False\n")
    done = run_cli("run", unsaved, cwd=ws_copy.parent)
    assert done.returncode == 2 and "set [EXP] save = True" in done.stderr and "Traceback" not in done.stderr
