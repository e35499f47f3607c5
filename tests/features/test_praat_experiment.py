"""praat in an experiment: an nkululeko INI with type = ['praat'] runs unchanged; praat + os concatenate."""

from __future__ import annotations

import polars as pl

import nkl
from tests.conftest import write_ini


def test_nkululeko_praat_ini_runs_and_every_file_has_features_or_a_reject(balanced_csv, run_cli, tmp_path):
    ini = write_ini(tmp_path / "praat.ini", f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = exp_praat
        [DATA]
        databases = ['emodb']
        emodb = {balanced_csv}
        emodb.split_strategy = speaker_split
        emodb.test_size = 40
        target = emotion
        [FEATS]
        type = ['praat', 'os']
        praat.features = ['pitch', 'voice_quality', 'formants']
        scale = standard
        needs_feature_extraction = True
        [MODEL]
        type = svm
        C_val = 10
        """)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    praat = catalog.sql("select * from features_praat")
    rejected = catalog.sql("select count(*) n from rejects where stage = 'features:features_praat'")["n"][0]
    assert praat.height + rejected == 60
    assert {"f0_mean_hz", "hnr_mean_db", "f4_median_hz"} <= set(praat.columns) and "n_syllables" not in praat.columns
    assert praat["f0_mean_hz"].drop_nans().min() > 75 and praat["f0_mean_hz"].drop_nans().max() < 600
    uar = catalog.sql("select value from results where metric = 'uar' and split = 'test'")["value"][0]
    assert 0.0 < uar <= 1.0
    spec = catalog.sql("select feature_spec from runs")["feature_spec"][0]
    assert '"praat"' in spec and '"os"' in spec
    explained = run_cli("explain", ini, cwd=tmp_path)
    assert "features_praat" in explained.stdout and "cached: 60 of 60" in " ".join(explained.stdout.split())
    again = run_cli("run", ini, cwd=tmp_path)
    assert "features: 0 extracted, 120 from cache" in " ".join(again.stderr.split())
    assert pl.DataFrame(catalog.sql("select count(*) n from features_praat")).item() == praat.height
