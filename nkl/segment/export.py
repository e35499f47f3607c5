"""Optional per-segment audio export of ``nkl segment`` (``[SEGMENT] output_audio = True``).

Each segment becomes ``<audio_dir>/<database>/<stem>_segment_<index>_<start>-<end>.<format>`` (nkululeko's naming,
one folder per database so that equal file names of two databases cannot collide), at the source's own rate or at
``sampling_rate``. Files are written atomically and an existing file is kept, so an interrupted export resumes.
A second CSV, ``<root>/<result>_files.csv``, lists the exported files with the segments' labels: a database of
whole files for tools that do not read ``start``/``end``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import soundfile as sf

from nkl.audio.decode import load_audio
from nkl.catalog.store import atomic_path, write_text
from nkl.config.sections import SegmentSection
from nkl.context import RunContext
from nkl.errors import AudioError

FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
SUBTYPES = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}


def segment_file_name(file: str, index: int, start: float, end: float, audio_format: str) -> str:
    """``<stem>_segment_<index>_<start>-<end>.<format>`` with bounds in seconds (3 decimals).

    >>> segment_file_name("wav/03a01Fa.wav", 2, 0.5, 1.25, "flac")
    '03a01Fa_segment_2_0.500-1.250.flac'
    """
    return f"{Path(file).stem}_segment_{index}_{start:.3f}-{end:.3f}.{audio_format}"


def export_segments(ctx: RunContext, settings: SegmentSection, segments: pl.DataFrame, labels: list[str]) -> pl.DataFrame:
    """Write every segment's audio; returns ``segments`` with an ``audio_file`` column (null where a file failed)."""
    if not segments.height:
        return segments.with_columns(pl.lit(None, dtype=pl.String).alias("audio_file"))
    folder = Path(settings.audio_dir)
    if not folder.is_absolute():
        folder = ctx.workspace.root / folder
    audio_format = settings.audio_format
    rate = settings.sampling_rate or None
    numbered = segments.with_columns(pl.int_range(pl.len()).over("source").alias("_index"))
    written: list[str | None] = []
    for row in ctx.track(numbered.iter_rows(named=True), f"Exporting segments ({audio_format})", total=numbered.height):
        target = folder / str(row["database"]) / segment_file_name(row["file"], row["_index"], row["start"], row["end"], audio_format)
        if not target.exists():
            try:
                signal, signal_rate = load_audio(row["file"], row["start"], row["end"], rate)
            except AudioError as exc:
                ctx.log.warning("segment %s %.3f-%.3f of %s not exported: %s", row["_index"], row["start"], row["end"], row["file"], exc)
                written.append(None)
                continue
            with atomic_path(target) as tmp:
                sf.write(tmp, signal, signal_rate, format=FORMATS[audio_format], subtype=SUBTYPES[audio_format])
        written.append(str(target.resolve()))
    exported = segments.with_columns(pl.Series("audio_file", written, dtype=pl.String))
    listing = exported.filter(pl.col("audio_file").is_not_null()).select(
        pl.col("audio_file").alias("file"), *[c for c in labels if c in exported.columns])
    write_text(listing.write_csv(), ctx.workspace.root / f"{settings.result}_files.csv")
    ctx.log.info("exported %d segment files to %s", listing.height, folder)
    return exported
