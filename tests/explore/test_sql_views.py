"""Every file of sql/ runs on a small hand-made catalog and gives the expected rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from nkl.catalog.sql_views import sql_dir, sql_files
from nkl.catalog.workspace import Workspace

SAMPLES = pl.DataFrame({
    "sample": [f"db/{i}.wav" for i in range(8)], "database": ["db"] * 8, "file": [f"/x/{i}.wav" for i in range(8)],
    "start": [None] * 8, "end": [None] * 8, "duration": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    "speaker": ["a", "a", "b", "b", "c", "c", "d", "d"], "gender": ["female", "female", "male", "male", "female", "female", "male", "male"],
    "emotion": ["angry", "sad", "angry", "sad", "angry", "sad", "angry", "sad"], "mood": [None] * 8,
    "content_key": [f"k{i}" for i in range(8)],
}, schema_overrides={"start": pl.Float64, "end": pl.Float64, "mood": pl.String})


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.write_part("samples", "db", SAMPLES)
    ws.write_part("splits", "e", pl.DataFrame({"experiment": "e", "sample": SAMPLES["sample"], "split": ["train"] * 4 + ["test"] * 4,
                                               "split_hash": "h"}))
    test = SAMPLES["sample"][4:]
    ws.write_part("predictions", "e", pl.DataFrame({
        "experiment": "e", "run": 0, "fold": -1, "sample": test, "speaker": ["c", "c", "d", "d"], "split": "test",
        "truth": ["angry", "sad", "angry", "sad"], "predicted": ["angry", "sad", "sad", "sad"]}))
    ws.write_part("runs", "e", pl.DataFrame({"experiment": ["e"], "status": ["done"], "best_run": [0],
                                             "start": [datetime(2026, 1, 1, tzinfo=UTC)]}))
    ws.write_part("results", "e", pl.DataFrame({"experiment": ["e"], "run": [0], "split": ["test"], "metric": ["uar"], "value": [0.75]}))
    ws.write_part("explore_samples", "e", pl.DataFrame({"experiment": "e", "sample": SAMPLES["sample"], "speaker": SAMPLES["speaker"],
                                                        "split": "train", "target": SAMPLES["emotion"], "target_num": None},
                                                       schema_overrides={"target_num": pl.Float64}))
    return ws


def rows(ws: Workspace, sql: str) -> list[tuple]:
    con = ws.connect()
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_every_sql_file_is_tested_here() -> None:
    names = {f.name for f in sql_files()}
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert names <= tested, names - tested
    assert sql_dir() == Path(__file__).resolve().parents[2] / "sql"


def test_sample_columns(ws: Workspace) -> None:
    assert rows(ws, "select count(*), count(distinct sample) from sample_columns") == [(8, 8)]


def test_sample_columns_plain(ws: Workspace) -> None:
    # no estimates tables: the plain file defines sample_columns; with estimates the other one does (tested in test_explore)
    con = ws.connect()
    assert "estimates" not in {r[0] for r in con.sql("select view_name from duckdb_views()").fetchall()}
    con.close()
    assert rows(ws, "select gender from sample_columns where sample = 'db/0.wav'") == [("female",)]


def test_sample_attributes(ws: Workspace) -> None:
    got = dict(rows(ws, "select attribute, count(value) from sample_attributes group by 1"))
    assert got == {"duration": 8, "speaker": 8, "gender": 8, "emotion": 8, "mood": 0}
    assert rows(ws, "select value_num from sample_attributes where sample = 'db/2.wav' and attribute = 'duration'") == [(3.0,)]


def test_attribute_kinds(ws: Workspace) -> None:
    got = {r[0]: r[1:] for r in rows(ws, "select attribute, kind, n, n_distinct, q_low, q_high from attribute_kinds")}
    assert got["duration"][:3] == ("numeric", 8, 8)
    assert got["duration"][3] == pytest.approx(1 + 7 / 3) and got["duration"][4] == pytest.approx(1 + 14 / 3)
    assert got["gender"][:3] == ("categorical", 8, 2)
    assert got["mood"][1] == 0 and got["speaker"][0] == "categorical"


def test_sample_groups(ws: Workspace) -> None:
    got = rows(ws, "select \"group\", count(*) from sample_groups where attribute = 'duration' group by 1 order by 1")
    assert got == [("0_low", 3), ("1_middle", 2), ("2_high", 3)]
    assert rows(ws, "select count(*) from sample_groups where attribute = 'mood'") == [(0,)]


def test_value_distribution(ws: Workspace) -> None:
    got = rows(ws, "select \"group\", n_samples, n_speakers, duration_total from value_distribution where attribute = 'emotion' order by 1")
    assert got == [("angry", 4, 4, 16.0), ("sad", 4, 4, 20.0)]


def test_split_distribution(ws: Workspace) -> None:
    got = rows(ws, "select split, \"group\", n_samples, n_speakers from split_distribution where attribute = 'gender' order by 1, 2")
    assert got == [("test", "female", 2, 1), ("test", "male", 2, 1), ("train", "female", 2, 1), ("train", "male", 2, 1)]


def test_evaluated_predictions(ws: Workspace) -> None:
    assert rows(ws, "select count(*) from evaluated_predictions where experiment = 'e'") == [(4,)]


def test_ensemble_results(ws: Workspace) -> None:
    assert rows(ws, "select count(*) from ensemble_results") == [(0,)]  # an ordinary experiment is no ensemble
    members = '{"method": "mean", "members": ["e", "f"], "weights_from": ""}'
    ws.write_part("runs", "ens", pl.DataFrame({"experiment": ["ens"], "status": ["done"], "best_run": [0], "members": [members],
                                               "start": [datetime(2026, 1, 2, tzinfo=UTC)]}))
    ws.write_part("results", "ens", pl.DataFrame({"experiment": ["ens"], "run": [0], "split": ["test"], "metric": ["uar"], "value": [0.8]}))
    assert rows(ws, "select experiment, method, members, metric, value from ensemble_results") == [("ens", "mean", ["e", "f"], "uar", 0.8)]


def test_group_class_recall(ws: Workspace) -> None:
    got = rows(ws, "select \"group\", class, n, recall from group_class_recall where attribute = 'gender' order by 1, 2")
    assert got == [("female", "angry", 1, 1.0), ("female", "sad", 1, 1.0), ("male", "angry", 1, 0.0), ("male", "sad", 1, 1.0)]


def test_group_metrics(ws: Workspace) -> None:
    got = rows(ws, "select \"group\", n, n_speakers, uar, accuracy from group_metrics where attribute = 'gender' order by 1")
    assert got == [("female", 2, 1, 1.0, 1.0), ("male", 2, 1, 0.5, 0.5)]


def test_confusion_counts(ws: Workspace) -> None:
    got = rows(ws, "select truth, predicted, n from confusion_counts order by 1, 2")
    assert got == [("angry", "angry", 1), ("angry", "sad", 1), ("sad", "sad", 2)]


def test_test_units(ws: Workspace) -> None:
    samples = rows(ws, "select count(*) from test_units('e', 'duration', 'categorical', 'numeric', 'samples')")
    assert samples == [(8,)]
    # a speaker is one unit: one mean per speaker and class
    speakers = rows(ws, "select unit, y_group, x_num from test_units('e', 'duration', 'categorical', 'numeric', 'speakers') order by 1, 2")
    assert speakers[:2] == [("a", "angry", 1.0), ("a", "sad", 2.0)] and len(speakers) == 8
    per_speaker = rows(ws, "select unit, x_group, count(*) from test_units('e', 'gender', 'categorical', 'categorical', 'speakers') "
                           "group by all order by 1")
    assert [r[2] for r in per_speaker] == [2, 2, 2, 2]
    binned = rows(ws, "select distinct x_group from test_units('e', 'duration', 'categorical', 'binned', 'samples') order by 1")
    assert binned == [("0_low",), ("1_middle",), ("2_high",)]


def test_views_disappear_when_their_tables_go(ws: Workspace) -> None:
    ws.delete_parts("predictions", "e")
    con = ws.connect()
    views = {r[0] for r in con.sql("select view_name from duckdb_views() where not internal").fetchall()}
    con.close()
    assert "group_metrics" not in views and "sample_groups" in views


def test_views_are_installed_again_only_when_their_inputs_change(ws: Workspace) -> None:
    """Writing a part of a table whose columns stay the same does not run sql/ again; a new table or column does."""
    from nkl.catalog import sql_views

    installs: list[list[str]] = []
    original = sql_views.install_sql_views

    def counting(con, files=None):
        installs.append(original(con, files))
        return installs[-1]

    import nkl.catalog.workspace as workspace_module

    workspace_module.install_sql_views = counting
    try:
        ws.write_part("results", "e2", pl.DataFrame({"experiment": ["e2"], "run": [0], "split": ["test"], "metric": ["uar"], "value": [0.5]}))
        assert installs[-1] == []  # same relations, same columns: nothing to redo
        assert rows(ws, "select count(*) from group_metrics") == rows(ws, "select count(*) from group_metrics")
        ws.write_part("bias", "e", pl.DataFrame({"experiment": ["e"], "attribute": ["gender"], "p_adj": [0.5]}))
        assert installs[-1], "a new table must install the views again"
    finally:
        workspace_module.install_sql_views = original
    assert rows(ws, "select count(*) from evaluated_predictions") == [(4,)]
