"""nkl explore on real EmoDB audio: end to end, a biased copy, bad input, and importance that never fits on test rows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.config import load_config
from nkl.context import RunContext
from nkl.explore import explore
from nkl.explore import importance as importance_module
from tests.conftest import TEST_SPEAKERS, write_ini


def explore_ini(tmp_path: Path, csv: Path, root: Path, expl: str, name: str = "exp") -> Path:
    return write_ini(tmp_path / f"{name}.ini", f"""
        [EXP]
        root = {root}
        name = {name}
        [DATA]
        databases = ['db']
        db = {csv}
        db.split_strategy = {TEST_SPEAKERS}
        target = emotion
        [FEATS]
        type = ['os']
        workers = 1
        [EXPL]
        """ + "\n".join(line.strip() for line in expl.strip().splitlines()) + "\n")


def run_explore(ini: Path):
    config = load_config(ini, purpose="data")
    return explore(RunContext(Workspace(config.exp.root), logging.getLogger("nkl.test")), config)


def test_emodb_value_counts_and_importance_end_to_end(ws_copy: Path, trained, tmp_path: Path) -> None:
    ini = explore_ini(tmp_path, trained.csv, ws_copy, """
        value_counts = [['gender'], ['age'], ['duration']]
        feature_distributions = True
        max_feats = 3
        scatter = ['pca', 'tsne']
        """)
    result = run_explore(ini)
    scatter = pl.read_parquet(ws_copy / "tables" / "scatter" / "exp.parquet")
    assert scatter.group_by("method").len().sort("method")["len"].to_list() == [60, 60]  # both projections, every sample
    bias = result.bias
    for attribute in ("gender", "age"):
        levels = set(bias.filter(pl.col("attribute") == attribute)["level"])
        assert levels == {"samples", "speakers"}, attribute
    assert bias.filter(pl.col("test") != "ccc")["p_adj"].null_count() == 0
    assert (bias["p_adj"].drop_nulls() >= bias.filter(pl.col("p_adj").is_not_null())["p"]).all()  # BH never lowers a p-value
    # every EmoDB file here lasts 2.0 s: duration has one value, which is said, and the rest still ran
    assert any("'duration' has one value" in n for n in result.notes)
    top = result.importance.filter(pl.col("method") == "log_reg").sort("rank").head(3)["feature"].to_list()
    assert set(bias.filter(pl.col("source") == "feature")["attribute"]) == set(top)
    kinds = set(pl.read_parquet(ws_copy / "tables" / "artifacts" / "explore-exp.parquet")["kind"])
    assert {"distribution", "value_counts", "importance"} <= kinds
    for row in result.artifacts:
        assert (ws_copy / row["path"]).stat().st_size > 0 and (ws_copy / row["vega_lite"]).is_file()
    test_samples = set(pl.read_parquet(ws_copy / "tables" / "splits" / "exp.parquet").filter(pl.col("split") == "test")["sample"])
    assert set(result.eval_samples) == test_samples and not set(result.fit_samples) & test_samples


def test_importance_never_fits_on_test_rows(ws_copy: Path, trained, tmp_path: Path, monkeypatch) -> None:
    fitted: list[np.ndarray] = []
    real_build = importance_module.build_model

    class Spy:
        def __init__(self, pipeline) -> None:
            self.pipeline = pipeline

        def fit(self, X, y):
            fitted.append(np.array(X))
            self.pipeline.fit(X, y)
            return self

        def __getattr__(self, name):
            return getattr(self.pipeline, name)

        def __getitem__(self, i):
            return self.pipeline[i]

    monkeypatch.setattr(importance_module, "build_model", lambda *a: Spy(real_build(*a)))
    ini = explore_ini(tmp_path, trained.csv, ws_copy, "feature_distributions = True\nmax_feats = 2\nmodel = ['log_reg', 'tree']")
    config = load_config(ini, purpose="data")
    ctx = RunContext(Workspace(config.exp.root), logging.getLogger("nkl.test"))
    from nkl.explore.samples import explore_samples

    df, task = explore_samples(ctx, config)
    data = importance_module.feature_data(ctx, config, df, "emotion", task)
    test_rows = data.X[data.samples["split"].to_numpy() == "test"]
    result = importance_module.feature_importance(data, ["log_reg", "tree"], task, permutation=False, seed=42, log=ctx.log)
    assert len(fitted) == 2
    for X in fitted:
        assert len(X) == int((data.samples["split"] != "test").sum())
        # no fitted row equals any test row (every file here is a distinct recording)
        assert not (np.abs(X[:, None, :] - test_rows[None, :, :]).max(axis=2) == 0).any()
    assert set(result.table["method"]) == {"log_reg", "tree", "mean"}


def biased_csv(csv: Path, tmp_path: Path, single_class: bool = False) -> Path:
    """A copy whose 'pitchy' column depends on the emotion by construction and whose 'coin' column does not."""
    table = pl.read_csv(csv, infer_schema=False)
    rng = np.random.default_rng(7)
    classes = sorted(table["emotion"].unique().to_list())
    shift = {c: 10.0 * i for i, c in enumerate(classes)}
    table = table.with_columns(
        pitchy=pl.Series([shift[e] + rng.normal(0, 3) for e in table["emotion"].to_list()]),
        coin=pl.Series(rng.normal(0, 1, table.height)),
        constant=pl.lit(5.0), empty=pl.lit(None, dtype=pl.Float64),
    )
    if single_class:
        table = table.with_columns(emotion=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("surprise")).otherwise(pl.col("emotion")))
    path = tmp_path / "biased.csv"
    table.write_csv(path)
    return path


def test_injected_dependency_is_found_and_independent_one_is_not(balanced_csv: Path, tmp_path: Path) -> None:
    ini = explore_ini(tmp_path, biased_csv(balanced_csv, tmp_path), tmp_path / "ws", "value_counts = [['pitchy'], ['coin']]")
    bias = run_explore(ini).bias.filter(pl.col("level") == "samples")
    injected = bias.filter((pl.col("attribute") == "pitchy") & (pl.col("test") == "kruskal_wallis")).row(0, named=True)
    independent = bias.filter((pl.col("attribute") == "coin") & (pl.col("test") == "kruskal_wallis")).row(0, named=True)
    assert injected["p_adj"] < 0.01 and injected["effect_label"] == "large" and injected["verdict"] == "significant"
    assert independent["p_adj"] > 0.05 and independent["verdict"] == "not significant"


def test_bad_input_gives_one_message_each_and_the_rest_runs(balanced_csv: Path, tmp_path: Path) -> None:
    ini = explore_ini(tmp_path, biased_csv(balanced_csv, tmp_path, single_class=True), tmp_path / "ws",
                      "value_counts = [['nothere'], ['constant'], ['empty'], ['pitchy'], ['gender']]")
    result = run_explore(ini)
    notes = "\n".join(result.notes)
    assert "'nothere' does not exist" in notes and "Columns:" in notes
    assert "'constant' has one value ('5.0')" in notes
    assert "'empty' has no values in the explored samples (all missing)" in notes
    assert "class 'surprise' has a single unit" in notes
    assert {"pitchy", "gender"} <= set(result.bias["attribute"])
    kruskal = result.bias.filter((pl.col("attribute") == "pitchy") & (pl.col("level") == "samples") & (pl.col("test") == "kruskal_wallis"))
    assert kruskal["groups"][0] == "7 groups"  # surprise left out, the seven real classes tested


def test_cli_explore_prints_findings_and_tables_are_queryable(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    ini = explore_ini(tmp_path, biased_csv(balanced_csv, tmp_path), tmp_path / "ws", "value_counts = [['pitchy'], ['coin']]")
    done = run_cli("explore", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[1].startswith("• emotion depends on pitchy: Kruskal–Wallis p_adj < 0.001, large effect")
    assert any("no evidence that emotion depends on coin" in line for line in lines)
    query = run_cli("query", "-w", tmp_path / "ws", "select count(*) n from bias where p_adj is null and test <> 'ccc'", "-f", "csv", cwd=tmp_path)
    assert query.returncode == 0 and query.stdout.split() == ["n", "0"], query.stderr
