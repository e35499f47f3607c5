"""SHAP importance on held-out rows finds the one feature that carries the class (slow: importing shap takes ~30 s)."""

import numpy as np
import polars as pl
import pytest

from nkl.explore.importance import FeatureData, shap_importance


@pytest.mark.slow
def test_shap_ranks_the_informative_feature_first() -> None:
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 40)
    X = rng.normal(size=(80, 6))
    X[:, 2] += (y == "a") * 3
    samples = pl.DataFrame({"sample": [str(i) for i in range(80)], "speaker": [str(i % 8) for i in range(80)],
                            "split": ["train"] * 60 + ["test"] * 20})
    table = shap_importance(FeatureData(samples, X, [f"f{i}" for i in range(6)], y), "log_reg", "classification", 0)
    assert table["feature"][0] == "f2" and table["importance"][0] > 5 * table["importance"][1]
