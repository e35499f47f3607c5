"""Ctrl-C during extraction keeps what was written; the next run extracts only the rest."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl


def _nkl(*args: str) -> list[str]:
    return [sys.executable, "-m", "nkl.cli.app", *args]


def test_interrupted_run_resumes(emodb, emodb_table, tmp_path: Path, make_ini) -> None:
    csv = tmp_path / "subset.csv"
    rows = emodb_table.sort("file").group_by("speaker", maintain_order=True).head(20)
    rows.with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file")).write_csv(csv)
    ini = make_ini(csv, name="resume")
    ini.write_text(ini.read_text().replace("workers = 1", "workers = 2"))
    proc = subprocess.Popen(_nkl("run", str(ini)), cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    features = tmp_path / "ws" / "tables" / "features_os_egemapsv02"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(features.glob("*.parquet")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = sum(len(pl.read_parquet(p)) for p in features.glob("*.parquet"))
    assert 0 < kept < 200

    again = subprocess.run(_nkl("run", str(ini)), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    extracted, cached = map(int, re.search(r"features: (\d+) extracted, (\d+) from cache", again.stderr).groups())
    assert cached == kept
    assert extracted + cached == 200


def test_ctrl_c_inside_a_duckdb_query_exits_130_like_any_ctrl_c(monkeypatch, capsys) -> None:
    """DuckDB raises Ctrl-C inside a query as its InterruptException, which the catalog may wrap in one of nkl's errors."""
    import duckdb
    import pytest

    import nkl.cli.app as cli
    from nkl.errors import CatalogError, is_interrupt

    def wrapped() -> CatalogError:
        try:
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
        except duckdb.Error:
            try:
                raise CatalogError("cannot refresh the views: Interrupted!") from None
            except CatalogError as exc:
                return exc

    error = wrapped()
    assert is_interrupt(error) and is_interrupt(KeyboardInterrupt())
    assert not is_interrupt(CatalogError("a real error")) and not is_interrupt(ValueError("x"))

    def app(**kwargs):
        raise error

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 130
    assert "interrupted" in capsys.readouterr().err
