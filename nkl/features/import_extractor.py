"""Precomputed features (``type = ['import']``): rows of CSV or Parquet files keyed by audio file (and segment).

nkululeko's keys work unchanged (``import_file = ['feats.csv']``, ``import_files_append``). Each file has a ``file``
column (absolute paths, or paths relative to anything: ``wav/03a01Fa.wav`` matches ``/data/emodb/wav/03a01Fa.wav``),
optional ``start``/``end`` (seconds or pandas timedeltas, as nkululeko writes them), and one numeric column per
feature. Several files are stacked (``append = True``: more rows, the same columns) or joined (more columns, the
same rows). The checks: a sample without a row is recorded in ``rejects`` (and counts against ``fail_threshold``);
files of different widths, duplicate rows, text in a feature column, or no match at all fail with the file named;
missing values are counted in a warning and filled by ``[FEATS] nan_strategy``. The cache key holds each file's
content hash, so editing an import file never returns its old values.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import polars as pl

from nkl.config.sections import key
from nkl.data.csv_import import _to_seconds
from nkl.errors import ConfigError, DataError
from nkl.features.registry import Extractor
from nkl.hashing import file_hash

log = logging.getLogger(__name__)

KEYS = ("file", "start", "end")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class ImportSettings:
    """[FEATS] keys of ``import``."""

    file: list = key([], "CSV or Parquet files of precomputed features: a file column (optionally start and end) and one numeric "
                         "column per feature; paths relative to the working folder.", aliases=("import_file",), path=True)
    append: bool = key(True, "With several files: True stacks their rows (every file has the same columns); False joins their columns "
                             "(every file has the same rows).", aliases=("import_files_append",))
    file_column: str = key("file", "The column holding each row's audio file.")


def _normal(path: str) -> str:
    """A path as a comparable string: separators unified, ``./`` and ``..`` folded."""
    return os.path.normpath(str(path).strip().replace("\\", "/")).replace("\\", "/")


class ImportExtractor(Extractor):
    """Rows of precomputed feature files matched to the samples; no audio is decoded."""

    name = "import"
    Settings = ImportSettings
    key_prefix = "import"
    sample_rate = None
    min_duration = 0.0
    reads_audio = False
    source = "precomputed feature files"

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self._table: pl.DataFrame | None = None
        self.names: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_table": None}

    # ---- settings -----------------------------------------------------------------------------------------------

    @property
    def paths(self) -> list[Path]:
        return [Path(os.path.expandvars(os.path.expanduser(str(f)))).resolve() for f in self.settings.file]

    def validate(self) -> None:
        """No file named, a file that is not there, or a table that cannot serve as features fail before any run."""
        if not self.settings.file:
            raise ConfigError("[FEATS] type = ['import'] needs import_file = ['features.csv'] (CSV or Parquet: a file column and one "
                              "column per feature)")
        for path in self.paths:
            if not path.is_file():
                raise ConfigError(f"[FEATS] import_file: {path} does not exist; paths are relative to {Path.cwd()}")
        self.table_rows()

    def params(self) -> dict[str, Any]:
        return {"files": [[str(p), file_hash(p)] for p in self.paths if p.is_file()], "append": self.settings.append,
                "file_column": self.settings.file_column}

    def versions(self) -> dict[str, str]:
        return {}

    @property
    def table(self) -> str:
        return "features_import"

    def describe(self) -> str:
        rows = self._table.height if self._table is not None else "?"
        return f"import ({', '.join(p.name for p in self.paths)}: {rows} rows, {len(self.names)} features)"

    def setup(self) -> None:
        self.table_rows()

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        raise NotImplementedError("import reads feature files, not audio (see rows_for)")

    # ---- reading ------------------------------------------------------------------------------------------------

    def _read(self, path: Path) -> pl.DataFrame:
        """One file: key columns normalised, feature columns as Float64."""
        try:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                frame = pl.read_parquet(path)
            else:
                frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(f"{path} cannot be read as {'Parquet' if path.suffix.lower() in PARQUET_SUFFIXES else 'CSV'}: "
                            f"{(str(exc).strip().splitlines() or [''])[0][:160]}") from None
        frame = frame.rename({c: c.strip() for c in frame.columns})
        column = self.settings.file_column
        if column not in frame.columns:
            raise DataError(f"{path} has no '{column}' column (columns: {', '.join(frame.columns[:8])}{', ...' if frame.width > 8 else ''}); "
                            "name the audio-file column [FEATS] import.file_column")
        if frame.height == 0:
            raise DataError(f"{path} has no rows")
        out = {"file": frame[column].cast(pl.String).map_elements(_normal, return_dtype=pl.String)}
        for bound in ("start", "end"):
            out[bound] = _to_seconds(frame[bound]) if bound in frame.columns else pl.Series(bound, [None] * frame.height, dtype=pl.Float64)
        features = [c for c in frame.columns if c not in (column, "start", "end")]
        dropped = []
        for name in features:
            values = frame[name]
            numbers = values.cast(pl.Float64, strict=False) if values.dtype != pl.String else values.str.strip_chars().cast(pl.Float64, strict=False)
            text = values.cast(pl.String).str.strip_chars()
            given = text.is_not_null() & (text != "") & ~text.str.to_lowercase().is_in(["nan", "na", "null", "none"])
            bad = given & numbers.is_null()
            if bad.all():
                dropped.append(name)
                continue
            if bad.any():
                row = int(bad.arg_max())
                raise DataError(f"{path}, row {row + 2}, column '{name}': '{text[row]}' is not a number; feature columns must be numeric")
            out[name] = numbers
        if dropped:
            log.warning("%s: column(s) %s hold text, not features; ignored", path, ", ".join(dropped[:5]) + (" ..." if len(dropped) > 5 else ""))
        if len(out) == 3:
            raise DataError(f"{path} has no numeric feature columns besides '{column}'")
        table = pl.DataFrame(out).with_columns(pl.col("start").fill_null(0.0))
        duplicated = table.select(KEYS).is_duplicated()
        if duplicated.any():
            row = int(duplicated.arg_max())
            raise DataError(f"{path}: file '{table['file'][row]}' (start {table['start'][row]}) has more than one row; keep one per file/segment")
        return table

    def table_rows(self) -> pl.DataFrame:
        """All files as one table: ``file``, ``start``, ``end``, then the features."""
        if self._table is not None:
            return self._table
        tables = [(path, self._read(path)) for path in self.paths]
        first_path, table = tables[0]
        for path, other in tables[1:]:
            ours, theirs = set(table.columns) - set(KEYS), set(other.columns) - set(KEYS)
            if self.settings.append:
                if ours != theirs:
                    missing, extra = sorted(ours - theirs)[:5], sorted(theirs - ours)[:5]
                    raise DataError(f"{path} has other feature columns than {first_path} (missing {missing}, extra {extra}); with "
                                    "import_files_append = True every file needs the same columns")
                table = pl.concat([table, other.select(table.columns)])
            else:
                shared = sorted(ours & theirs)
                if shared:
                    raise DataError(f"{path} repeats feature column(s) {shared[:5]} of an earlier import file; with import_files_append = "
                                    "False each file adds its own columns")
                table = table.join(other, on=list(KEYS), how="full", coalesce=True, nulls_equal=True)
        duplicated = table.select(KEYS).is_duplicated()
        if duplicated.any():
            row = int(duplicated.arg_max())
            raise DataError(f"import files: file '{table['file'][row]}' (start {table['start'][row]}) is in more than one file")
        self.names = [c for c in table.columns if c not in KEYS]
        self._table = table
        return table

    # ---- matching -----------------------------------------------------------------------------------------------

    def rows_for(self, samples: pl.DataFrame) -> tuple[list[str], list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
        """Feature rows for these samples (``content_key``, ``file``, ``start``, ``end``): names, (key, values) rows and
        (key, reason) failures for samples the files have no row for."""
        table = self.table_rows()
        values = table.select(self.names).to_numpy().astype(np.float64)
        by_file: dict[str, list[int]] = {}
        for index, file in enumerate(table["file"].to_list()):
            by_file.setdefault(file, []).append(index)
        starts, ends = table["start"].to_list(), table["end"].to_list()
        relative = [f for f in by_file if not PurePosixPath(f).is_absolute()]
        longest = max((len(PurePosixPath(f).parts) for f in relative), default=0)
        used_by: dict[int, str] = {}
        rows: list[tuple[str, np.ndarray]] = []
        failures: list[tuple[str, str]] = []
        with_nan = 0
        lengths = samples["file_duration"] if "file_duration" in samples.columns else pl.Series([None] * samples.height, dtype=pl.Float64)
        for (content_key, file, start, end), length in zip(samples.select("content_key", "file", "start", "end").iter_rows(),
                                                            lengths.to_list(), strict=True):
            audio = _normal(file)
            candidates = by_file.get(audio)
            if candidates is None and longest:
                parts = PurePosixPath(audio).parts
                for depth in range(min(longest, len(parts)), 0, -1):
                    candidates = by_file.get("/".join(parts[-depth:]))
                    if candidates is not None:
                        break
            index = self._segment_row(candidates or [], starts, ends, start, end, length)
            if index is None:
                failures.append((content_key, f"no row in the import file(s) for {PurePosixPath(audio).name} from {float(start or 0):g} s"))
                continue
            if used_by.setdefault(index, audio) != audio:
                raise DataError(f"import row '{table['file'][index]}' matches two audio files ({used_by[index]} and {audio}); write fuller "
                                "paths in the import file")
            row = values[index]
            if not np.isfinite(row).any():
                failures.append((content_key, "every feature is missing in the import file(s)"))
                continue
            with_nan += int(not np.isfinite(row).all())
            rows.append((content_key, row))
        if samples.height and not rows and failures:
            example = table["file"][0]
            raise DataError(f"none of the {samples.height} samples has a row in {', '.join(str(p) for p in self.paths)} (import files list "
                            f"e.g. '{example}'; the data has e.g. '{samples['file'][0]}'); check the {self.settings.file_column} column")
        if with_nan:
            log.warning("import: %d of %d rows have missing feature values; [FEATS] nan_strategy fills them", with_nan, len(rows))
        return list(self.names), rows, failures

    @staticmethod
    def _segment_row(candidates: list[int], starts: list[float], ends: list[float | None], start: float | None,
                     end: float | None, length: float | None) -> int | None:
        """The row of this segment: equal bounds to the millisecond, an open end meaning the end of the file
        (``length`` seconds, when known); a whole-file sample also takes a file's only row."""
        begin = float(start or 0.0)
        stop = end if end is not None else length
        for index in candidates:
            other = ends[index] if ends[index] is not None else length
            same_end = (stop is None and other is None) or (stop is not None and other is not None and abs(other - stop) < 1e-3)
            if abs(float(starts[index] or 0.0) - begin) < 1e-3 and same_end:
                return index
        whole = begin == 0.0 and (end is None or (length is not None and abs(end - length) < 1e-3))
        if whole and len(candidates) == 1:
            return candidates[0]
        return None
