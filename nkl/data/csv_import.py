"""Read a database given as a CSV in nkululeko's layout: ``file[,start,end],speaker,gender,age,<labels>``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nkl.choices import did_you_mean
from nkl.config.sections import DatabaseSection
from nkl.errors import DataError

STANDARD = ("speaker", "gender", "age")


def _to_seconds(column: pl.Series) -> pl.Series:
    """Segment bounds as seconds: plain numbers or pandas-style timedeltas ('0 days 00:00:01.5')."""
    as_float = column.cast(pl.Float64, strict=False)
    text = column.cast(pl.String)
    td = text.str.extract(r"(?:(\d+) days? )?(\d+):(\d+):([\d.]+)", 0)
    if td.null_count() == len(td):
        return as_float
    parts = text.str.extract_groups(r"(?:(\d+) days? )?(\d+):(\d+):([\d.]+)")
    seconds = (
        parts.struct.field("1").cast(pl.Float64, strict=False).fill_null(0) * 86400
        + parts.struct.field("2").cast(pl.Float64) * 3600
        + parts.struct.field("3").cast(pl.Float64) * 60
        + parts.struct.field("4").cast(pl.Float64)
    )
    return as_float.fill_null(seconds)


def resolve_paths(files: pl.Series, csv_path: Path, db: DatabaseSection) -> pl.Series:
    """Absolute audio paths, following nkululeko's ``absolute_path`` / ``audio_path`` rules.

    Absolute paths stay as they are. Relative ones are joined to the CSV's folder (+ ``audio_path``),
    or to the working folder when ``absolute_path = True`` (nkululeko's default meaning).
    """
    if db.absolute_path is True:
        base = Path.cwd() / db.audio_path
    else:
        base = csv_path.parent / db.audio_path
    base = base.resolve()
    return pl.Series("file", [f if Path(f).is_absolute() else str(base / f) for f in files.to_list()], dtype=pl.String)


def apply_mapping(df: pl.DataFrame, mapping: dict, target: str, where: str) -> pl.DataFrame:
    """Rename labels: ``{'anger': 'angry'}`` (target column; comma lists allowed) or per column ``{'gender': {...}}``."""
    if not mapping:
        return df
    per_column = mapping if all(isinstance(v, dict) for v in mapping.values()) else {target: mapping}
    for column, table in per_column.items():
        if column not in df.columns:
            raise DataError(f"{where} mapping names column '{column}', which the data does not have; columns: {', '.join(df.columns)}")
        flat: dict[str, str] = {}
        for source, dest in table.items():
            for label in str(source).split(","):
                flat[label.strip()] = str(dest)
        df = df.with_columns(pl.col(column).replace(flat))
    return df


def read_csv_database(name: str, db: DatabaseSection, target: str) -> pl.DataFrame:
    """Rows of a CSV database: resolved ``file``, ``file_id``, ``start``/``end`` seconds, strings for the rest."""
    path = Path(db.path)
    where = f"[DATA] {name} ({path})"
    if not path.is_file():
        hint = " It is a folder: set the path to the CSV file, or {name}.type = audformat." if path.is_dir() else ""
        raise DataError(f"CSV file not found: {path} ([DATA] {name}); check the path, relative to {Path.cwd()}.{hint}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; expected a header row like file,speaker,gender,age,{target or 'label'}")
    try:
        df = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False, encoding="utf8-lossy")
    except pl.exceptions.NoDataError:
        raise DataError(f"{path} holds no header row; expected one like file,speaker,gender,age,{target or 'label'}") from None
    except pl.exceptions.ComputeError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise DataError(f"{path} is not a valid CSV file: {first}") from None
    stripped = [c.strip() for c in df.columns]
    twice = next((c for c in stripped if stripped.count(c) > 1), None)
    if twice is not None:
        raise DataError(f"{path}: the header names column '{twice}' twice; give each column its own name")
    df = df.rename(dict(zip(df.columns, stripped, strict=True)))
    if db.colnames:
        missing = [c for c in db.colnames if c not in df.columns]
        if missing:
            raise DataError(f"{where} colnames renames {missing}, which the CSV does not have; columns: {', '.join(df.columns)}")
        renamed = [str(db.colnames.get(c, c)) for c in df.columns]
        twice = next((c for c in renamed if renamed.count(c) > 1), None)
        if twice is not None:
            raise DataError(f"{where} colnames gives two columns the name '{twice}'; rename only one of them to it, or drop the other")
        df = df.rename({str(k): str(v) for k, v in db.colnames.items()})
    if df.height == 0:
        raise DataError(f"{path} has a header but no rows; add one row per audio file")
    if "file" not in df.columns:
        raise DataError(
            f"{path} has no 'file' column (columns: {', '.join(df.columns)}); "
            f"the first column must be named file, or rename it with {name}.colnames = {{'{df.columns[0]}': 'file'}}"
        )
    label = db.label or target
    if label and label not in df.columns:
        raise DataError(
            f"target column '{label}' not in {path}{did_you_mean(label, df.columns)} Columns: {', '.join(df.columns)}"
        )
    if db.label and db.label != target:
        df = df.rename({db.label: target})
    df = df.with_columns(pl.col(pl.String).str.strip_chars())
    for bad, what in ((pl.col("file").is_null() | (pl.col("file") == ""), "the file cell is empty; every row needs an audio path"),
                      (pl.col("file").str.contains(r"[\x00-\x1f]"), "the file cell holds a control character (a NUL byte?); "
                                                                          "it cannot be a file name")):
        rows = df.with_row_index("row").filter(bad)["row"]
        if rows.len():
            raise DataError(f"{path} row {rows[0] + 2}: {what}")
    df = df.with_columns(
        file_id=pl.col("file"),
        file=resolve_paths(df["file"], path, db),
        start=_to_seconds(df["start"]) if "start" in df.columns else pl.lit(None, pl.Float64),
        end=_to_seconds(df["end"]) if "end" in df.columns else pl.lit(None, pl.Float64),
        table_split=pl.lit(None, pl.String),
    )
    for column in STANDARD:
        if column not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(column))
    df = apply_mapping(df, db.mapping, target, where)
    return df
