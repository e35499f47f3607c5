"""Import one database into the ``samples`` table: probe and hash every file, record rejects."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import polars as pl

from nkl.audio.probe import AudioInfo, content_key, hash_file, probe
from nkl.catalog.schemas import REJECTS, SAMPLES, check_schema
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.errors import AudioError
from nkl.hashing import stable_hash


def _read_rows(name: str, db: DatabaseSection, target: str) -> pl.DataFrame:
    if db.type == "audformat":
        from nkl.data.audformat_import import read_audformat_database

        return read_audformat_database(name, db, target)
    from nkl.data.csv_import import read_csv_database

    return read_csv_database(name, db, target)


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _sample_ids(name: str, rows: pl.DataFrame) -> pl.Series:
    segment = pl.when(pl.col("start").is_not_null() | pl.col("end").is_not_null()).then(
        pl.format("@{}-{}", pl.col("start").fill_null(0).round(3), pl.col("end").round(3).cast(pl.String).fill_null(""))
    ).otherwise(pl.lit(""))
    return rows.select(pl.concat_str(pl.lit(f"{name}/"), pl.col("file_id"), segment).alias("sample")).to_series()


def read_source(name: str, db: DatabaseSection, target: str, min_bytes: int = 0) -> tuple[pl.DataFrame, dict, str]:
    """The database's rows, the stat of each audio file, and the import hash that fingerprints both."""
    rows = _read_rows(name, db, target)
    rows = rows.with_columns(sample=_sample_ids(name, rows), database=pl.lit(name))
    files = rows["file"].unique(maintain_order=True).to_list()
    stats = {f: _stat(f) for f in files}
    source_hash = hash_file(Path(db.path)) if Path(db.path).is_file() else stable_hash(sorted(os.listdir(db.path)))
    import_hash = stable_hash([dataclasses.asdict(db), target, min_bytes, source_hash, sorted(stats.items())])
    return rows, stats, import_hash


def cached_samples(ctx: RunContext, name: str, import_hash: str) -> pl.DataFrame | None:
    """The stored samples of a database when they were imported from exactly this source."""
    old = ctx.workspace.read_part("samples", name)
    if old is None:
        return None
    if "import_hash" in old.columns and old.height and old["import_hash"][0] == import_hash:
        return old
    return None


def import_database(ctx: RunContext, name: str, db: DatabaseSection, target: str, min_bytes: int = 0) -> pl.DataFrame:
    """Return the samples of one database, importing (probing, hashing) only what changed."""
    rows, stats, import_hash = read_source(name, db, target, min_bytes)
    files = list(stats)
    cached = cached_samples(ctx, name, import_hash)
    if cached is not None:
        return cached
    ws = ctx.workspace
    old = ws.read_part("samples", name)
    previous: dict[tuple[str, int, int], dict] = {}
    if old is not None:
        if "source" in old.columns and old.height and old["source"][0] != str(Path(db.path).resolve()):
            ctx.log.warning("database '%s' was imported from %s; it is replaced by %s (experiments that used the old one keep "
                            "their splits and predictions)", name, old["source"][0], Path(db.path).resolve())
        cols = ["file", "bytes", "mtime_ns", "audio_hash", "sample_rate", "channels", "file_duration"]
        if all(c in old.columns for c in cols):
            for r in old.select(cols).unique("file").iter_rows(named=True):
                previous[(r["file"], r["bytes"], r["mtime_ns"])] = r

    infos: dict[str, AudioInfo | str] = {}
    for f in ctx.track(files, f"Checking audio of {name}", total=len(files)):
        size, mtime = stats[f]
        cached = previous.get((f, size, mtime))
        if cached is not None:
            infos[f] = AudioInfo(duration=cached["file_duration"], sample_rate=cached["sample_rate"],
                                 channels=cached["channels"], frames=0, bytes=size, audio_hash=cached["audio_hash"])
            continue
        try:
            infos[f] = probe(Path(f), min_bytes=max(min_bytes, 1))
        except AudioError as exc:
            infos[f] = str(exc)

    good, rejects = [], []
    seen: set[str] = set()
    for r in rows.iter_rows(named=True):
        info = infos[r["file"]]
        reason = info if isinstance(info, str) else None
        if reason is None and r["sample"] in seen:
            reason = "duplicate row (same file and segment listed twice)"
        start, end = r["start"], r["end"]
        if reason is None:
            assert isinstance(info, AudioInfo)
            seg_end = info.duration if end is None else end
            if (start or 0.0) >= seg_end or seg_end > info.duration + 0.01:
                reason = f"segment {start}-{end} s lies outside the file ({info.duration:.2f} s)"
        if reason is not None:
            rejects.append({"database": name, "sample": r["sample"], "file": r["file"], "stage": "import",
                            "reason": reason, "content_key": None})
            continue
        seen.add(r["sample"])
        segmented = start is not None or end is not None
        size, mtime = stats[r["file"]]
        good.append({
            **r,
            "start": start or 0.0,
            "end": seg_end,
            "duration": seg_end - (start or 0.0),
            "file_duration": info.duration,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "bytes": size,
            "mtime_ns": mtime,
            "audio_hash": info.audio_hash,
            "content_key": content_key(info.audio_hash, start or 0.0, seg_end) if segmented else info.audio_hash,
            "import_hash": import_hash,
            "source": str(Path(db.path).resolve()),
        })
    label_cols = [c for c in rows.columns if c not in SAMPLES and c not in ("file_id", "table_split")]
    samples = pl.DataFrame(good, infer_schema_length=None) if good else rows.clear().with_columns(
        [pl.lit(None, t).alias(c) for c, t in SAMPLES.items() if c not in rows.columns]
        + [pl.lit(None, pl.Float64).alias("file_duration"), pl.lit(None, pl.Int64).alias("mtime_ns"),
           pl.lit(None, pl.String).alias("import_hash"), pl.lit(None, pl.String).alias("source")]
    )
    samples = samples.with_columns(age=pl.col("age").cast(pl.String).cast(pl.Float64, strict=False))
    samples = check_schema(samples, SAMPLES, "samples")
    ordered = list(SAMPLES) + [c for c in label_cols if c not in SAMPLES] + [
        "file_id", "table_split", "file_duration", "mtime_ns", "import_hash", "source"]
    samples = samples.select([c for c in dict.fromkeys(ordered) if c in samples.columns])
    reject_df = pl.DataFrame(rejects, schema=REJECTS)
    ws.write_part("rejects", f"import-{name}", check_schema(reject_df, REJECTS, "rejects"), index=False)
    ws.write_part("samples", name, samples, index=False)
    ws.refresh_views(["samples", "rejects"])
    if rejects:
        ctx.log.warning("%s: %d of %d files rejected (see `nkl query \"select * from rejects\"`): %s",
                        name, len(rejects), rows.height, "; ".join(f"{Path(r['file']).name}: {r['reason']}" for r in rejects[:3]))
    return samples
