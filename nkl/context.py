"""The explicit context passed down to every stage: workspace, logger and progress display.

No module reads global state; the CLI (or the Python API) builds one ``RunContext`` and hands it down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from nkl.catalog.workspace import Workspace

T = TypeVar("T")


class ProgressTask(Protocol):
    def advance(self, n: int = 1) -> None: ...


class Progress(Protocol):
    """Something that shows progress of long work (rich bars in the CLI, nothing in tests)."""

    def task(self, description: str, total: int) -> contextmanager: ...  # type: ignore[valid-type]


class _NullTask:
    def advance(self, n: int = 1) -> None:
        return None


class NullProgress:
    """Shows nothing."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[ProgressTask]:
        yield _NullTask()


@dataclass
class RunContext:
    """Where a stage reads and writes, and how it reports."""

    workspace: Workspace
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("nkl"))
    progress: Progress = field(default_factory=NullProgress)

    def track(self, items: Iterable[T], description: str, total: int) -> Iterator[T]:
        """Iterate with a progress bar."""
        with self.progress.task(description, total) as bar:
            for item in items:
                yield item
                bar.advance()
