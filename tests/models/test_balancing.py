"""`[FEATS] balancing` resamples only the rows a model trains on (never dev, test or a fold's held-out part), and
`split_strategy = balanced` gives speaker-disjoint splits whose test classes follow the whole's."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.config import load_config
from nkl.context import RunContext
from nkl.data.splits import assign_splits
from nkl.errors import ConfigError
from nkl.models import balancing
from nkl.models.train import Design, fit_and_predict
from nkl.plan import Plan

LOG = logging.getLogger("nkl.test")


def config(tmp_path: Path, feats: str = "", model: str = "svm", extra_model: str = "", split: str = "speaker_split",
           exp: str = "") -> object:
    ini = tmp_path / "c.ini"
    ini.write_text(f"[EXP]\nroot = {tmp_path / 'ws'}\nname = b\n{exp}[DATA]\ndatabases = ['db']\ndb = {tmp_path / 'db.csv'}\n"
                   f"db.split_strategy = {split}\ntarget = emotion\n[FEATS]\ntype = ['os']\n{feats}[MODEL]\ntype = {model}\n{extra_model}")
    return load_config(ini)


def imbalanced_design(n_speakers: int = 8, per_speaker: int = 20, seed: int = 0) -> Design:
    """Column 0 of X is the row's id (no scaling is used, so fitted rows can be traced back); 3 classes, 1:2:7."""
    rng = np.random.default_rng(seed)
    n = n_speakers * per_speaker
    y = rng.choice(3, size=n, p=[0.1, 0.2, 0.7])
    X = np.column_stack([np.arange(n, dtype=float), rng.normal(size=(n, 4)) + y[:, None]])
    speakers = np.repeat([f"s{i}" for i in range(n_speakers)], per_speaker)
    split = np.where(np.isin(speakers, ["s0", "s1"]), "test", np.where(speakers == "s2", "dev", "train"))
    labels = ["a", "b", "c"]
    samples = pl.DataFrame({"sample": [f"x{i:04d}" for i in range(n)], "split": split, "speaker": speakers, "database": ["db"] * n,
                            "truth": [labels[k] for k in y]})
    return Design(samples=samples, X=X, columns=[f"f{i}" for i in range(5)], y=y, labels=labels, task="classification")


@pytest.fixture
def spy(monkeypatch):
    calls: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    real = balancing.balance

    def recording(name, X, y, seed):
        out_X, out_y = real(name, X, y, seed)
        calls.append((X[:, 0].astype(int), y, out_y))
        return out_X, out_y

    monkeypatch.setattr(balancing, "balance", recording)
    return calls


@pytest.mark.parametrize("sampler", ["ros", "smote", "rus", "smotetomek"])
def test_balancing_sees_only_training_rows(tmp_path: Path, spy, sampler: str) -> None:
    design = imbalanced_design()
    c = config(tmp_path, f"balancing = {sampler}\n", exp="traindevtest = True\n")
    predictions, _ = fit_and_predict(c, design, LOG)
    split = design.samples["split"].to_numpy()
    assert len(spy) == 1
    ids, _, y_out = spy[0]
    assert set(ids.tolist()) == set(np.flatnonzero(split == "train").tolist())  # exactly the train rows: no dev, no test
    if sampler in ("ros", "rus"):
        assert len(set(np.bincount(y_out).tolist())) == 1  # classes equal after random over/under-sampling
    assert set(predictions["split"].to_list()) == {"dev", "test"}


def test_balancing_in_speaker_folds_never_sees_the_held_out_fold(tmp_path: Path, spy) -> None:
    design = imbalanced_design()
    c = config(tmp_path, "balancing = smote\n", extra_model="logo = 4\n")
    predictions, _ = fit_and_predict(c, design, LOG)
    folds = predictions.filter(pl.col("split") == "logo")
    ids = {s: int(s[1:]) for s in design.samples["sample"].to_list()}
    for k, (fitted, _, _) in enumerate(spy[:4]):
        held_out = {ids[s] for s in folds.filter(pl.col("fold") == k)["sample"].to_list()}
        assert held_out and not held_out & set(fitted.tolist())


def test_balancing_mistakes_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown value 'smoth'.*did you mean 'smote'"):
        config(tmp_path, "balancing = smoth\n")
    with pytest.raises(ConfigError, match="needs a classification experiment"):
        Plan(config(tmp_path, "balancing = ros\n", model="svr"))


def test_balancing_enters_the_plan_hash_only_when_set(tmp_path: Path) -> None:
    plain = Plan(config(tmp_path)).hash_inputs()
    assert "balancing" not in plain
    assert Plan(config(tmp_path, "balancing = none\n")).hash_inputs() == plain
    assert Plan(config(tmp_path, "balancing = smote\n")).hash_inputs()["balancing"] == "smote"


def test_balanced_split_is_speaker_disjoint_and_stratified(tmp_path: Path, emodb_table: pl.DataFrame) -> None:
    c = config(tmp_path, split="balanced", exp="traindevtest = True\n")
    df = emodb_table.with_columns(sample=pl.col("file"), database=pl.lit("db"), content_key=pl.col("file"))
    out, split_hash = assign_splits(RunContext(None, LOG), c, df)  # type: ignore[arg-type]
    _, same_hash = assign_splits(RunContext(None, LOG), c, df)  # type: ignore[arg-type]
    assert split_hash == same_hash
    speakers = {s: set(out.filter(pl.col("split") == s)["speaker"].to_list()) for s in ("train", "dev", "test")}
    assert all(speakers.values()) and not (speakers["train"] & speakers["test"]) and not (speakers["dev"] & speakers["test"])
    overall = df["emotion"].value_counts(normalize=True).sort("emotion")["proportion"].to_numpy()
    test = out.filter(pl.col("split") == "test")["emotion"].value_counts(normalize=True).sort("emotion")["proportion"].to_numpy()
    assert len(test) == len(overall) and np.abs(test - overall).sum() < 0.25
