"""The exception tree of nkl.

Every error that a user can cause or fix is an ``NklError``; the CLI turns one into a single
red line and exit code 2. Anything else is a bug and keeps its traceback::

    NklError
     ├── ConfigError(NklError, ValueError)       bad INI file, key or value
     ├── DataError(NklError, ValueError)         bad CSV, labels, splits
     ├── AudioError(NklError, RuntimeError)      one audio file cannot be used
     ├── FeatureError(NklError, RuntimeError)    extraction failed too often
     ├── ModelError(NklError, RuntimeError)      a model cannot be fitted, saved or loaded
     ├── CatalogError(NklError, RuntimeError)    the workspace is damaged or locked
     ├── WorkspaceError(NklError, OSError)       the workspace cannot be written (disk full, read-only, no permission)
     ├── QueryError(NklError, ValueError)        SQL that names unknown tables or columns
     ├── ReportError(NklError, RuntimeError)     a report cannot be rendered (Quarto, Pandoc or Typst failed)
     └── MissingExtraError(NklError, ImportError) an optional dependency is not installed
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(message: str) -> str:
    """A message as one printable line: line breaks become spaces, other control characters (a NUL byte quoted from a
    user's file) become ``?``."""
    return _CONTROL.sub("?", _BREAKS.sub(" ", message))


class NklError(Exception):
    """Root of every error a user can cause or fix. Its message is always one printable line (see ``one_line``)."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (one_line(args[0]), *args[1:])
        super().__init__(*args)


class ConfigError(NklError, ValueError):
    """A bad INI file, section, key or value."""


class DataError(NklError, ValueError):
    """A bad CSV file, label, filter or split."""


class AudioError(NklError, RuntimeError):
    """One audio file cannot be used; recorded in ``rejects``, not fatal on its own."""


class FeatureError(NklError, RuntimeError):
    """Feature extraction failed for too many files."""


class ModelError(NklError, RuntimeError):
    """A model cannot be fitted, saved or loaded."""


class CatalogError(NklError, RuntimeError):
    """The workspace catalog is damaged, missing a table, or locked."""


class WorkspaceError(NklError, OSError):
    """A file of the workspace cannot be written: the disk is full or over quota, or the folder is read-only or not ours.

    An ``OSError`` too, so code that tolerates a failed optional write (a cache file) keeps tolerating it.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class QueryError(NklError, ValueError):
    """SQL that cannot run on the catalog (unknown table, column, syntax)."""


class ReportError(NklError, RuntimeError):
    """A report cannot be rendered: Quarto, Pandoc or Typst failed on the document."""


class MissingExtraError(NklError, ImportError):
    """An optional dependency family is not installed."""

    def __init__(self, extra: str, package: str) -> None:
        super().__init__(extra, package)  # both in args, so the error survives pickling (worker → parent)
        self.extra = extra
        self.package = package

    def __str__(self) -> str:
        return f"{self.package} is not installed; install it with: pip install 'nkl[{self.extra}]'"


def is_interrupt(exc: BaseException) -> bool:
    """Whether an error is Ctrl-C in disguise: DuckDB turns it into an InterruptException inside a query, which the
    catalog may wrap in one of nkl's errors (the original stays the error's context)."""
    current: BaseException | None = exc
    for _ in range(16):
        if current is None:
            return False
        if isinstance(current, KeyboardInterrupt) or type(current).__name__ == "InterruptException":
            return True
        current = current.__cause__ or current.__context__
    return False
