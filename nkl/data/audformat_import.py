"""Import an audformat database folder as one Polars table, the same contract as the CSV importer.

One row per sample ``(file, start, end)``; label values are text (the caller casts and filters).
Rows come from the *label tables* (``<db>.target_tables``, else every table with the target column),
speaker, gender and age are joined in from any table that has them (``<db>.files_tables`` when set),
also through a ``speaker`` scheme whose labels carry them. ``table_split`` says which split the
database itself puts a row in (``split_strategy`` ``specified`` or ``database``); null otherwise.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from nkl.choices import did_you_mean
from nkl.errors import DataError, MissingExtraError

if TYPE_CHECKING:
    import pandas as pd

    from nkl.config.sections import DatabaseSection

INFO_COLUMNS = ("speaker", "gender", "age")
KEY = ("file_id", "start", "end")
SPLITS = ("train", "dev", "test")


def read_audformat_database(name: str, db: DatabaseSection, target: str) -> pl.DataFrame:
    """Load the audformat database ``db.path`` (relative to the working folder) as one table.

    Args:
        name: The database's name in ``[DATA] databases``, used in error messages.
        db: Its ``[DATA] <name>.*`` keys.
        target: ``[DATA] target``; ``db.label`` names the column in this database instead.

    Returns:
        Columns ``file`` (absolute path), ``file_id`` (path as in the database), ``start``, ``end``
        (seconds, null for filewise tables), ``speaker``, ``gender``, ``age``, ``target`` (or the
        ``[DATA] target`` name), the other columns of the label tables, and ``table_split``.
        All label columns are String; rows with a null target are kept. Where several tables label
        the same sample, the first table (in ``target_tables`` order) with a value wins. A column
        named like the target is replaced by the ``db.label`` column. Under ``specified`` and
        ``database``, rows that no split table holds have a null ``table_split``.

    Raises:
        DataError: The folder, a listed table, the target column or the test tables are missing.
        MissingExtraError: audformat is not installed.
    """
    database = _load_database(name, db.path)
    tables = database.tables
    label = db.label or target
    out_name = target if db.label and target else label
    wanted = {*INFO_COLUMNS, label} - {""}
    frames = {tid: _table_frame(database, tid, db.colnames, wanted) for tid in tables}
    split_tables = _split_tables(name, db, target, label, list(tables))
    label_ids = _label_tables(name, db, label, frames, split_tables)
    rows = _merge_first(frames[tid] for tid in label_ids)
    rows = _join_info(rows, [frames[tid] for tid in _info_tables(name, db, frames)])
    rows = rows.with_columns(_split_column(name, rows, {s: [frames[t] for t in ids] for s, ids in split_tables.items()}))
    if out_name != label and label in rows.columns:
        rows = rows.drop(out_name, strict=False).rename({label: out_name})
    return _finish(rows, database.root, out_name)


def _import_audformat() -> Any:
    """Import audformat, or tell how to install it."""
    try:
        import audformat
    except ImportError as error:
        raise MissingExtraError("audformat", "audformat") from error
    return audformat


def _load_database(name: str, path: str) -> Any:
    """Load the database with its tables, or explain why the folder is not one."""
    audformat = _import_audformat()
    folder = Path(path).absolute() if path else None
    if folder is None or not (folder / "db.yaml").is_file():
        raise DataError(
            f"audformat database '{name}' not found at {folder or '(no path)'}: "
            f"expected a folder with db.yaml; for a CSV set {name}.type = csv"
        )
    try:
        with warnings.catch_warnings():
            # audformat 1.4 calls pandas APIs that pandas 3 deprecates; the warning is not the user's to fix
            warnings.filterwarnings("ignore", message=".*inplace.*")
            return audformat.Database.load(str(folder), load_data=True)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise DataError(f"audformat database '{name}' at {folder} cannot be loaded: {error}") from error


def _check_table_ids(name: str, key: str, ids: Sequence[str], table_ids: list[str]) -> list[str]:
    """Return ``ids`` if every one is a table of the database, else raise naming the choices."""
    for tid in ids:
        if tid not in table_ids:
            raise DataError(
                f"audformat database '{name}': table '{tid}' in {name}.{key} does not exist"
                f"{did_you_mean(tid, table_ids) or ';'} tables: {', '.join(table_ids)}"
            )
    return list(ids)


def _split_tables(name: str, db: DatabaseSection, target: str, label: str, table_ids: list[str]) -> dict[str, list[str]]:
    """Map train/dev/test to the tables that hold each split, as the split strategy says."""
    if db.split_strategy == "specified":
        listed = {s: _check_table_ids(name, f"{s}_tables", getattr(db, f"{s}_tables"), table_ids) for s in SPLITS}
        if not listed["test"]:
            raise DataError(
                f"audformat database '{name}': split_strategy = specified needs {name}.test_tables; "
                f"tables: {', '.join(table_ids)}"
            )
        return listed
    if db.split_strategy == "database":
        found = {s: _database_split_ids(s, {target, label} - {""}, table_ids) for s in SPLITS}
        if not found["test"]:
            raise DataError(
                f"audformat database '{name}': split_strategy = database needs a table "
                f"'{target or label}.test'; tables: {', '.join(table_ids)}"
            )
        return found
    return {}


def _database_split_ids(split: str, stems: set[str], table_ids: list[str]) -> list[str]:
    """Tables named ``<stem>.<split>`` or ``<stem>_<split>``, else ``<stem>.<...>.<split>.<...>``."""
    exact = [tid for tid in table_ids if any(tid in (f"{s}.{split}", f"{s}_{split}") for s in stems)]
    if exact:
        return exact
    pattern = "|".join(re.escape(s) for s in sorted(stems))
    loose = re.compile(rf"^(?:{pattern})(?:[._][^._]+)*[._]{split}(?:[._].*)?$")
    return [tid for tid in table_ids if loose.match(tid)]


def _label_tables(
    name: str, db: DatabaseSection, label: str, frames: dict[str, pl.DataFrame], split_tables: dict[str, list[str]]
) -> list[str]:
    """Return the ids of the tables whose rows and columns make up the result."""
    table_ids = list(frames)
    if db.target_tables:
        candidates = _check_table_ids(name, "target_tables", db.target_tables, table_ids)
    else:
        listed = [tid for ids in split_tables.values() for tid in ids] if db.split_strategy == "specified" else []
        with_label = [tid for tid in dict.fromkeys(listed) if label in frames[tid].columns]
        candidates = with_label or table_ids
    if not label and not candidates:
        raise DataError(f"audformat database '{name}' has no filewise or segmented tables")
    if not label:
        return candidates
    found = [tid for tid in candidates if label in frames[tid].columns]
    if not found:
        columns = sorted({c for tid in candidates for c in frames[tid].columns} - set(KEY))
        where = f"tables {', '.join(candidates)}" if db.target_tables else "any table"
        raise DataError(
            f"audformat database '{name}': {_label_key(name, db)} column '{label}' is not in {where}"
            f"{did_you_mean(label, columns) or ';'} columns: {', '.join(columns) or '(none)'}"
        )
    return found


def _label_key(name: str, db: DatabaseSection) -> str:
    """The INI key that named the target column, for messages."""
    return f"{name}.label" if db.label else "[DATA] target"


def _info_tables(name: str, db: DatabaseSection, frames: dict[str, pl.DataFrame]) -> list[str]:
    """Return the tables that give speaker, gender and age."""
    if not db.files_tables:
        return [tid for tid, frame in frames.items() if set(INFO_COLUMNS) & set(frame.columns)]
    listed = _check_table_ids(name, "files_tables", db.files_tables, list(frames))
    for tid in listed:
        if not set(INFO_COLUMNS) & set(frames[tid].columns):
            columns = [c for c in frames[tid].columns if c not in KEY]
            raise DataError(
                f"audformat database '{name}': table '{tid}' in {name}.files_tables has no speaker, "
                f"gender or age column; columns: {', '.join(columns) or '(none)'}"
            )
    return listed


def _table_frame(database: Any, table_id: str, colnames: dict, wanted: set[str]) -> pl.DataFrame:
    """One audformat table as text columns keyed by ``file_id, start, end``.

    Columns are renamed by ``colnames``; a column whose scheme maps its labels to fields (a dict
    of dicts or a misc table) also gives those fields that are ``wanted`` and not columns already.
    """
    table = database.tables[table_id]
    df = table.df
    columns: dict[str, pd.Series] = {colnames.get(c, c): df[c] for c in df.columns}
    for column in table.columns.values():
        for field in _scheme_fields(database, column.scheme_id):
            new_name = colnames.get(field, field)
            if new_name in wanted and new_name not in columns:
                columns[new_name] = column.get(map=field)
    key = _index_key(df.index)
    return pl.DataFrame(
        {**key, **{c: _as_text(series) for c, series in columns.items()}},
        schema={"file_id": pl.String, "start": pl.Float64, "end": pl.Float64, **dict.fromkeys(columns, pl.String)},
    )


def _scheme_fields(database: Any, scheme_id: str | None) -> list[str]:
    """Fields that a scheme's labels map to: keys of a dict of dicts, or a misc table's columns."""
    if not scheme_id or scheme_id not in database.schemes:
        return []
    labels = database.schemes[scheme_id].labels
    if isinstance(labels, str) and labels in database.misc_tables:
        return list(database.misc_tables[labels].columns)
    if isinstance(labels, dict):
        return list(dict.fromkeys(f for value in labels.values() if isinstance(value, dict) for f in value))
    return []


def _index_key(index: pd.Index) -> dict[str, list]:
    """The ``file_id, start, end`` lists of a filewise or segmented index (times in seconds)."""
    names = list(index.names)
    files = [str(f) for f in index.get_level_values("file")]
    if names != ["file", "start", "end"]:
        return {"file_id": files, "start": [None] * len(files), "end": [None] * len(files)}
    return {
        "file_id": files,
        "start": _seconds(index.get_level_values("start")),
        "end": _seconds(index.get_level_values("end")),
    }


def _seconds(times: pd.Index) -> list[float | None]:
    """Timedeltas as seconds; NaT (an open segment end) as null."""
    import pandas as pd

    return [None if pd.isna(t) else t.total_seconds() for t in times]


def _as_text(series: pd.Series) -> list[str | None]:
    """Label values as text, NaN and NA as null.

    A float column holding only whole numbers (an int column that pandas widened for a NaN, or ages
    mapped from a scheme where one speaker lacks one) is written without ``.0``.
    """
    values = [None if _is_missing(v) else v for v in series.tolist()]
    present = [v for v in values if v is not None]
    integral = bool(present) and all(isinstance(v, float) and v.is_integer() for v in present)
    return [None if v is None else str(int(v)) if integral else str(v) for v in values]


def _is_missing(value: Any) -> bool:
    """True for None, NaN, NA and NaT (and False for anything that is not a scalar)."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _merge_first(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """One row per key over all frames; each column takes the first non-null value in frame order."""
    stacked = pl.concat(list(frames), how="diagonal")
    return stacked.group_by(list(KEY), maintain_order=True).agg(pl.all().drop_nulls().first())


def _join_info(rows: pl.DataFrame, info_frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Fill speaker, gender and age: first from a segment with the same key, then from its file."""
    rows = rows.with_columns(pl.lit(None, pl.String).alias(c) for c in INFO_COLUMNS if c not in rows.columns)
    frames = [f.select([*KEY, *(c for c in INFO_COLUMNS if c in f.columns)]) for f in info_frames]
    segmented = [f for f in frames if f["start"].is_not_null().any()]
    filewise = [f for f in frames if not f["start"].is_not_null().any()]
    if segmented:
        rows = _fill_from(rows, _merge_first(segmented), list(KEY))
    if filewise:
        rows = _fill_from(rows, _merge_first(filewise).drop("start", "end"), ["file_id"])
    return rows


