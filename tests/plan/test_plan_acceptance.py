"""Issue 2's acceptance on the 60-file subset: warm runs and model changes extract nothing, explain shows the
cache, the Python API builds the INI's plan, the saved model reproduces its predictions, test rows never
reach training, leave-one-speaker-out and regression work end to end."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import nkl
from nkl.catalog import Workspace
from nkl.models.bundle import ModelBundle
from nkl.plan import Plan

STEPS = ["load", "filter", "split", "features", "scale", "fit", "evaluate"]
TEST_SPEAKERS = ["03", "08", "09", "10"]


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in (root / "tables").rglob("*") if p.is_file()}


def flat(text: str) -> str:
    return " ".join(text.split())


def test_second_run_extracts_nothing_and_reuses_the_results(ws_copy, make_ini, balanced_csv, run_cli, tmp_path):
    before = nkl.connect(ws_copy).sql("select * from results order by all")
    done = run_cli("run", "--config", make_ini(balanced_csv), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "features: 0 extracted, 60 from cache; model: unchanged, results from the catalog" in flat(done.stderr)
    assert "UAR" in done.stdout and "per class" in done.stdout
    catalog = nkl.connect(ws_copy)
    assert catalog.sql("select * from results order by all").equals(before)
    assert catalog.sql("select count(*) n from runs")["n"][0] == 1


def test_another_model_on_the_same_workspace_extracts_nothing(ws_copy, make_ini, balanced_csv, run_cli, tmp_path):
    done = run_cli("run", make_ini(balanced_csv, name="exp_xgb", model="xgb"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "features: 0 extracted, 60 from cache" in flat(done.stderr)
    catalog = nkl.connect(ws_copy)
    assert set(catalog.sql("select distinct experiment from results")["experiment"]) == {"exp", "exp_xgb"}
    assert catalog.sql("select count(*) n from features_os_egemapsv02")["n"][0] == 60
    assert (ws_copy / "experiments" / "exp_xgb" / "model" / "bundle.json").is_file()


def test_explain_shows_each_step_and_what_is_cached(trained, run_cli, tmp_path):
    before = snapshot(trained.root)
    done = run_cli("explain", trained.ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kinds = [line.split()[1] for line in done.stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert kinds == STEPS
    out = flat(done.stdout)
    assert "cached: 60 samples" in out
    assert "60 samples selected" in out
    assert "test 24, train 36" in out
    assert "cached: 60 of 60" in out and "to extract" not in out
    assert "cached: results unchanged" in out
    assert snapshot(trained.root) == before, "explain must not write"


def test_explain_before_a_run_writes_nothing(make_ini, balanced_csv, run_cli, tmp_path):
    done = run_cli("explain", make_ini(balanced_csv), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "to import: 60 files to probe and hash" in done.stdout
    assert not (tmp_path / "ws" / "tables").exists()


def api_experiment(root: Path, csv: Path) -> nkl.Experiment:
    return (nkl.Experiment(root=str(root), name="exp")
            .load("db", str(csv), split_strategy=TEST_SPEAKERS)
            .target("emotion")
            .features("os", workers=1)
            .scale("standard")
            .fit("svm"))


def test_python_api_builds_the_plan_of_the_ini(ws_copy, make_ini, balanced_csv):
    ini_config = nkl.load_config(make_ini(balanced_csv))
    exp = api_experiment(ws_copy, balanced_csv)
    assert exp.config.hash == ini_config.hash
    assert exp.plan().steps == Plan(ini_config).steps
    assert [s.kind for s in exp.plan().steps] == STEPS
    assert nkl.Experiment.from_ini(make_ini(balanced_csv)).config.hash == ini_config.hash
    assert exp.fit("svm", C_val=2.0).config.hash != ini_config.hash  # every method returns a new experiment
    assert exp.plan().model_settings.C_val == 1.0 and exp.fit("svm", C_val=2.0).plan().model_settings.C_val == 2.0
    result = exp.run()
    assert result.cached
    assert [(r.computed, r.cached) for r in result.extraction] == [(0, 60)]
    assert "uar" in result.headline()["metric"].to_list() and set(result.headline()["split"]) == {"test"}


def test_saved_model_reproduces_the_stored_test_predictions(trained):
    bundle = ModelBundle.load(trained.root / "experiments" / "exp" / "model")
    manifest = bundle.manifest
    assert manifest["labels"] == ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert manifest["extractors"][0]["params"] == {"set": "eGeMAPSv02", "level": "functionals"}
    catalog = nkl.connect(trained.root)
    rows = catalog.sql("select p.*, s.content_key from predictions p join samples s using (sample) where p.split = 'test' "
                       "order by p.sample")
    assert rows.height == 24
    features = catalog.table("features_os_egemapsv02").collect()
    X = rows.select("content_key").join(features, on="content_key", how="left", maintain_order="left").select(manifest["columns"])
    X = X.to_numpy().astype(np.float64)
    scaled = bundle.scaler.transform(X, rows["speaker"].to_numpy())
    proba = bundle.estimator.predict_proba(scaled)
    stored = rows.select([f"prob_{label}" for label in manifest["labels"]]).to_numpy()
    np.testing.assert_array_equal(proba, stored)
    predicted = np.array(manifest["labels"])[bundle.estimator.predict(scaled)]  # the model's own decision, as in a run
    assert predicted.tolist() == rows["predicted"].to_list()


def test_scaler_statistics_come_from_training_rows_only(trained):
    bundle = ModelBundle.load(trained.root / "experiments" / "exp" / "model")
    catalog = nkl.connect(trained.root)
    columns = bundle.manifest["columns"]
    quoted = ", ".join(f'f."{c}"' for c in columns)
    rows = catalog.sql(f"select s.split, {quoted} from splits s join samples x using (sample) "
                       "join features_os_egemapsv02 f using (content_key) order by s.sample")
    train = rows.filter(pl.col("split") == "train").select(columns).to_numpy()
    everything = rows.select(columns).to_numpy()
    assert train.shape == (36, 88)
    np.testing.assert_allclose(bundle.scaler.center, train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bundle.scaler.scale, np.where(train.std(axis=0) > 1e-12, train.std(axis=0), 1.0), rtol=1e-12)
    assert not np.allclose(bundle.scaler.center, everything.mean(axis=0))


def rotated_test_labels(csv: Path, out: Path) -> Path:
    """The same CSV with the test speakers' emotions shifted by one class (the label set is unchanged)."""
    rows = pl.read_csv(csv, infer_schema=False)
    labels = sorted(rows["emotion"].unique())
    shifted = {label: labels[(i + 1) % len(labels)] for i, label in enumerate(labels)}
    rows = rows.with_columns(pl.when(pl.col("speaker").is_in(TEST_SPEAKERS)).then(pl.col("emotion").replace_strict(shifted))
                             .otherwise(pl.col("emotion")).alias("emotion"))
    rows.write_csv(out)
    return out


