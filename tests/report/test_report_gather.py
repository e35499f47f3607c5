"""Per-group metrics without explore's views, and the helpers that read a run back."""

from __future__ import annotations

import polars as pl

from nkl.evaluate.metrics import classification_metrics
from nkl.report.gather import config_from_text, group_metrics, own_membership

LABELS = ["anger", "neutral", "sadness"]


def evaluated_frame() -> pl.DataFrame:
    truth = ["anger", "neutral", "sadness"] * 8
    predicted = ["anger", "neutral", "neutral", "anger", "anger", "sadness"] * 4
    return pl.DataFrame({
        "sample": [f"s{i}" for i in range(24)], "truth": truth, "predicted": predicted,
        "gender": ["female", "male"] * 12, "database": ["db"] * 24, "age": [float(20 + i) for i in range(24)],
    })


def test_groups_without_sample_groups_view_match_direct_metrics() -> None:
    frame = evaluated_frame()
    groups = group_metrics(frame, own_membership(frame), "classification", LABELS, seed=1)
    assert groups is not None
    assert set(groups["attribute"].to_list()) == {"gender", "age"}  # one database: no comparison
    for gender in ("female", "male"):
        part = frame.filter(pl.col("gender") == gender)
        row = groups.filter((pl.col("attribute") == "gender") & (pl.col("group") == gender)).row(0, named=True)
        expected = classification_metrics(part["truth"].to_list(), part["predicted"].to_list(), LABELS)
        assert row["n"] == 12 and abs(row["uar"] - expected["uar"]) < 1e-12 and abs(row["accuracy"] - expected["accuracy"]) < 1e-12
        assert row["ci_low"] <= row["uar"] <= row["ci_high"]
    ages = groups.filter(pl.col("attribute") == "age")
    assert ages["n"].sum() == 24 and ages["group"].to_list()[0].startswith("0_low")


def test_too_many_groups_are_left_out() -> None:
    frame = evaluated_frame().with_columns(gender=pl.col("sample"))  # 24 "genders"
    groups = group_metrics(frame, own_membership(frame), "classification", LABELS, seed=1)
    assert groups is not None and "gender" not in groups["attribute"].to_list()


def test_config_text_round_trips_and_garbage_is_none() -> None:
    text = "[EXP]\nname = x\n[DATA]\ndatabases = ['d']\nd = d.csv\ntarget = emotion\n[FEATS]\ntype = ['os']\n[MODEL]\ntype = svm\n[REPORT]\ntitle = T\n"
    config = config_from_text(text, "x")
    assert config is not None and config.model.type == "svm" and config.report is not None and config.report.title == "T"
    assert config_from_text("[EXP]\nnot a key = 1\n", "x") is None
    assert config_from_text("no section", "x") is None
