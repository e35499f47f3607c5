"""A run refreshes the catalog's views once for all its writes, and nobody reads a stale view meanwhile."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from nkl.catalog import Catalog
from nkl.catalog.workspace import Workspace


def _rows(name: str, uar: float) -> pl.DataFrame:
    return pl.DataFrame({"experiment": [name], "metric": ["uar"], "value": [uar]})


@pytest.fixture
def watched(tmp_path: Path, monkeypatch) -> tuple[Workspace, list[list[str]]]:
    """A workspace with one results part, and the list of view refreshes made from then on (tables of each)."""
    ws = Workspace(tmp_path / "ws")
    ws.write_part("results", "old", _rows("old", 0.1))
    calls: list[list[str]] = []
    real = ws._refresh_now
    monkeypatch.setattr(ws, "_refresh_now", lambda tables: (calls.append(list(tables)), real(tables))[1])
    return ws, calls


def test_writes_in_a_block_refresh_the_views_once_at_its_end(watched) -> None:
    ws, calls = watched
    with ws.deferred_views():
        ws.write_part("results", "a", _rows("a", 0.5))
        ws.write_part("splits", "a", pl.DataFrame({"experiment": ["a"], "sample": ["s1"], "split": ["test"], "split_hash": ["h"]}))
        ws.write_part("results", "b", _rows("b", 0.6))
        assert calls == []
    assert calls == [["results", "splits"]]
    assert Catalog(ws.root).sql("select experiment from results order by 1")["experiment"].to_list() == ["a", "b", "old"]
    assert Catalog(ws.root).sql("select count(*) n from splits")["n"].item() == 1


def test_a_connection_inside_the_block_sees_every_write_so_far(watched) -> None:
    ws, calls = watched
    with ws.deferred_views():
        ws.write_part("results", "a", _rows("a", 0.5))
        con = ws.connect(read_only=True)
        try:
            assert con.execute("select count(*) from results").fetchone()[0] == 2
        finally:
            con.close()
        ws.write_part("results", "b", _rows("b", 0.6))
    assert calls == [["results"], ["results"]]
    assert Catalog(ws.root).sql("select count(*) n from results")["n"].item() == 3


def test_an_interrupted_block_still_points_the_views_at_what_was_written(watched) -> None:
    ws, _ = watched
    with pytest.raises(KeyboardInterrupt), ws.deferred_views():
        ws.write_part("results", "a", _rows("a", 0.5))
        raise KeyboardInterrupt
    assert Catalog(ws.root).sql("select count(*) n from results")["n"].item() == 2
