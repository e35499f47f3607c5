"""`nkl predict CONFIG`: [PREDICT] targets fill `estimates` for every sample, content-addressed."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nkl


def _ini(tmp_path: Path, csv: Path, targets: str = "['snr']", extra: str = "") -> Path:
    path = tmp_path / "predict.ini"
    path.write_text(textwrap.dedent(f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = estimates
        [DATA]
        databases = ['db']
        db = {csv}
        target = emotion
        [PREDICT]
        targets = {targets}
        {extra}
        """).lstrip())
    return path


def test_snr_for_every_sample_then_nothing_twice(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    ini = _ini(tmp_path, balanced_csv)
    first = run_cli("predict", ini, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "60 computed, 0 from cache" in " ".join(first.stderr.split())
    catalog = nkl.connect(tmp_path / "ws")
    rows = catalog.sql("select gender, count(*) n, avg(est_snr) snr from samples join estimates using (sample) group by gender")
    assert sorted(rows["gender"].to_list()) == ["female", "male"] and rows["n"].sum() == 60
    assert ((rows["snr"] > 0) & (rows["snr"] < 60)).all()
    second = run_cli("predict", ini, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 computed, 60 from cache" in " ".join(second.stderr.split())


def test_unknown_target_is_a_config_error_before_any_work(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    done = run_cli("predict", _ini(tmp_path, balanced_csv, "['snt']"), cwd=tmp_path)
    assert done.returncode == 2
    assert "Unknown prediction target 'snt'" in done.stderr and "did you mean 'snr'" in done.stderr
    assert not (tmp_path / "ws").exists()


def test_estimates_for_files_go_to_a_csv(balanced_csv: Path, tmp_path: Path, run_cli) -> None:
    import polars as pl

    wavs = pl.read_csv(balanced_csv)["file"].head(4).to_list()
    out = tmp_path / "snr.csv"
    done = run_cli("predict", "--model", "snr", "--file", *wavs, "-w", tmp_path / "ws", "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pl.read_csv(out)
    assert sorted(table["file"].to_list()) == sorted(wavs) and table["est_snr"].is_not_null().all()
    assert re.search(r"4 computed", " ".join(done.stderr.split()))
