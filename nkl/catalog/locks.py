"""Advisory file locks: one process at a time computes the rows of one table and key."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: processes do not coordinate
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("nkl")


@contextmanager
def claim(path: Path, *, waiting: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` for the block; other processes asking for it wait.

    ``waiting`` is called once when another process holds it. The lock is an ``flock``: the system releases it when
    its process ends, crash or kill included, so a claim is never left behind. Where locks are not supported the
    block runs unclaimed.
    """
    handle = None
    if fcntl is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")  # held for the block
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting is not None:
                    waiting()
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as exc:  # no locks on this file system, or a folder we cannot write (the writes will say so)
            log.debug("no lock on %s: %s", path.name, exc)
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing the only descriptor releases the lock
