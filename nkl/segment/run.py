"""``nkl segment``: speech segments of every sample, cached by content, as tables and a CSV database.

Writes ``segments`` (one row per speech segment: source sample, file, start, end, speaker and the
sample's labels) and ``silences`` (the gaps) for the experiment, and ``<root>/<result>.csv`` in
nkululeko's layout (file, start, end, speaker, gender, age, labels) that ``nkl run`` reads as a database.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

from nkl.audio.decode import load_audio
from nkl.catalog.schemas import REJECTS
from nkl.catalog.store import write_text
from nkl.config.config import Config
from nkl.context import RunContext
from nkl.errors import AudioError, ConfigError
from nkl.hashing import stable_hash
from nkl.segment.cutting import limit_lengths, silences

TABLE = "vad_silero"
TABLES = {"silero": TABLE, "pyannote": "vad_pyannote"}  # raw segments per method, cached by content
FLUSH = 64


def vad_spec(config: Config) -> dict:
    """Everything that determines the raw VAD output (the cache key's method half)."""
    if config.segment.method == "pyannote":
        from nkl.segment.pyannote_vad import pyannote_spec

        return pyannote_spec(config.segment.pyannote_model, config.segment.threshold)
    return {"method": "silero", "threshold": config.segment.threshold, "versions": {"silero-vad": version("silero-vad")}}


def load_segmenter(config: Config) -> Callable[[np.ndarray, int], list]:
    """``(16 kHz signal, rate) → segments`` for ``[SEGMENT] method``: (start, end) pairs, or (start, end, speaker) with diarization."""
    if config.segment.method == "pyannote":
        from nkl.segment.pyannote_vad import segmenter_for

        return segmenter_for(config)
    if config.segment.method != "silero":
        raise ConfigError(f"[SEGMENT] method = {config.segment.method} is not implemented; use silero or pyannote")
    from nkl.segment.vad import load_vad_model, speech_segments

    model = load_vad_model()
    return lambda signal, rate: speech_segments(signal, rate, model=model, threshold=config.segment.threshold)


def raw_segments(ctx: RunContext, config: Config, samples: pl.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """VAD segments (relative to each sample's start) per content key; computes only what is not cached.

    Each segment is ``[start, end]``, or ``[start, end, speaker]`` when a pyannote diarization pipeline segments.
    """
    table, method = TABLES[config.segment.method], config.segment.method
    ws, spec = ctx.workspace, stable_hash(vad_spec(config))
    found: dict[str, list] = {}
    stored = ws.frame(table, spec)
    for key, text in (stored.select("content_key", "segments").collect().iter_rows() if stored is not None else ()):
        found[key] = json.loads(text)
    unique = samples.unique("content_key", keep="first")
    todo = unique.filter(~pl.col("content_key").is_in(list(found)))
    if todo.height:
        segmenter = load_segmenter(config)
        buffer, rejects = [], []

        def flush() -> None:
            stamp = f"{spec}-{time.time_ns()}-{os.getpid()}"
            if buffer:
                ws.write_part(table, stamp, pl.DataFrame(buffer, schema={"content_key": pl.String, "segments": pl.String}), index=False)
            if rejects:
                ws.write_part("rejects", f"segment-{stamp}", pl.DataFrame(rejects, schema=REJECTS), index=False)
            buffer.clear()
            rejects.clear()

        try:
            rows = todo.select("content_key", "file", "start", "end", "database", "sample").iter_rows(named=True)
            for r in ctx.track(rows, f"Segmenting ({method})", total=todo.height):
                try:
                    signal, rate = load_audio(r["file"], r["start"] or 0.0, r["end"], 16000)
                    segments = segmenter(signal, rate)
                except AudioError as exc:
                    rejects.append({"database": r["database"], "sample": r["sample"], "file": r["file"], "stage": "segment",
                                    "reason": str(exc), "content_key": r["content_key"]})
                    continue
                found[r["content_key"]] = segments
                buffer.append({"content_key": r["content_key"], "segments": json.dumps(segments)})
                if len(buffer) >= FLUSH:
                    flush()
        finally:
            flush()
            ws.refresh_views([table, "rejects"])
    return found


def segment(ctx: RunContext, config: Config, samples: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, Path]:
    """Segments and silences of the samples (written to the catalog) and the path of the segments CSV."""
    raw = raw_segments(ctx, config, samples)
    s = config.segment
    labels = [c for c in samples.columns if c not in ("sample", "database", "file", "start", "end", "duration", "content_key",
                                                     "audio_hash", "sample_rate", "channels", "bytes", "file_id", "table_split",
                                                     "file_duration", "mtime_ns", "import_hash", "source", "split")]
    seg_rows, gap_rows = [], []
    for r in samples.iter_rows(named=True):
        if r["content_key"] not in raw:
            continue
        offset = r["start"] or 0.0
        base = {"experiment": config.exp.name, "source": r["sample"], "database": r["database"], "file": r["file"]}
        # the database's speaker when it has one; else the diarization's (per-file) speaker; else unknown (null)
        for *bounds, speaker in [(*seg[:2], seg[2] if len(seg) > 2 else None) for seg in raw[r["content_key"]]]:
            for start, end in limit_lengths([tuple(bounds)], min_length=s.min_length, max_length=s.max_length or None):
                seg_rows.append({**base, "start": offset + start, "end": offset + end, "duration": end - start,
                                 **{c: r[c] for c in labels}, "speaker": r.get("speaker") if r.get("speaker") is not None else speaker})
        for start, end in silences([seg[:2] for seg in raw[r["content_key"]]], r["duration"], include_borders=s.include_silence_borders):
            gap_rows.append({**base, "start": offset + start, "end": offset + end, "duration": end - start})
    segments = pl.DataFrame(seg_rows, infer_schema_length=None) if seg_rows else pl.DataFrame()
    if segments.height:
        segments = segments.with_columns(pl.col("speaker").cast(pl.String))
    gaps = pl.DataFrame(gap_rows, infer_schema_length=None) if gap_rows else pl.DataFrame()
    ws = ctx.workspace
    if s.output_audio:
        from nkl.segment.export import export_segments

        segments = export_segments(ctx, s, segments, labels)
    if segments.height:
        ws.write_part("segments", config.exp.name, segments)
        csv = ws.root / f"{s.result}.csv"
        columns = ["file", "start", "end"] + [c for c in labels if c in segments.columns]
        if "speaker" not in columns and segments["speaker"].is_not_null().any():  # diarized speakers (no database speaker)
            columns.insert(3, "speaker")
        write_text(segments.select(columns).write_csv(), csv)
    else:
        csv = ws.root / f"{s.result}.csv"
    if gaps.height:
        ws.write_part("silences", config.exp.name, gaps)
        write_text(gaps.select("file", "start", "end", "duration").write_csv(), ws.root / f"{s.result}_silence.csv")
    return segments, gaps, csv


def duration_plot(folder: Path, name: str, before: pl.DataFrame, after: pl.DataFrame) -> list[Path]:
    """Histogram of sample durations before and segment durations after segmentation (PNG + SVG)."""
    import altair as alt

    from nkl.evaluate.plots import save_chart

    values = [{"which": "samples", "duration": d} for d in before["duration"].to_list()]
    values += [{"which": "segments", "duration": d} for d in after["duration"].to_list()] if after.height else []
    chart = alt.Chart(alt.Data(values=values)).mark_bar(opacity=0.7).encode(
        x=alt.X("duration:Q", bin=alt.Bin(maxbins=40), title="duration (s)"),
        y=alt.Y("count():Q", title="count", stack=None),
        color=alt.Color("which:N", title=None),
    ).properties(title=f"{name}: durations before and after segmentation", width=480, height=240)
    folder.mkdir(parents=True, exist_ok=True)
    return save_chart(chart, folder / f"{name}_segment_durations")
