"""The CSV database nkl writes for audio it made (augmented copies, resampled or exported files)."""

from __future__ import annotations

import polars as pl

# Columns of ``samples`` that nkl computes on import: a CSV database leaves them out.
INTERNAL = {"sample", "database", "duration", "sample_rate", "channels", "bytes", "audio_hash", "content_key", "file_id",
            "table_split", "file_duration", "mtime_ns", "import_hash", "source", "split"}


def database_csv(samples: pl.DataFrame) -> pl.DataFrame:
    """The columns a CSV database keeps: file, segment bounds when a sample is part of its file, speaker, gender, age
    and every label column."""
    from nkl.export.audio_files import segment_rows

    segments = segment_rows(samples)
    keep = ["file", *(["start", "end"] if segments.any() else [])]
    keep += [c for c in samples.columns if c not in INTERNAL and c not in keep and c not in ("start", "end")]
    out = samples.with_columns(segment=segments)
    if segments.any():  # whole files keep empty bounds
        out = out.with_columns(start=pl.when(pl.col("segment")).then(pl.col("start")), end=pl.when(pl.col("segment")).then(pl.col("end")))
    return out.select(keep)
