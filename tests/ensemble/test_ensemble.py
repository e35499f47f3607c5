"""`nkl ensemble` on three real EmoDB experiments (os + svm, xgb, knn): every method gives a UAR with a CI, members are
aligned by sample id (not row order), bad combinations are one line, and `nkl predict --model` reproduces the fusion."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from nkl.catalog import Catalog
from nkl.catalog.workspace import Workspace
from nkl.ensemble.fusion import CLASSIFICATION
from tests.conftest import TEST_SPEAKERS, write_ini

MODELS = ("svm", "xgb", "knn")


def member_ini(folder: Path, csv: Path, model: str, *, name: str | None = None, target: str = "emotion") -> Path:
    return write_ini(folder / f"{name or model}.ini", f"""
        [EXP]
        root = {folder / 'ws'}
        name = {name or model}
        traindevtest = True
        [DATA]
        databases = ['db']
        db = {csv}
        db.split_strategy = speakers_stated
        db.test = {TEST_SPEAKERS}
        db.dev = ['11', '12']
        target = {target}
        [FEATS]
        type = ['os']
        scale = standard
        workers = 1
        [MODEL]
        type = {model}
        """)


@pytest.fixture(scope="module")
def members(balanced_csv: Path, run_cli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with three finished experiments; read-only (copy it before writing)."""
    folder = tmp_path_factory.mktemp("ensemble")
    for model in MODELS:
        done = run_cli("run", member_ini(folder, balanced_csv, model), cwd=folder)
        assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def ws(members: Path, tmp_path: Path) -> Path:
    shutil.copytree(members / "ws", tmp_path / "ws", ignore=shutil.ignore_patterns("catalog.duckdb*"))
    for ini in members.glob("*.ini"):
        (tmp_path / ini.name).write_text(ini.read_text().replace(str(members), str(tmp_path)))
    return tmp_path / "ws"


def uar(root: Path, name: str) -> dict:
    results = Workspace(root).read_part("results", name)
    return results.filter((pl.col("metric") == "uar") & (pl.col("split") == "test")).row(0, named=True)


def test_every_method_gives_a_uar_with_a_ci(ws: Path, run_cli) -> None:
    inis = [ws.parent / f"{m}.ini" for m in MODELS]
    for method in CLASSIFICATION:
        done = run_cli("ensemble", *inis, "--method", method, cwd=ws.parent)
        assert done.returncode == 0, done.stderr
        row = uar(ws, f"ensemble_{method}")
        assert 0 <= row["ci_low"] <= row["value"] <= row["ci_high"] <= 1
        assert re.search(r"UAR\s+│\s+\d\.\d{3}\s+\[\d\.\d{3}, \d\.\d{3}\]", done.stdout), done.stdout
    table = Catalog(ws).sql("select method, members, value from ensemble_results where metric = 'uar' and split = 'test'")
    assert table.height == len(CLASSIFICATION) and table["members"][0].to_list() == list(MODELS)
    weights = run_cli("ensemble", "--workspace", ws, "--experiments", "*", "--method", "mean", "--weights", "performance",
                      "--name", "by_dev", cwd=ws.parent)  # the pattern must not pick up the ensembles' own outputs twice
    assert weights.returncode == 0, weights.stderr


def test_members_are_aligned_by_sample_not_by_row(ws: Path, run_cli) -> None:
    store = Workspace(ws)
    assert run_cli("ensemble", "svm", "xgb", "knn", "-w", ws, "--name", "before", cwd=ws.parent).returncode == 0
    knn = store.read_part("predictions", "knn")
    store.write_part("predictions", "knn", knn.sample(fraction=1.0, shuffle=True, seed=7))  # same rows, another order
    assert not store.read_part("predictions", "knn")["sample"].equals(knn["sample"])
    assert run_cli("ensemble", "svm", "xgb", "knn", "-w", ws, "--name", "after", cwd=ws.parent).returncode == 0
    columns = ["sample", "truth", "predicted", "prob_anger", "prob_neutral"]
    before = store.read_part("predictions", "before").select(columns).sort("sample")
    after = store.read_part("predictions", "after").select(columns).sort("sample")
    assert before.equals(after)
    # and each fused row is the mean of the members' probabilities of that very sample
    members = [store.read_part("predictions", m).filter(pl.col("split") == "test") for m in ("svm", "xgb", "knn")]
    sample = after["sample"][5]
    expected = sum(m.filter(pl.col("sample") == sample)["prob_anger"][0] for m in members) / 3
    assert after.filter(pl.col("sample") == sample)["prob_anger"][0] == pytest.approx(expected)


