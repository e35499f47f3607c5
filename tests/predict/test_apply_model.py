"""`nkl predict --model <experiment>`: the saved model, scaler and encoder applied to files, nothing refitted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import nkl


@pytest.fixture
def ws_model(trained, tmp_path: Path) -> Path:
    """A writable copy of the trained workspace, tables and saved model included."""
    shutil.copytree(trained.root, tmp_path / "ws_model")
    return tmp_path / "ws_model"


def test_saved_experiment_reproduces_its_test_predictions(trained, ws_model: Path, tmp_path: Path, run_cli) -> None:
    catalog = nkl.connect(ws_model)
    stored = catalog.sql("select p.*, s.file from predictions p join samples s using (sample) "
                         "where p.experiment = 'exp' and p.split = 'test'")
    listing = tmp_path / "test_files.csv"
    stored.select("file").write_csv(listing)
    out = tmp_path / "out.csv"
    done = run_cli("predict", "--model", "exp", "--list", listing, "-w", ws_model, "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    applied = pl.read_csv(out).join(stored, on="file", suffix="_stored")
    assert applied.height == stored.height > 0
    assert (applied["predicted"] == applied["predicted_stored"]).all()
    for column in (c for c in stored.columns if c.startswith("prob_")):
        np.testing.assert_array_equal(applied[column].to_numpy(), applied[f"{column}_stored"].to_numpy())
    table = nkl.connect(ws_model).sql("select count(*) n from applied_predictions where model = 'exp'")
    assert table["n"][0] == stored.height


def test_unknown_model_is_one_line_with_a_hint(trained, ws_model: Path, tmp_path: Path, run_cli) -> None:
    wav = next(iter(pl.read_csv(trained.csv)["file"]))
    done = run_cli("predict", "--model", "no_such_experiment", "--file", wav, "-w", ws_model, cwd=tmp_path)
    assert done.returncode == 2
    assert "no saved nkl model at 'no_such_experiment'" in done.stderr and "Traceback" not in done.stderr


def test_files_can_follow_file_as_arguments(trained, ws_model: Path, tmp_path: Path, run_cli) -> None:
    wavs = pl.read_csv(trained.csv)["file"].head(3).to_list()
    out = tmp_path / "three.csv"
    done = run_cli("predict", "--model", "exp", "--file", *wavs, "-w", ws_model, "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(pl.read_csv(out)["file"].to_list()) == sorted(wavs)
