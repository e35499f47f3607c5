"""Bootstrap intervals: contain the estimate, repeat per seed, narrow with data, match the slow path."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nkl.evaluate import bootstrap_ci, classification_metrics, metric_table, regression_metrics
from nkl.evaluate.metrics import ccc

LABELS = ["anger", "happiness", "neutral", "sadness"]


def _classification_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    predicted = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 4, n))
    return np.array(LABELS)[truth], np.array(LABELS)[predicted]


def _regression_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    return truth, 0.8 * truth + rng.normal(scale=0.5, size=n)


def _by_metric(rows: list[dict]) -> dict[str, dict]:
    return {row["metric"]: row for row in rows}


def test_classification_table_has_every_metric_and_contains_the_estimates() -> None:
    truth, predicted = _classification_sample(200)
    rows = metric_table("classification", truth, predicted, LABELS, seed=0)
    point = classification_metrics(truth, predicted, LABELS)

    assert [row["metric"] for row in rows] == ["uar", "accuracy", "macro_f1"] + [f"f1_{label}" for label in LABELS]
    table = _by_metric(rows)
    assert table["uar"]["value"] == point["uar"]
    assert table["f1_neutral"]["value"] == point["per_class"]["neutral"]["f1"]
    for row in rows:
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
        assert row["ci_low"] < row["ci_high"]


def test_regression_table_has_every_metric_and_contains_the_estimates() -> None:
    truth, predicted = _regression_sample(200)
    rows = metric_table("regression", truth, predicted, None, seed=0)
    assert [row["metric"] for row in rows] == ["mse", "mae", "ccc", "pcc"]
    point = regression_metrics(truth, predicted)
    for row in rows:
        assert row["value"] == point[row["metric"]]
        assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_intervals_repeat_for_a_seed_and_change_with_it() -> None:
    truth, predicted = _classification_sample(100)
    first = metric_table("classification", truth, predicted, LABELS, seed=3, n_boot=200)
    assert metric_table("classification", truth, predicted, LABELS, seed=3, n_boot=200) == first
    assert metric_table("classification", truth, predicted, LABELS, seed=4, n_boot=200) != first


def test_intervals_narrow_with_more_data() -> None:
    small = _by_metric(metric_table("regression", *_regression_sample(50), None, seed=0))
    large = _by_metric(metric_table("regression", *_regression_sample(2000), None, seed=0))
    for name in ("mse", "ccc"):
        assert large[name]["ci_high"] - large[name]["ci_low"] < 0.5 * (small[name]["ci_high"] - small[name]["ci_low"])


def test_the_vectorised_table_matches_the_generic_bootstrap() -> None:
    truth, predicted = _classification_sample(120)
    table = _by_metric(metric_table("classification", truth, predicted, LABELS, seed=5, n_boot=300))
    slow = bootstrap_ci(lambda t, p: classification_metrics(t, p, LABELS)["uar"], truth, predicted, n_boot=300, seed=5)
    assert (table["uar"]["ci_low"], table["uar"]["ci_high"]) == pytest.approx(slow, abs=1e-12)

    values, estimates = _regression_sample(120)
    table = _by_metric(metric_table("regression", values, estimates, None, seed=5, n_boot=300))
    slow = bootstrap_ci(lambda t, p: float(ccc(t, p)), values, estimates, n_boot=300, seed=5)
    assert (table["ccc"]["ci_low"], table["ccc"]["ci_high"]) == pytest.approx(slow, abs=1e-12)


def test_a_smaller_alpha_gives_a_wider_interval() -> None:
    truth, predicted = _regression_sample(100)
    narrow = bootstrap_ci(lambda t, p: float(np.mean(np.abs(t - p))), truth, predicted, alpha=0.2)
    wide = bootstrap_ci(lambda t, p: float(np.mean(np.abs(t - p))), truth, predicted, alpha=0.01)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_a_rare_class_gets_a_finite_f1_interval() -> None:
    truth = np.array(["a"] * 60 + ["b"])
    predicted = np.array(["a"] * 59 + ["b", "b"])
    row = _by_metric(metric_table("classification", truth, predicted, ["a", "b"], seed=0))["f1_b"]
    # Resamples without the single "b" row are skipped rather than scored as 0.
    assert np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])
    assert row["ci_high"] == 1.0


def test_a_thousand_resamples_of_200_rows_take_well_under_a_second() -> None:
    truth, predicted = _classification_sample(200)
    values, estimates = _regression_sample(200)
    start = time.perf_counter()
    metric_table("classification", truth, predicted, LABELS, seed=0, n_boot=1000)
    metric_table("regression", values, estimates, None, seed=0, n_boot=1000)
    assert time.perf_counter() - start < 1.0
