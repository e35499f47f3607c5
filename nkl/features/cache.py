"""Content-addressed feature tables: compute only missing rows, in parallel, streamed to disk in parts.

A row's key is the sample's content key (audio hash + segment bounds); its part's name starts with the
extractor's spec hash. A second experiment on the same audio, or the same one again, computes nothing;
an interrupted run keeps every part already written and resumes with the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from nkl.catalog.schemas import REJECTS
from nkl.context import RunContext
from nkl.errors import FeatureError
from nkl.features.registry import Extractor
from nkl.features.worker import DecodeSpec, Item, decode_items, extract_chunk, failure_reason, init_decoder, init_worker

if TYPE_CHECKING:
    from nkl.features.ray_engine import RayEngine

FLUSH_ROWS = 64  # rows per Parquet part of per-file extractors (or FLUSH_SECONDS of work, whichever comes first)
FLUSH_ROWS_BATCHED = 2048  # the same for models: a part of 768 columns costs ~40 ms whatever its rows, so small parts
# would cost more than a GPU's embeddings
FLUSH_SECONDS = 10.0
CHUNK = 4
MAX_DECODE_THREADS = 8
MAX_DECODE_PROCESSES = 16
PROCESS_DECODE_MIN = 1024  # files in a job before decoding moves from threads to processes
DECODE_CHUNK = 16  # files per decoding task
PREFETCH_BATCHES = 3  # batches decoded ahead of a batched model ...
PREFETCH_SECONDS = 3600.0  # ... unless they hold more audio than this (one batch ahead is always decoded)


@dataclass(frozen=True)
class ExtractionReport:
    """What one ``ensure_features`` call did."""

    table: str
    cached: int
    computed: int
    failed: int
    seconds: float


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def known_keys(ctx: RunContext, extractor: Extractor) -> tuple[set[str], dict[str, str]]:
    """Content keys already computed for this spec, and those that failed before (key → reason)."""
    ws, spec = ctx.workspace, extractor.spec_hash
    rows = ws.frame(extractor.table, spec)
    done = set(rows.select("content_key").collect()["content_key"].to_list()) if rows is not None else set()
    rejects = ws.frame("rejects", f"features-{extractor.table}-{spec}")
    failed = dict(rejects.select("content_key", "reason").collect().iter_rows()) if rejects is not None else {}
    return done, failed


class _PartWriter:
    """Buffers extracted rows and writes them as Parquet parts (atomically) every ``FLUSH_ROWS`` rows or
    ``FLUSH_SECONDS``. Parts are written by one background thread, so that a model keeps working meanwhile; at most one
    write is pending, and ``close`` waits for it (its error, if any, is raised there or at the next flush)."""

    def __init__(self, ctx: RunContext, extractor: Extractor, samples: pl.DataFrame) -> None:
        self.ctx, self.extractor = ctx, extractor
        self.spec = extractor.spec_hash
        self.names: list[str] = []
        self.rows: list[tuple[str, np.ndarray]] = []
        self.failures: list[tuple[str, str]] = []
        self.last_flush = time.monotonic()
        self.counter = 0
        self.written = 0
        self.failed = 0
        self.where = {r[0]: r[1:] for r in samples.select("content_key", "database", "sample", "file").iter_rows()}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nkl-parts")
        self._pending: Future | None = None

    def add(self, names: list[str], rows: list[tuple[str, np.ndarray]], failures: list[tuple[str, str]]) -> None:
        self.names = self.names or names
        self.rows.extend(rows)
        self.failures.extend(failures)
        limit = FLUSH_ROWS_BATCHED if self.extractor.batched else FLUSH_ROWS
        if len(self.rows) + len(self.failures) >= limit or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered rows to the writing thread (after the previous write has finished)."""
        self._wait()
        if self.rows or self.failures:
            stamp = f"{time.time_ns()}-{os.getpid()}-{self.counter}"
            self.counter += 1
            self._pending = self._thread.submit(self._write, stamp, self.names, self.rows, self.failures)
        self.rows, self.failures = [], []
        self.last_flush = time.monotonic()

    def close(self) -> None:
        """Write what is buffered and wait until every part is on disk."""
        try:
            self.flush()
            self._wait()
        finally:
            self._thread.shutdown(wait=True)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _write(self, stamp: str, names: list[str], rows: list[tuple[str, np.ndarray]], failures: list[tuple[str, str]]) -> None:
        ws = self.ctx.workspace
        if rows:
            frame = pl.DataFrame(np.vstack([v for _, v in rows]), schema=names, orient="row").with_columns(
                pl.Series("content_key", [k for k, _ in rows], dtype=pl.String), pl.lit(self.spec).alias("spec_hash"))
            ws.write_part(self.extractor.table, f"{self.spec}-{stamp}", frame.select(["content_key", "spec_hash", *names]), index=False)
            self.written += len(rows)
        if failures:
            rejects = pl.DataFrame(
                [{"database": self.where[k][0], "sample": self.where[k][1], "file": self.where[k][2],
                  "stage": f"features:{self.extractor.table}", "reason": r, "content_key": k} for k, r in failures],
                schema=REJECTS,
            )
            ws.write_part("rejects", f"features-{self.extractor.table}-{self.spec}-{stamp}", rejects, index=False)
            self.failed += len(failures)