def test_test_labels_do_not_influence_training(trained, balanced_csv, make_ini, tmp_path):
    runs = {}
    for variant, csv in (("original", balanced_csv), ("rotated", rotated_test_labels(balanced_csv, tmp_path / "rotated.csv"))):
        root = tmp_path / variant
        shutil.copytree(trained.root / "tables", root / "tables")
        ini = make_ini(csv, name=variant, root=root, split="speakers_stated")
        text = ini.read_text().replace("db.split_strategy = speakers_stated",
                                       f"db.split_strategy = speakers_stated\ndb.test = {TEST_SPEAKERS}\ndb.dev = ['11', '12']")
        ini.write_text(text.replace("[EXP]\n", "[EXP]\ntraindevtest = True\n"))
        result = nkl.Experiment.from_ini(ini).run(log=logging.getLogger("nkl.test.plan"))
        assert [(r.computed, r.cached) for r in result.extraction] == [(0, 60)]
        predictions = Workspace(root).scan("predictions").collect().sort("sample")
        runs[variant] = (root / "experiments" / variant / "model", predictions)
    (model_a, pred_a), (model_b, pred_b) = runs["original"], runs["rotated"]
    test_a, test_b = (p.filter(pl.col("split") == "test") for p in (pred_a, pred_b))
    assert not test_a["truth"].equals(test_b["truth"]), "the test labels differ between the two runs"
    assert (model_a / "scaler.json").read_text() == (model_b / "scaler.json").read_text()
    probabilities = [c for c in pred_a.columns if c.startswith("prob_")]
    for split in ("dev", "test"):
        a, b = (p.filter(pl.col("split") == split) for p in (pred_a, pred_b))
        assert a.height > 0
        assert a.select("sample", "predicted", *probabilities).equals(b.select("sample", "predicted", *probabilities))
    assert pred_a.filter(pl.col("split") == "dev")["truth"].equals(pred_b.filter(pl.col("split") == "dev")["truth"])


def test_leave_one_speaker_out_predicts_every_sample_once(ws_copy, make_ini, balanced_csv):
    ini = make_ini(balanced_csv, name="loso", split="train", extra="logo = 10\n")
    result = nkl.Experiment.from_ini(ini).run(log=logging.getLogger("nkl.test.plan"))
    assert [(r.computed, r.cached) for r in result.extraction] == [(0, 60)]
    predictions = Workspace(ws_copy).scan("predictions", "loso").collect()
    assert set(predictions["split"]) == {"logo"}
    assert predictions.height == 60 and predictions["sample"].is_unique().all()
    folds = predictions.group_by("fold").agg(pl.col("speaker").n_unique().alias("speakers"), pl.len().alias("n"))
    assert folds.height == 10 and set(folds["speakers"]) == {1} and set(folds["n"]) == {6}
    headline = result.headline()
    assert set(headline["split"]) == {"logo"} and "uar" in headline["metric"].to_list()


def test_regression_on_age(ws_copy, make_ini, balanced_csv, run_cli, tmp_path):
    ini = make_ini(balanced_csv, name="age", model="svr")
    ini.write_text(ini.read_text().replace("target = emotion", "target = age"))
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 extracted, 60 from cache" in flat(done.stderr)
    for metric in ("CCC", "PCC", "MSE", "MAE"):
        assert metric in done.stdout
    catalog = nkl.connect(ws_copy)
    results = catalog.sql("select * from results where experiment = 'age' and split = 'test'")
    assert sorted(results["metric"]) == ["ccc", "mae", "mse", "pcc"]
    assert (results["ci_low"] <= results["value"]).all() and (results["value"] <= results["ci_high"]).all()
    predictions = Workspace(ws_copy).scan("predictions", "age").collect().join(
        catalog.table("samples").select("sample", "age").collect(), on="sample")
    assert predictions.height == 24 and predictions["truth_value"].dtype == pl.Float64
    assert predictions["truth_value"].equals(predictions["age"].alias("truth_value"))
    assert predictions["truth"].dtype == pl.String  # one text column for every task, numbers in *_value
    mae = (predictions["truth_value"] - predictions["predicted_value"]).abs().mean()
    assert results.filter(pl.col("metric") == "mae")["value"][0] == pytest.approx(mae)
    assert (ws_copy / "experiments" / "age" / "plots" / "age_scatter.png").is_file()
