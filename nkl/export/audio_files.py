"""``nkl resample`` and ``nkl export``: audio files written by nkl, atomically and resumably, with a CSV of them.

Resample converts files to mono at one rate (16 kHz by default) as 16-bit WAV: next to each source as
``<stem>_<rate>kHz.wav``, into ``--out`` (keeping the folders below the sources' common folder), or, only when
``[RESAMPLE] replace = True`` (or ``--replace``) is set, over the source itself. Export copies the selected samples
(or cuts them when they are segments and ``segments_as_files`` is set) under ``[EXPORT] root``. Every file is written
to a temp name and renamed, and a file already written (newer than its source) is skipped, so a killed run leaves no
half-written file and the rerun finishes the rest.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import soundfile as sf

from nkl.audio.decode import load_audio
from nkl.catalog.store import atomic_path, make_folder, write_text
from nkl.errors import AudioError, ConfigError


@dataclass
class Written:
    done: int = 0
    skipped: int = 0  # already written by an earlier run
    failed: int = 0


def _fresh(target: Path, source: Path) -> bool:
    """The target exists and is at least as new as its source (written by an earlier, finished write)."""
    try:
        return target.stat().st_mtime_ns >= source.stat().st_mtime_ns and target.stat().st_size > 44
    except OSError:
        return False


def _common_root(paths: list[Path]) -> Path:
    parents = [str(p.parent) for p in paths]
    return Path(os.path.commonpath(parents)) if parents else Path(".")


def resampled_path(source: Path, rate: int, out: Path | None, root: Path, replace: bool) -> Path:
    """Where the resampled version of ``source`` goes."""
    if replace:
        return source
    name = f"{source.stem}_{rate // 1000 if rate % 1000 == 0 else rate / 1000:g}kHz.wav"
    if out is None:
        return source.with_name(name)
    return out / source.parent.relative_to(root) / name if source.is_relative_to(root) else out / name


def resample_files(sources: Iterable[str], rate: int, *, out: Path | None, replace: bool, log, progress=None) -> tuple[dict[str, str], Written]:
    """Resample every file; returns source → written path (failures left out) and the counts."""
    if not 1000 <= rate <= 384000:
        raise ConfigError(f"[RESAMPLE] rate must be a sampling rate in Hz between 1000 and 384000, got {rate}")
    if replace and out is not None:
        raise ConfigError("--replace overwrites the sources; it cannot be combined with --out")
    paths = [Path(s).resolve() for s in dict.fromkeys(sources)]
    root = _common_root(paths)
    mapping: dict[str, str] = {}
    counts = Written()
    with (progress.task("Resampling", total=len(paths)) if progress is not None else nullcontext()) as bar:
        for source in paths:
            target = resampled_path(source, rate, out, root, replace)
            if not replace and _fresh(target, source):
                counts.skipped += 1
            else:
                try:
                    audio, _ = load_audio(source, sample_rate=rate)
                except AudioError as exc:
                    log.warning("resample: %s left out (%s)", source, exc)
                    counts.failed += 1
                    if bar is not None:
                        bar.advance()
                    continue
                make_folder(target.parent)
                with atomic_path(target) as tmp:
                    sf.write(tmp, audio, rate, subtype="PCM_16", format="WAV")
                counts.done += 1
            mapping[str(source)] = str(target)
            if bar is not None:
                bar.advance()
    return mapping, counts


def segment_rows(samples: pl.DataFrame) -> pl.Series:
    """Which samples are a part of their file (not the whole of it: the import records a whole file as 0 to its duration)."""
    start = pl.col("start").fill_null(0.0)
    whole_end = pl.col("file_duration") if "file_duration" in samples.columns else pl.lit(None, pl.Float64)
    cut_end = pl.col("end").is_not_null() & (whole_end.is_null() | (pl.col("end") < whole_end - 1e-3))
    return samples.select(((start > 1e-3) | cut_end).alias("segment"))["segment"]


def export_samples(samples: pl.DataFrame, root: Path, *, segments_as_files: bool, orig_root: str, log, progress=None) -> tuple[pl.DataFrame, Written]:
    """Copy (or cut) each sample's audio under ``root``; the samples with ``file`` pointing at the exported copies."""
    files = [Path(f).resolve() for f in samples["file"].to_list()]
    base = Path(orig_root).expanduser().resolve() if orig_root else _common_root(files)
    out_files: list[str | None] = []
    counts = Written()
    with (progress.task("Exporting", total=samples.height) if progress is not None else nullcontext()) as bar:
        segments = segment_rows(samples).to_list()
        for source, row, segment in zip(files, samples.select("start", "end").iter_rows(named=True), segments, strict=True):
            relative = source.relative_to(base) if source.is_relative_to(base) else Path(source.name)
            if segment and segments_as_files:
                start, end = float(row["start"] or 0.0), row["end"]
                stem = f"{relative.stem}_{start:.3f}_{'end' if end is None else f'{float(end):.3f}'}"
                target = root / relative.parent / f"{stem}.wav"
            else:
                target = root / relative
            try:
                if _fresh(target, source):
                    counts.skipped += 1
                elif segment and segments_as_files:
                    audio, rate = load_audio(source, float(row["start"] or 0.0), row["end"], sample_rate=None)
                    make_folder(target.parent)
                    with atomic_path(target) as tmp:
                        sf.write(tmp, audio, rate, subtype="PCM_16", format="WAV")
                    counts.done += 1
                else:
                    make_folder(target.parent)
                    with atomic_path(target) as tmp:
                        shutil.copy2(source, tmp)
                    counts.done += 1
                out_files.append(str(target))
            except (AudioError, FileNotFoundError) as exc:
                log.warning("export: %s left out (%s)", source, exc)
                counts.failed += 1
                out_files.append(None)
            if bar is not None:
                bar.advance()
    cut = pl.Series("cut", segments, dtype=pl.Boolean) & segments_as_files  # a cut file is a whole sample of its own
    exported = samples.with_columns(pl.Series("file", out_files, dtype=pl.String), cut)
    exported = exported.with_columns(start=pl.when(pl.col("cut")).then(None).otherwise(pl.col("start")),
                                     end=pl.when(pl.col("cut")).then(None).otherwise(pl.col("end")),
                                     file_duration=pl.when(pl.col("cut")).then(pl.col("end") - pl.col("start").fill_null(0.0))
                                     .otherwise(pl.col("file_duration")) if "file_duration" in samples.columns else pl.lit(None))
    return exported.filter(pl.col("file").is_not_null()).drop("cut"), counts


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """The CSV of written files, paths relative to the CSV's folder when below it (so the folder can move)."""
    folder = path.parent.resolve()
    rel = [os.path.relpath(f, folder) if Path(f).is_relative_to(folder) else f for f in frame["file"].to_list()]
    out = frame.with_columns(pl.Series("file", rel, dtype=pl.String))
    return write_text(out.write_csv(), path)
