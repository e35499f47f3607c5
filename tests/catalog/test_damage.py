"""Damaged parts and a damaged catalog.duckdb: quarantined or rebuilt with a warning, rows recomputed or reported lost,
never a traceback; `nkl catalog check` and `repair`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

FEATURES = "features_os_egemapsv02"


def _ini(trained, ws: Path) -> Path:
    ini = ws.parent / "exp.ini"
    ini.write_text(trained.ini.read_text().replace(str(trained.root), str(ws)))
    return ini


def _truncate(path: Path, size: int = 1000) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


def test_a_truncated_feature_part_is_quarantined_and_recomputed(trained, ws_copy: Path, run_cli) -> None:
    part = next((ws_copy / "tables" / FEATURES).glob("*.parquet"))
    lost = pl.read_parquet(part).height
    _truncate(part)
    check = run_cli("catalog", "check", "--workspace", ws_copy, cwd=ws_copy.parent)
    assert check.returncode == 1 and part.name[:20] in check.stdout and "truncated" in check.stdout
    assert part.exists()  # check changes nothing

    done = run_cli("run", _ini(trained, ws_copy), cwd=ws_copy.parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "cannot be read" in done.stderr and "computed again from the audio" in done.stderr
    assert (ws_copy / "tables" / ".quarantine" / FEATURES / part.name).exists() and not part.exists()
    assert f"features: {lost} extracted" in done.stderr
    assert pl.concat([pl.read_parquet(p) for p in (ws_copy / "tables" / FEATURES).glob("*.parquet")]).height == 60
    assert run_cli("catalog", "check", "--workspace", ws_copy, cwd=ws_copy.parent).returncode == 0


def test_a_truncated_results_part_names_the_experiment_to_rerun(ws_copy: Path, run_cli) -> None:
    _truncate(ws_copy / "tables" / "results" / "exp.parquet")
    done = run_cli("query", "select count(*) as n from runs", "--workspace", ws_copy, "--format", "csv", cwd=ws_copy.parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "rerun experiment 'exp' (nkl run)" in done.stderr
    missing = run_cli("query", "select * from results", "--workspace", ws_copy, cwd=ws_copy.parent)
    assert missing.returncode == 2 and "results" in missing.stderr and "Traceback" not in missing.stderr


def test_a_damaged_catalog_file_is_rebuilt(ws_copy: Path, run_cli) -> None:
    assert run_cli("catalog", "--workspace", ws_copy, cwd=ws_copy.parent).returncode == 0
    (ws_copy / "catalog.duckdb").write_bytes(b"not a database " * 1000)
    check = run_cli("catalog", "check", "--workspace", ws_copy, cwd=ws_copy.parent)
    assert check.returncode == 1 and "catalog.duckdb" in check.stdout
    done = run_cli("query", "select count(*) as n from predictions", "--workspace", ws_copy, "--format", "csv", cwd=ws_copy.parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "rebuilt from the Parquet tables" in done.stderr and int(done.stdout.split()[-1]) > 0


def test_repair_quarantines_and_rebuilds(ws_copy: Path, run_cli) -> None:
    _truncate(ws_copy / "tables" / "predictions" / "exp.parquet", 10)
    (ws_copy / "catalog.duckdb").write_bytes(b"\0" * 4096)
    repaired = run_cli("catalog", "repair", "--workspace", ws_copy, cwd=ws_copy.parent)
    assert repaired.returncode == 0 and "Traceback" not in repaired.stderr, repaired.stderr
    assert "quarantined tables/predictions/exp.parquet" in repaired.stderr and "rerun experiment 'exp'" in repaired.stderr
    assert (ws_copy / "tables" / ".quarantine" / "predictions" / "exp.parquet").exists()
    assert run_cli("catalog", "check", "--workspace", ws_copy, cwd=ws_copy.parent).returncode == 0
