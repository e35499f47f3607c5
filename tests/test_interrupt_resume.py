"""Ctrl-C during extraction keeps what was written; the next run extracts only the rest."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import interrupt_then_rerun, write_subset


def test_interrupted_run_resumes(emodb, emodb_table, tmp_path: Path, make_ini) -> None:
    csv = write_subset(emodb, emodb_table, tmp_path / "subset.csv", per_speaker=20)
    ini = make_ini(csv, name="resume")
    ini.write_text(ini.read_text().replace("workers = 1", "workers = 2"))
    kept, extracted, cached, _ = interrupt_then_rerun(ini, tmp_path)
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
