"""`nkl optim` and `nkl flags`: every combination scored on training data only (a spy on fit proves it), the table in the
catalog, reproducible, the best run once on test, one-line mistakes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.catalog.workspace import Workspace
from nkl.config import load_config
from nkl.context import RunContext
from nkl.search import scoring
from nkl.search.run import run_optim, values_of


def search_ini(trained, ws: Path, section: str) -> Path:
    path = ws.parent / "search.ini"
    path.write_text(trained.ini.read_text().replace(str(trained.root), str(ws)) + section)
    return path


def test_search_spaces() -> None:
    assert values_of("C_val", "[0.1, 1, 10]") == [0.1, 1, 10]
    assert values_of("n_estimators", "(50, 200, 50)") == [50, 100, 150, 200]
    assert values_of("max_depth", "(2, 6)") == [2, 3, 4, 5, 6]
    assert values_of("learning_rate", "(0.001, 0.1)") == [0.001, 0.00316228, 0.01, 0.0316228, 0.1]
    assert values_of("drop", "(0.1, 0.5)") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert values_of("kernel", "rbf") == ["rbf"]


def test_optim_never_fits_or_scores_on_test_rows(trained, ws_copy: Path, monkeypatch) -> None:
    seen: list[np.ndarray] = []
    real_fit, real_predict = scoring._RowModel.fit, scoring._RowModel.predict

    def fit(self, X, y):
        seen.append(X[:, 0].astype(int))
        return real_fit(self, X, y)

    def predict(self, X):
        seen.append(X[:, 0].astype(int))
        return real_predict(self, X)

    monkeypatch.setattr(scoring._RowModel, "fit", fit)
    monkeypatch.setattr(scoring._RowModel, "predict", predict)
    ini = search_ini(trained, ws_copy, "[OPTIM]\nC_val = [0.1, 1, 10]\nmetric = uar\ncv_folds = 3\n")
    config = load_config(ini)
    ctx = RunContext(Workspace(config.exp.root), logging.getLogger("nkl.test"))
    table, result = run_optim(ctx, config)
    assert table.height == 3 and table["rank"].to_list() == [1, 2, 3] and table["scored_on"][0].startswith("3 speaker-grouped folds")
    splits = Workspace(ws_copy).read_part("splits", "exp").sort("sample")
    test_rows = set(np.flatnonzero(splits["split"].to_numpy() == "test").tolist())  # the feature matrix is sorted by sample
    assert len(seen) == 3 * 3 * 2 and all(not (set(rows.tolist()) & test_rows) for rows in seen)
    best = json.loads(table["params"][0])
    assert f"C_val = {best['C_val']}" in Workspace(ws_copy).read_part("runs", "exp")["config_text"][-1]
    assert result.headline().filter(pl.col("metric") == "uar").height == 1
    again, _ = run_optim(ctx, config)
    assert again.select("params", "score").equals(table.select("params", "score"))  # seeded: the same table


def test_optim_halving_and_flags_from_the_cli(trained, ws_copy: Path, run_cli) -> None:
    ini = search_ini(trained, ws_copy, "[OPTIM]\nmodel = knn\nK_val = (1, 9, 2)\nsearch_strategy = halving_grid\n")
    done = run_cli("optim", ini, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    assert "the test set was not used" in " ".join(done.stdout.split()) and "UAR" in done.stdout
    flags = search_ini(trained, ws_copy, "[FLAGS]\nmodels = ['svm', 'knn']\nscale = ['standard', 'robust']\nbalancing = ['none', 'ros']\n")
    done = run_cli("flags", flags, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    table = Workspace(ws_copy).read_part("search_results", "exp")
    assert table.height == 8 and sorted(table["rank"].to_list()) == list(range(1, 9))
    assert "extracting" not in done.stderr  # one extraction for every combination, already cached by the trained run


@pytest.mark.parametrize(("section", "message"), [
    ("[OPTIM]\nmetric = uar\n", "no parameter to search"),
    ("[OPTIM]\nC_val = []\n", "an empty list leaves nothing to search"),
    ("[OPTIM]\nC_val = [1]\nsearch_strategy = bayes\n", "search_strategy 'bayes' is not known"),
    ("[OPTIM]\nC_val = (10, 1)\n", "max is below min"),
    ("[OPTIM]\nkernel = ['rbf', 'cubic']\n", "search combination"),
    ("[FLAGS]\nmodels = []\n", "[FLAGS] models = []"),
    ("[FLAGS]\nmodels = ['svm', 'svn']\n", "svn"),
])
def test_search_mistakes_are_one_line(trained, ws_copy: Path, run_cli, section: str, message: str) -> None:
    command = "optim" if section.startswith("[OPTIM]") else "flags"
    done = run_cli(command, search_ini(trained, ws_copy, section), cwd=ws_copy.parent)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr
