"""Parts: the Parquet files of a table. Which tables are computed from the audio, what a compacted file looks like,
whether a part can be read (a cheap check run for every part a process lists), and what losing one means."""

from __future__ import annotations

import os
import threading
from pathlib import Path

KEYED = ("features_", "estimates_", "embeddings_")  # one row per (content_key, spec_hash), computed from the audio
DERIVED = (*KEYED, "vad_")  # tables whose missing rows are simply computed again
RERUN = {"splits": "nkl run", "runs": "nkl run", "results": "nkl run", "predictions": "nkl run",
         "explore_samples": "nkl explore", "importance": "nkl explore", "scatter": "nkl explore", "bias": "nkl explore",
         "artifacts": "nkl explore", "segments": "nkl segment", "silences": "nkl segment"}  # tables with one part per experiment
PART_COLUMN = "_nkl_part"  # in a compacted file: the name of the part each row came from
COMPACT_PREFIX = "_compact-"  # compacted files: _compact-<time_ns, 20 digits>.parquet; the newest one is current

PARQUET_MAGIC = b"PAR1"
_verdicts: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime) → why the part cannot be read, or None
_verdicts_lock = threading.Lock()


def part_error(path: Path) -> str | None:
    """Why a Parquet part cannot be read (truncated, overwritten), or None when it looks whole.

    A cheap check, run for every part a process lists: the file must start and end with Parquet's magic bytes and its
    footer length must fit. Each version of a file (path, size, modification time) is judged once per process; a file
    that is gone or cannot be opened (permissions) is not called damaged: its reader will say what is wrong.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verdicts_lock:
        if key in _verdicts:
            return _verdicts[key]
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            if stat.st_size >= 12:
                handle.seek(-8, os.SEEK_END)
            tail = handle.read(8)
    except OSError:
        return None
    if stat.st_size < 12:
        verdict = f"{stat.st_size} bytes: too short to be a Parquet file"
    elif head != PARQUET_MAGIC:
        verdict = "not a Parquet file (no PAR1 header)"
    elif tail[4:] != PARQUET_MAGIC:
        verdict = "truncated (no PAR1 footer)"
    elif int.from_bytes(tail[:4], "little") > stat.st_size - 12:
        verdict = "damaged footer (longer than the file)"
    else:
        verdict = None
    with _verdicts_lock:
        _verdicts[key] = verdict
    return verdict


def lost_rows(table: str, part: str) -> str:
    """What becomes of the rows of a part that could not be read: computed again, or which command brings them back."""
    if table.startswith(DERIVED):
        return "its rows are computed again from the audio when next needed"
    if table == "samples":
        return f"database '{part}' is imported again by the next run that uses it" if not part.startswith(COMPACT_PREFIX) \
            else "its databases are imported again by the next runs that use them"
    if part.startswith(COMPACT_PREFIX) and table != "rejects":
        command = f" ({RERUN[table]})" if table in RERUN else ""
        return f"it held the compacted rows of many parts: rerun the experiments whose {table} rows are missing{command}"
    if table == "rejects":
        return "its records of unusable files come back when those files are next imported or extracted"
    if table == "applied_predictions":
        return f"its rows are lost: apply model '{part.rsplit('-', 1)[0]}' again (nkl predict --model) to get them back"
    if table in RERUN:
        return f"its rows are lost: rerun experiment '{part.removeprefix('explore-')}' ({RERUN[table]}) to get them back"
    return f"its rows are lost: rerun the command that wrote '{part}'"