def decode_threads() -> int:
    """Threads that decode and resample ahead of a batched model in small jobs (libsndfile and scipy release the GIL)."""
    return max(1, min(default_workers(), MAX_DECODE_THREADS))


def decode_processes(n_items: int) -> int:
    """Processes that decode ahead of a batched model: one per core but the model's, for jobs large enough to repay
    starting them (about a second); 0 = use threads. Threads alone decode 700-800 files/s on a 16-core machine, which
    starves a GPU that embeds 1,500 or more."""
    cores = default_workers()
    return min(cores - 1, MAX_DECODE_PROCESSES) if n_items >= PROCESS_DECODE_MIN and cores >= 4 else 0


def _estimate_batch(extractor: Extractor, signals: list[tuple[Item, np.ndarray]]) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """Run one batch; when the batch fails, run its files one by one so that only the bad file is rejected."""
    rows: list[tuple[str, np.ndarray]] = []
    failures: list[tuple[str, str]] = []
    try:
        values = extractor.extract_batch([s for _, s in signals])
        pairs = list(zip(signals, values, strict=True))
    except Exception:  # noqa: BLE001 - isolate the file that breaks the batch
        if len(signals) == 1:
            pairs = []
            try:
                extractor.extract_batch([signals[0][1]])
            except Exception as exc:  # noqa: BLE001 - this file's reject reason
                failures.append((signals[0][0].content_key, failure_reason(extractor, exc)))
        else:
            for one in signals:
                more_rows, more_failures = _estimate_batch(extractor, [one])
                rows += more_rows
                failures += more_failures
            return rows, failures
    for (item, _), row in pairs:
        if np.any(np.isfinite(row)):
            rows.append((item.content_key, np.asarray(row, dtype=np.float64)))
        else:
            failures.append((item.content_key, f"{extractor.name} returned no finite values"))
    return rows, failures


def _decode_pool(n_items: int) -> Executor:
    processes = decode_processes(n_items)
    if processes:
        return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"), initializer=init_decoder)
    return ThreadPoolExecutor(max_workers=decode_threads(), thread_name_prefix="nkl-decode")


def _run_batched(extractor: Extractor, items: list[Item], seconds: list[float], writer: _PartWriter, bar) -> None:
    """Batched extractors (models): one copy in this process, ``batch_size`` signals per call. A pool of threads (small
    jobs) or processes (large ones) decodes and resamples the next batches while the model works on this one: up to
    ``PREFETCH_BATCHES`` ahead, fewer when those hold more than ``PREFETCH_SECONDS`` of audio (``seconds`` are the
    items' durations, 0 when unknown)."""
    size = extractor.batch_size
    batches = [items[i:i + size] for i in range(0, len(items), size)]
    audio = [sum(seconds[i:i + size]) for i in range(0, len(items), size)]
    with _decode_pool(len(items)) as pool:
        pool.submit(decode_items, None, [])  # decoding processes start (import their libraries) while the model loads
        extractor.setup()
        spec = DecodeSpec(extractor.name, extractor.sample_rate, extractor.min_duration)
        ahead: deque[tuple[int, list[Future]]] = deque()
        following = 0

        def fill() -> None:
            nonlocal following
            while following < len(batches) and len(ahead) < PREFETCH_BATCHES and (
                    not ahead or sum(audio[i] for i, _ in ahead) + audio[following] <= PREFETCH_SECONDS):
                batch = batches[following]
                ahead.append((following, [pool.submit(decode_items, spec, batch[i:i + DECODE_CHUNK])
                                          for i in range(0, len(batch), DECODE_CHUNK)]))
                following += 1

        try:
            for batch in batches:
                fill()
                _, futures = ahead.popleft()
                try:
                    decoded = list(zip(batch, [s for future in futures for s in future.result()], strict=True))
                except BrokenProcessPool:
                    raise FeatureError(f"{extractor.table}: a decoding process died (killed, e.g. out of memory); try a smaller [FEATS] batch_size") from None
                fill()  # decoding goes on while the model runs
                signals = [(item, s) for item, s in decoded if isinstance(s, np.ndarray)]
                failures = [(item.content_key, s) for item, s in decoded if isinstance(s, str)]
                rows, failed = _estimate_batch(extractor, signals) if signals else ([], [])
                writer.add(list(extractor.names), rows, failures + failed)
                bar.advance(len(batch))
        except BaseException:
            for _, futures in ahead:
                for future in futures:
                    future.cancel()
            raise