def _fill_from(rows: pl.DataFrame, info: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """Fill nulls in the info columns of ``rows`` from ``info`` joined on ``on``."""
    columns = [c for c in INFO_COLUMNS if c in info.columns]
    info = info.rename({c: f"{c}__info" for c in columns})
    joined = rows.join(info, on=on, how="left", maintain_order="left")
    return joined.with_columns(pl.coalesce(c, f"{c}__info").alias(c) for c in columns).drop(f"{c}__info" for c in columns)


def _split_column(name: str, rows: pl.DataFrame, splits: dict[str, list[pl.DataFrame]]) -> pl.Series:
    """``table_split`` per row: the split whose tables hold its segment or its whole file.

    A segmented row matches a segment with the same bounds or a filewise entry of its file; a
    filewise row matches any entry of its file.
    """
    keys = rows.select(KEY).rows()
    result: list[str | None] = [None] * len(keys)
    for split, frames in splits.items():
        members = {k for frame in frames for k in frame.select(KEY).rows()}
        whole_files = {k[0] for k in members if k[1] is None}
        any_files = {k[0] for k in members}
        for i, key in enumerate(keys):
            matched = key[0] in any_files if key[1] is None else key in members or key[0] in whole_files
            if matched:
                result[i] = _assign(name, key, result[i], split)
    return pl.Series("table_split", result, dtype=pl.String)


def _assign(name: str, key: tuple, current: str | None, split: str) -> str:
    """Return ``split`` for a row, refusing a row that the database puts in two splits."""
    if current is not None and current != split:
        raise DataError(
            f"audformat database '{name}': {key[0]} is in both the {current} and the {split} tables; "
            "a sample may be in one split only"
        )
    return split


def _finish(rows: pl.DataFrame, root: str, target: str) -> pl.DataFrame:
    """Add the absolute ``file`` path and put the columns in contract order."""
    files = [os.path.normpath(os.path.join(root, f)) for f in rows["file_id"]]
    rows = rows.with_columns(pl.Series("file", files, dtype=pl.String))
    first = ["file", *KEY, *INFO_COLUMNS, *([target] if target in rows.columns else [])]
    rest = [c for c in rows.columns if c not in first and c != "table_split"]
    return rows.select([*first, *rest, "table_split"])
