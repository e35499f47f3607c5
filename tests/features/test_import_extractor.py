"""type = ['import']: precomputed features from CSV or Parquet, matched to real EmoDB files by path (and segment)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile

import nkl
from nkl.errors import ConfigError, DataError
from nkl.features.import_extractor import ImportExtractor
from tests.conftest import write_ini


def signal_features(path: str) -> dict[str, float]:
    """A few real measurements of one file (what a user's own tool might have exported)."""
    samples, rate = soundfile.read(path, dtype="float64")
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return {"rms": float(np.sqrt(np.mean(samples**2))), "zcr": float(np.mean(np.abs(np.diff(np.sign(samples))) > 0)),
            "centroid": float((spectrum * freqs).sum() / spectrum.sum()), "peak": float(np.abs(samples).max())}


@pytest.fixture(scope="module")
def exported(balanced_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An nkululeko-style export: relative paths (wav/x.wav), pandas-timedelta start/end, one column per feature."""
    files = pl.read_csv(balanced_csv)["file"].to_list()
    rows = [{"file": "/".join(Path(f).parts[-2:]), "start": "0 days 00:00:00", "end": "NaT", **signal_features(f)} for f in files]
    path = tmp_path_factory.mktemp("import") / "feats.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def samples_of(csv: Path, n: int | None = None) -> pl.DataFrame:
    files = pl.read_csv(csv)["file"].to_list()[:n]
    return pl.DataFrame({"content_key": [f"k{i}" for i in range(len(files))], "file": files, "start": [0.0] * len(files),
                         "end": [None] * len(files)}, schema={"content_key": pl.String, "file": pl.String, "start": pl.Float64, "end": pl.Float64})


def test_rows_match_by_relative_path_and_values_are_the_files(exported, balanced_csv):
    extractor = ImportExtractor({"file": [str(exported)]})
    extractor.validate()
    names, rows, failures = extractor.rows_for(samples_of(balanced_csv))
    assert names == ["rms", "zcr", "centroid", "peak"] and not failures and len(rows) == 60
    first = pl.read_csv(balanced_csv)["file"][0]
    expected = signal_features(first)
    assert np.allclose(rows[0][1], [expected[n] for n in names])


def test_missing_rows_become_failures_and_nan_rows_warn(exported, balanced_csv, tmp_path, caplog):
    table = pl.read_csv(exported)
    table = table.head(55).with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("rms")).alias("rms"))
    edited = tmp_path / "part.csv"
    table.write_csv(edited)
    with caplog.at_level(logging.WARNING):
        _, rows, failures = ImportExtractor({"file": [str(edited)]}).rows_for(samples_of(balanced_csv))
    assert len(rows) == 55 and len(failures) == 5 and all("no row" in reason for _, reason in failures)
    assert np.isnan(rows[3][1][0]) and "1 of 55 rows have missing feature values" in caplog.text


def test_bad_files_fail_in_one_line_naming_the_file(exported, balanced_csv, tmp_path):
    table = pl.read_csv(exported)
    narrow = tmp_path / "narrow.csv"
    table.drop("peak").write_csv(narrow)
    with pytest.raises(DataError, match=r"narrow.csv has other feature columns .*missing \['peak'\]"):
        ImportExtractor({"file": [str(exported), str(narrow)]}).validate()
    texty = tmp_path / "texty.csv"
    table.with_columns(pl.col("rms").cast(pl.String).replace({table["rms"].cast(pl.String)[4]: "loud"})).write_csv(texty)
    with pytest.raises(DataError, match=r"texty.csv, row 6, column 'rms': 'loud' is not a number"):
        ImportExtractor({"file": [str(texty)]}).validate()
    doubled = tmp_path / "doubled.csv"
    pl.concat([table, table.head(1)]).write_csv(doubled)
    with pytest.raises(DataError, match="has more than one row"):
        ImportExtractor({"file": [str(doubled)]}).validate()
    with pytest.raises(ConfigError, match="does not exist"):
        ImportExtractor({"file": [str(tmp_path / "nope.csv")]}).validate()
    with pytest.raises(ConfigError, match="needs import_file"):
        ImportExtractor().validate()
    unrelated = tmp_path / "unrelated.csv"
    table.with_columns(pl.concat_str(pl.lit("other/"), pl.col("file")).alias("file")).write_csv(unrelated)
    with pytest.raises(DataError, match="none of the 60 samples has a row"):
        ImportExtractor({"file": [str(unrelated)]}).rows_for(samples_of(balanced_csv))


def test_columns_joined_from_two_files_and_parquet_input(exported, balanced_csv, tmp_path):
    table = pl.read_csv(exported)
    left, right = tmp_path / "left.parquet", tmp_path / "right.csv"
    table.select("file", "start", "end", "rms", "zcr").write_parquet(left)
    table.select("file", "start", "end", "centroid", "peak").write_csv(right)
    names, rows, failures = ImportExtractor({"file": [str(left), str(right)], "append": False}).rows_for(samples_of(balanced_csv))
    assert names == ["rms", "zcr", "centroid", "peak"] and len(rows) == 60 and not failures
    whole = dict(ImportExtractor({"file": [str(exported)]}).rows_for(samples_of(balanced_csv))[1])
    assert all(np.allclose(values, whole[k]) for k, values in rows)


def test_segments_match_by_bounds(balanced_csv, tmp_path):
    file = pl.read_csv(balanced_csv)["file"][0]
    feats = tmp_path / "segments.csv"
    pl.DataFrame({"file": [file, file], "start": ["0 days 00:00:00", "0 days 00:00:01"], "end": ["0 days 00:00:01", "0 days 00:00:02"],
                  "x": [1.0, 2.0]}).write_csv(feats)
    samples = pl.DataFrame({"content_key": ["a", "b", "c", "d"], "file": [file] * 4, "start": [1.0, 0.0, 0.5, 0.0],
                            "end": [2.0, 1.0, 1.5, 2.0], "file_duration": [2.0] * 4})
    _, rows, failures = ImportExtractor({"file": [str(feats)]}).rows_for(samples)
    assert dict((k, v[0]) for k, v in rows) == {"a": 2.0, "b": 1.0} and [k for k, _ in failures] == ["c", "d"]
    whole = tmp_path / "whole.csv"
    pl.DataFrame({"file": [file], "x": [7.0]}).write_csv(whole)  # no start/end: the whole file (end = its duration)
    _, rows, failures = ImportExtractor({"file": [str(whole)]}).rows_for(samples)
    assert [k for k, _ in rows] == ["d"] and len(failures) == 3


def test_nkululeko_import_ini_runs_and_an_edited_file_is_not_served_stale(exported, balanced_csv, run_cli, tmp_path):
    feats = tmp_path / "feats.csv"
    feats.write_bytes(exported.read_bytes())
    ini = write_ini(tmp_path / "import.ini", f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = exp_import
        [DATA]
        databases = ['emodb']
        emodb = {balanced_csv}
        emodb.split_strategy = speaker_split
        emodb.test_size = 40
        target = emotion
        [FEATS]
        type = ['import']
        import_file = ['{feats}']
        import_files_append = True
        scale = standard
        [MODEL]
        type = svm
        """)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    table = catalog.sql("select * from features_import")
    assert table.height == 60 and {"rms", "zcr", "centroid", "peak"} <= set(table.columns)
    assert 0.0 < catalog.sql("select value from results where metric = 'uar' and split = 'test'")["value"][0] <= 1.0
    explained = run_cli("explain", ini, cwd=tmp_path)
    assert "features_import" in explained.stdout and "cached: 60 of 60" in " ".join(explained.stdout.split())
    pl.read_csv(feats).with_columns(pl.col("rms") * 2).write_csv(feats)
    again = run_cli("run", ini, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    specs = catalog.sql("select spec_hash, avg(rms) m from features_import group by 1 order by m")
    assert specs.height == 2 and specs["m"][1] == pytest.approx(2 * specs["m"][0])
    broken = write_ini(tmp_path / "broken.ini", ini.read_text().replace(str(feats), str(tmp_path / "missing.csv")))
    failed = run_cli("run", broken, cwd=tmp_path)
    assert failed.returncode != 0 and "missing.csv does not exist" in failed.stderr and "Traceback" not in failed.stderr