def worker_context(extractor: Extractor) -> multiprocessing.context.BaseContext:
    """Forkserver where the platform has one, else spawn (never a plain fork: this process runs threads).

    The forkserver is a fresh process that loads the worker's modules once (for openSMILE 0.5 s of CPU) and forks each
    worker from there, ready; spawned workers would each load them. The preload is fixed when the server starts (the
    first pool of this process); the modules of a later extractor load in its workers.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nkl.features.worker", type(extractor).__module__, *extractor.worker_modules])
    return context


def _run_pool(ctx: RunContext, extractor: Extractor, chunks: list[list[Item]], workers: int, writer: _PartWriter, bar) -> None:
    context = worker_context(extractor)
    threads = max(1, default_workers() // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker, initargs=(extractor, threads)) as pool:
        pending: set[Future] = set()
        queue = iter(chunks)
        try:
            for chunk in queue:
                pending.add(pool.submit(extract_chunk, chunk))
                if len(pending) >= workers * 3:
                    break
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    names, rows, failures = future.result()
                    writer.add(names, rows, failures)
                    bar.advance(len(rows) + len(failures))
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(extract_chunk, nxt))
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def ensure_features(ctx: RunContext, extractor: Extractor, samples: pl.DataFrame, *, workers: int = 0,
                    fail_threshold: float = 0.5, on_work: Callable[[], object] | None = None,
                    engine: RayEngine | None = None) -> ExtractionReport:
    """Make sure every sample has a feature row for this extractor; compute only the missing ones.

    ``on_work`` is called once, just before extraction starts, when there is something to extract. ``engine``: where
    the missing rows of audio are computed (None = processes of this machine; a ``RayEngine`` = a Ray Data pipeline,
    same rows and parts).
    """
    started = time.monotonic()
    samples = extractor.keyed(samples)
    unique = samples.unique("content_key", keep="first", maintain_order=True)
    done, failed_before = known_keys(ctx, extractor)
    if unique.filter(~pl.col("content_key").is_in(list(done | set(failed_before)))).height == 0:  # all cached: no claim needed
        return _extract_missing(ctx, extractor, unique, done, failed_before, started, workers, fail_threshold, on_work, engine)

    def waiting() -> None:
        ctx.log.info("%s: another process is extracting these features; waiting for it, then extracting what it left", extractor.table)

    # one process at a time computes rows of one spec in a workspace: a second `nkl run` waits, then finds them done
    with ctx.workspace.claim(extractor.table, extractor.spec_hash, waiting=waiting):
        done, failed_before = known_keys(ctx, extractor)
        return _extract_missing(ctx, extractor, unique, done, failed_before, started, workers, fail_threshold, on_work, engine)


def _failed(unique: pl.DataFrame, failed: dict[str, str]) -> int:
    return sum(1 for k in unique["content_key"].to_list() if k in failed)


def _extract_missing(ctx: RunContext, extractor: Extractor, unique: pl.DataFrame, done: set[str], failed_before: dict[str, str],
                     started: float, workers: int, fail_threshold: float, on_work: Callable[[], object] | None,
                     engine: RayEngine | None = None) -> ExtractionReport:
    todo = unique.filter(~pl.col("content_key").is_in(list(done | set(failed_before))))
    cached = unique.height - todo.height
    writer = _PartWriter(ctx, extractor, unique)
    if todo.height:
        if extractor.batched and "duration" in todo.columns:
            todo = todo.sort("duration", nulls_last=True)  # similar lengths share a batch: less padding
        items = [Item(r["content_key"], r["file"], float(r["start"] or 0.0), r["end"])
                 for r in todo.select("content_key", "file", "start", "end").iter_rows(named=True)]
        seconds = [float(d or 0.0) for d in todo["duration"].to_list()] if "duration" in todo.columns else [0.0] * len(items)
        n_workers = min(workers or default_workers(), max(1, len(items) // CHUNK))
        if on_work is not None:
            on_work()
        how = (f"in batches of {extractor.batch_size}" if extractor.batched else f"with {n_workers} worker(s)") if extractor.reads_audio \
            else "from the import file(s)"
        if engine is not None and extractor.reads_audio:
            how = "on Ray" + (f", in batches of {extractor.batch_size}" if extractor.batched else "")
        ctx.log.info("%s: extracting %d of %d files %s (%d cached)", extractor.table, len(items), unique.height, how, cached)
        try:
            with ctx.progress.task(extractor.progress_label, total=len(items)) as bar:
                if not extractor.reads_audio:
                    extractor.setup()
                    writer.add(*extractor.rows_for(todo))  # type: ignore[attr-defined]
                    bar.advance(len(items))
                elif engine is not None:
                    engine.run(extractor, items, workers, writer, bar)
                elif extractor.batched:
                    _run_batched(extractor, items, seconds, writer, bar)
                elif n_workers <= 1:
                    extractor.setup()
                    for i in range(0, len(items), CHUNK):
                        chunk = items[i:i + CHUNK]
                        writer.add(*extract_chunk(chunk, extractor))
                        bar.advance(len(chunk))
                else:
                    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
                    try:
                        _run_pool(ctx, extractor, chunks, n_workers, writer, bar)
                    except BrokenProcessPool:
                        extractor.setup()  # a worker failed to start: raise the real reason (e.g. a model that cannot load)
                        raise FeatureError(f"{extractor.table}: a worker process died; run with --workers 1 to see why") from None
        finally:
            writer.close()
            ctx.workspace.refresh_views([extractor.table, "rejects"])
    failed_now = writer.failed
    failed_total = failed_now + _failed(unique, failed_before)
    if unique.height and failed_total / unique.height > fail_threshold:
        raise FeatureError(
            f"{extractor.table}: {failed_total} of {unique.height} files failed (more than fail_threshold = {fail_threshold}); "
            "see `nkl query \"select reason, count(*) from rejects group by 1\"`"
        )
    if failed_now:
        ctx.log.warning("%s: %d file(s) could not be used and were recorded in rejects", extractor.table, failed_now)
    return ExtractionReport(extractor.table, cached, writer.written, failed_total, time.monotonic() - started)


def load_features(ctx: RunContext, extractor: Extractor, keys: list[str]) -> pl.DataFrame:
    """Feature rows of these content keys (``content_key`` + feature columns)."""
    rows = ctx.workspace.collect(extractor.table, extractor.spec_hash, pl.col("content_key").is_in(keys))
    if rows is None:
        return pl.DataFrame({"content_key": []}, schema={"content_key": pl.String})
    return rows.drop("spec_hash").unique("content_key", keep="last", maintain_order=True)


def join_features(ctx: RunContext, extractors: list[Extractor], frame: pl.DataFrame,
                  source: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[str]]:
    """Add every extractor's feature columns to ``frame`` (by ``content_key``; rows without features drop out).

    Extractors whose rows are keyed by something else than the audio (``bert``: the text) find each sample's key in
    ``source`` (the samples with all their columns; default ``frame``), by ``sample``. With several extractors,
    columns are prefixed ``<extractor>.`` so that names cannot collide.
    """
    source = frame if source is None else source
    columns: list[str] = []
    for ext in extractors:
        keyed = ext.keyed(source)
        if keyed is source:
            feats = load_features(ctx, ext, frame["content_key"].to_list())
            on = "content_key"
        else:
            rows = keyed.select("sample", pl.col("content_key").alias("_row_key")).unique("sample")
            frame = frame.join(rows, on="sample", how="left")
            feats = load_features(ctx, ext, rows["_row_key"].to_list()).rename({"content_key": "_row_key"})
            on = "_row_key"
        names = [n for n in feats.columns if n != on]
        if len(extractors) > 1:
            feats = feats.rename({n: f"{ext.name}.{n}" for n in names})
            names = [f"{ext.name}.{n}" for n in names]
        frame = frame.join(feats, on=on, how="inner")
        if on != "content_key":
            frame = frame.drop(on)
        columns += names
    return frame, columns
