"""Console output for the CLI: rich progress bars, log lines, one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

err_console = Console(stderr=True)
out_console = Console()


class _RichTask:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task_id, n)


class RichProgress:
    """Progress bars on stderr; hidden when quiet."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[_RichTask]:
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                            TimeRemainingColumn(), console=err_console, transient=True,
                            # off a terminal a transient bar only leaves a blank line in logs and captured stderr
                            disable=not self.enabled or not err_console.is_terminal)
        with progress:
            yield _RichTask(progress, progress.add_task(description, total=total))


def setup_logging(verbose: bool, quiet: bool) -> logging.Logger:
    """The ``nkl`` logger: console at INFO (DEBUG with --verbose, WARNING with --quiet); files added per run."""
    log = logging.getLogger("nkl")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    for handler in list(log.handlers):
        if isinstance(handler, RichHandler):
            log.removeHandler(handler)
    handler = RichHandler(console=err_console, show_time=False, show_path=False, markup=False, rich_tracebacks=False)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    log.addHandler(handler)
    return log


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)  # "nkl[ray]" is not markup
