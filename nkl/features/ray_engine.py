"""The Ray engine (``[EXP] engine = ray``): an extractor's missing rows computed by a Ray Data pipeline.

The files to do go to Ray as units of work (a batch's files); Ray workers decode them and run the same extractor
classes as the local engine: tasks for per-file extractors, decoding tasks then a pool of actors (one GPU each on
cuda) for models. Each unit's rows and rejects come back to this process, whose part writer stores them as the local
engine does, so parts, the claim, progress, ``fail_threshold`` and resuming after an interruption are the same.
Ray is imported only here, and only when this engine runs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pickle
import re
import socket
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from nkl.errors import ConfigError, FeatureError, MissingExtraError, NklError, one_line
from nkl.features.cache import _estimate_batch
from nkl.features.registry import Extractor
from nkl.features.worker import DecodeSpec, Item, decode_items, extract_chunk

UNIT_MIN, UNIT_MAX = 4, 32  # files per unit of a per-file extractor (about 8 units per CPU of the cluster, within these)
RETRIES = 3  # a unit whose worker dies (killed, out of memory) runs again this often before the run fails
DECODE_UNIT_CPUS = 1  # CPUs of a decoding task ahead of a model

log = logging.getLogger("nkl")


def require_ray() -> None:
    """MissingExtraError (``pip install 'nkl[ray]'``) unless Ray is installed."""
    if importlib.util.find_spec("ray") is None:
        raise MissingExtraError("ray", "ray")


def engine_for(name: str, address: str = "") -> RayEngine | None:
    """The engine that ``[EXP] engine`` names: None for local (the default), else a ``RayEngine`` (Ray installed and the
    address answering, checked now; Ray starts or connects at the first extraction)."""
    if name in ("", "local"):
        return None
    if name != "ray":
        raise ConfigError(f"[EXP] engine = {name!r} is unknown; use local or ray")
    require_ray()
    _check_reachable(address.strip())  # a wrong address fails before any work
    return RayEngine(address)


class RayEngine:
    """Runs extractors' missing rows on Ray: the cluster at ``address``, or a local Ray started at the first use.

    ``close`` stops the Ray that this engine started; a Ray that this process already ran is used as it is and left
    running.
    """

    def __init__(self, address: str = "") -> None:
        self.address = address.strip()
        self._started = False
        self._owned = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect to (or start) Ray once; quiet: no dashboard, no usage statistics, no worker output or Ray Data bars."""
        if self._started:
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray
        import ray.data

        self._started = True
        if not ray.is_initialized():
            _check_reachable(self.address)
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            try:
                with _ray_warnings_ignored():
                    ray.init(address=self.address or None, **options)
            except (ConnectionError, SystemExit, ValueError, RuntimeError) as exc:
                where = f"[EXP] ray.address = {self.address}" if self.address else "a local Ray"
                raise ConfigError(f"{where}: Ray could not start or connect ({type(exc).__name__}: {exc}); check the address, "
                                  "or leave ray.address empty for a local Ray") from None
            self._owned = True
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # a failing pipeline is reported once, by nkl
        with _ray_warnings_ignored():
            context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # nkl shows its own
        context.print_on_execution_start = False
        context.raise_original_map_exception = True  # a worker's NklError reaches this process as itself

    def close(self) -> None:
        """Stop the local Ray this engine started (nothing else)."""
        if self._owned:
            import ray

            with _ray_warnings_ignored():
                ray.shutdown()
        self._started = self._owned = False

    def run(self, extractor: Extractor, items: list[Item], workers: int, writer: Any, bar: Any) -> None:
        """Compute ``items`` (in this order, batches of ``batch_size`` for models) and hand each unit's rows and rejects
        to ``writer`` as it arrives. ``workers`` caps the parallel tasks or actors (0 = what the cluster has)."""
        self.start()
        import ray

        with _ray_warnings_ignored():
            resources = ray.cluster_resources()
            cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
            if extractor.batched:
                size = extractor.batch_size
                dataset = _batched_pipeline(extractor, [items[i:i + size] for i in range(0, len(items), size)], workers, cpus, gpus)
            else:
                size = max(UNIT_MIN, min(UNIT_MAX, len(items) // (8 * max(1, cpus))))
                dataset = _per_file_pipeline(extractor, [items[i:i + size] for i in range(0, len(items), size)], workers)
            for names, rows, failures in _results(extractor, dataset):
                writer.add(names, rows, failures)
                bar.advance(len(rows) + len(failures))


@contextmanager
def _ray_warnings_ignored() -> Iterator[None]:
    """Warnings raised in Ray's own code (deprecations of its internals) are not shown; ours still are."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"ray(\.|$)")
        yield


def _check_reachable(address: str) -> None:
    """ConfigError naming the key when nothing listens at a host:port address (Ray itself would wait for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"[EXP] ray.address = {address!r} is not host:port, auto or ray://host:port; e.g. ray.address = 10.0.0.5:6379")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"[EXP] ray.address = {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
                          "`ray start --head` or leave ray.address empty for a local Ray") from None


def _units(groups: list[list[Item]]) -> Any:
    """The dataset of units: one row (and one block, so one task) per unit, its items as JSON."""
    import ray

    rows = [{"items": json.dumps([[i.content_key, i.file, i.start, i.end] for i in group])} for group in groups]
    return ray.data.from_items(rows, override_num_blocks=len(rows))


def _items(text: str) -> list[Item]:
    return [Item(k, f, s, e) for k, f, s, e in json.loads(text)]


def _map(dataset: Any, fn: Any, **options: Any) -> Any:
    """``map_batches`` of one unit per call; Ray's retry options are passed as remote arguments (deprecated there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return dataset.map_batches(fn, batch_size=1, batch_format="numpy", **options)


def _per_file_pipeline(extractor: Extractor, groups: list[list[Item]], workers: int) -> Any:
    import ray

    compute = ray.data.TaskPoolStrategy(size=workers) if workers > 0 else None
    return _map(_units(groups), _extract_units, fn_kwargs={"extractor": extractor, "key": extractor.spec_hash}, compute=compute,
                num_cpus=1, max_retries=RETRIES)


def _batched_pipeline(extractor: Extractor, groups: list[list[Item]], workers: int, cpus: int, gpus: int) -> Any:
    """The model in a pool of actors: one GPU each on cuda (``workers`` or as many as the cluster has), else ``workers``
    (default one) sharing the cores. Where CPUs are left beside the actors, decoding runs apart in tasks ahead of the
    model (as the local engine's decoding threads do); else each actor decodes its own batches."""
    import ray

    cuda = str(extractor.device).lower().startswith("cuda")
    if cuda and not gpus:
        log.warning("%s: device = %s but the Ray cluster has no GPU; the model runs on the CPU", extractor.table, extractor.device)
        cuda = False
    if cuda:
        actors, threads = max(1, min(workers or gpus, gpus)), 1
    else:
        actors = max(1, min(workers or 1, cpus))
        threads = max(1, (_smallest_node_cpus() - 1) // actors)
    units = _units(groups)
    if cpus - actors * threads >= DECODE_UNIT_CPUS:
        spec = DecodeSpec(extractor.name, extractor.sample_rate, extractor.min_duration)
        units = _map(units, _decode_units, fn_kwargs={"spec": spec}, num_cpus=DECODE_UNIT_CPUS, max_retries=RETRIES)
    return _map(units, _ModelActor, fn_constructor_kwargs={"extractor": extractor, "cuda": cuda, "threads": threads},
                compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=threads, num_gpus=1 if cuda else None,
                max_restarts=RETRIES, max_task_retries=RETRIES)


def _smallest_node_cpus() -> int:
    import ray

    return int(min((n["Resources"].get("CPU", 1) for n in ray.nodes() if n.get("Alive")), default=1))


def _results(extractor: Extractor, dataset: Any) -> Iterator[tuple[list[str], list, list]]:
    """Each unit's (names, rows, failures) as the pipeline gives it; a failing pipeline raises one NklError."""
    batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
    try:
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # noqa: BLE001 - Ray wraps the worker's error: report its cause in one line
                raise _one_error(extractor, exc) from None
            if batch is None:
                return
            for blob in batch["result"]:
                yield pickle.loads(blob)  # made by this run's own tasks and actors (_extract_units, _ModelActor), never a user's file
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stops the pipeline's tasks and actors (an interrupted run keeps what was written)


def _one_error(extractor: Extractor, exc: BaseException) -> NklError:
    """The nkl error behind a Ray error (a model that cannot load, a missing extra), else a FeatureError naming the
    innermost cause."""
    seen = exc
    for _ in range(10):
        cause = getattr(seen, "cause", None)  # a RayTaskError's original exception
        inner = cause if isinstance(cause, BaseException) and cause is not seen else seen.__cause__
        if inner is None:
            break
        seen = inner
    if isinstance(seen, NklError) and not type(seen).__module__.startswith("ray"):  # not Ray's copy with its traceback
        return seen
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(seen)).splitlines() if line.strip()] or [""]
    message = one_line((lines[-1] if type(seen).__module__.startswith("ray") else lines[0])[:300])  # a Ray traceback ends with the cause
    return FeatureError(f"{extractor.table}: the Ray pipeline failed ({type(seen).__name__}: {message}); run with [EXP] engine = local "
                        "to see the cause")


# ---- in Ray workers ----------------------------------------------------------------------------------------------

_ready: dict[str, Extractor] = {}  # in a Ray worker process: the extractors set up there, by spec hash


def _set_up(extractor: Extractor, threads: int) -> Extractor:
    """Load the extractor's libraries or model once per worker process, with ``threads`` math threads; library warnings
    about single files are not shown (their problems are rejects)."""
    warnings.simplefilter("ignore")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    extractor.setup()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return extractor


def _extract_units(batch: dict[str, np.ndarray], extractor: Extractor, key: str) -> dict[str, np.ndarray]:
    """A Ray task: each unit's files through a per-file extractor."""
    if key not in _ready:
        _ready[key] = _set_up(extractor, threads=1)
    ready = _ready[key]
    return {"result": np.array([pickle.dumps(extract_chunk(_items(text), ready)) for text in batch["items"]], dtype=object)}


def _decode_units(batch: dict[str, np.ndarray], spec: DecodeSpec) -> dict[str, np.ndarray]:
    """A Ray task: each unit's items with their signals (or the reason a file has none)."""
    out = []
    for text in batch["items"]:
        items = _items(text)
        out.append(pickle.dumps((items, decode_items(spec, items))))
    return {"decoded": np.array(out, dtype=object)}


class _ModelActor:
    """A Ray actor holding one set-up copy of a batched extractor (on the actor's GPU with ``cuda``)."""

    def __init__(self, extractor: Extractor, cuda: bool, threads: int) -> None:
        if cuda:
            extractor.device = "cuda"  # Ray shows the actor only its own GPU, as cuda:0
        elif str(extractor.device).startswith("cuda"):
            extractor.device = "cpu"
        self.extractor, self.error = extractor, None
        try:
            _set_up(extractor, threads)
        except Exception as exc:  # noqa: BLE001 - raised with the first batch, so that it reaches nkl as itself (not retried)
            self.error = exc
        self.spec = DecodeSpec(extractor.name, extractor.sample_rate, extractor.min_duration)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each unit's rows and rejects, from its decoded signals (or its items, decoded here)."""
        if self.error is not None:
            raise self.error
        out = []
        for unit in batch["decoded"] if "decoded" in batch else batch["items"]:
            # bytes: a unit this run's decoding tasks pickled (_decode_units), never a user's file
            items, decoded = pickle.loads(unit) if isinstance(unit, bytes) else (_items(unit), None)
            decoded = decoded if decoded is not None else decode_items(self.spec, items)
            signals = [(item, s) for item, s in zip(items, decoded, strict=True) if isinstance(s, np.ndarray)]
            failures = [(item.content_key, s) for item, s in zip(items, decoded, strict=True) if isinstance(s, str)]
            rows, failed = _estimate_batch(self.extractor, signals) if signals else ([], [])
            out.append(pickle.dumps((list(self.extractor.names), rows, failures + failed)))
        return {"result": np.array(out, dtype=object)}