def test_differing_test_sets_are_refused_unless_intersected(ws: Path, run_cli) -> None:
    store = Workspace(ws)
    knn = store.read_part("predictions", "knn")
    dropped = knn.filter(pl.col("split") == "test")["sample"][:3].to_list()
    store.write_part("predictions", "knn", knn.filter(~pl.col("sample").is_in(dropped)))
    refused = run_cli("ensemble", "svm", "xgb", "knn", "-w", ws, cwd=ws.parent)
    assert refused.returncode == 2 and "evaluated different samples" in refused.stderr and "Traceback" not in refused.stderr
    assert "'knn' 21 samples" in refused.stderr and "--intersect" in refused.stderr
    done = run_cli("ensemble", "svm", "xgb", "knn", "-w", ws, "--intersect", cwd=ws.parent)
    assert done.returncode == 0 and "fusing the 21 samples all evaluated" in done.stderr
    assert store.read_part("predictions", "ensemble_mean").height == 21


def test_bad_input_is_one_line(ws: Path, balanced_csv: Path, run_cli) -> None:
    folder = ws.parent
    gender = member_ini(folder, balanced_csv, "svm", name="gender", target="gender")
    assert run_cli("run", gender, cwd=folder).returncode == 0
    cases = [
        (["svm", "gender"], "differ in target"),
        (["svm", "never_ran"], "experiment 'never_ran' has no finished run"),
        (["svm", "xgb", "--method", "avg"], "unknown ensemble method 'avg'"),
        (["svm", "xgb", "--method", "majority_voting"], "at least three members"),
        (["svm"], "at least two experiments"),
        (["svm", "xgb", "--weights", "1,2,3"], "expected 2 non-negative numbers"),
        (["-e", "nothing_*"], "matches no finished experiment"),
    ]
    for args, message in cases:
        done = run_cli("ensemble", *args, "-w", ws, cwd=folder)
        assert done.returncode == 2, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, (args, done.stderr)


def test_predict_with_the_ensemble_reproduces_its_test_predictions(ws: Path, balanced_csv: Path, run_cli) -> None:
    assert run_cli("ensemble", "svm", "xgb", "knn", "-w", ws, "--method", "confidence_weighted", "--name", "ens", cwd=ws.parent).returncode == 0
    stored = Workspace(ws).read_part("predictions", "ens").sort("sample")
    test_files = pl.read_csv(balanced_csv).filter(pl.col("speaker").cast(pl.String).str.zfill(2).is_in(TEST_SPEAKERS))
    listing = ws.parent / "test_files.csv"
    test_files.select("file").write_csv(listing)
    out = ws.parent / "applied.csv"
    done = run_cli("predict", "--model", "ens", "-w", ws, "--list", listing, "--out", out, cwd=ws.parent)
    assert done.returncode == 0, done.stderr
    applied = pl.read_csv(out)
    assert applied.height == stored.height == 24
    by_file = dict(zip(applied["file"].to_list(), applied["predicted"].to_list(), strict=True))
    samples = Workspace(ws).read_part("samples", "db").select("sample", "file")
    expected = stored.join(samples, on="sample").select("file", "predicted")
    assert {f: by_file[f] for f in expected["file"].to_list()} == dict(expected.iter_rows())
