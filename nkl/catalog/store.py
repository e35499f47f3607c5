"""Atomic file writes: write to a fresh temp name in the same folder, then ``os.replace``.

A write that fails because the disk is full or the folder cannot be written (ENOSPC, EDQUOT, EROFS, EACCES, EPERM)
leaves no temp file behind and becomes one ``WorkspaceError`` naming the folder, with a hint.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nkl.catalog.lazy_polars import pl
from nkl.errors import WorkspaceError

# errno → (what happened, what to do)
_FULL = "free space on that disk and run the same command again (what is already written is kept)"
_PERMISSIONS = "check the permissions of that folder (it must be writable by you) and run the same command again"
DISK_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", _FULL),
    errno.EDQUOT: ("disk quota exceeded", _FULL),
    errno.EROFS: ("the file system is read-only", _PERMISSIONS),
    errno.EACCES: ("permission denied", _PERMISSIONS),
    errno.EPERM: ("operation not permitted", _PERMISSIONS),
}
_OS_ERROR = re.compile(r"os error (\d+)")  # Rust writers (Polars, Arrow) carry the errno only in their message


def error_number(exc: BaseException) -> int | None:
    """The errno behind a failed write: an ``OSError``'s, or the ``(os error N)`` in a Polars/Arrow message."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    match = _OS_ERROR.search(str(exc))
    return int(match.group(1)) if match else None


def workspace_error(exc: BaseException, folder: Path) -> WorkspaceError | None:
    """``exc`` as a one-line ``WorkspaceError`` naming ``folder`` when it is a full disk or an unwritable folder, else None."""
    if isinstance(exc, WorkspaceError):
        return exc
    code = error_number(exc)
    if code not in DISK_ERRORS:
        return None
    what, hint = DISK_ERRORS[code]
    return WorkspaceError(f"cannot write to {folder}: {what}; {hint}", code)


@contextmanager
def writing(folder: Path) -> Iterator[None]:
    """Turn a full disk or an unwritable ``folder`` inside the block into a ``WorkspaceError`` naming it."""
    try:
        yield
    except Exception as exc:
        mapped = workspace_error(exc, folder)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


def make_folder(folder: Path) -> Path:
    """``mkdir -p``; a folder that cannot be made (full disk, no permission, a parent that cannot hold folders) is one
    ``WorkspaceError`` naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        mapped = workspace_error(exc, folder)
        raise (mapped or WorkspaceError(f"cannot create the folder {folder}: {exc.strerror or exc}; choose a folder you can write to",
                                        exc.errno)) from None
    return folder


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it onto ``target`` when the block succeeds.

    Libraries that insist on writing to a file name (Parquet, skops, LightGBM, safetensors) write to the
    yielded path, so a crash never leaves a half-written ``target``. The name is fresh rather than made
    by mkstemp, whose owner-only mode would survive the rename. A full disk or an unwritable folder
    raises ``WorkspaceError`` (the temp file removed).
    """
    with writing(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        with writing(target.parent):
            yield tmp
            os.replace(tmp, target)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # the folder turned read-only under us: nothing was written there either
            pass


TEMP_PATTERN = ".*.tmp"  # what atomic_path writes before the rename: left behind only by a killed process


def sweep_temp_files(folder: Path, older_than: float = 3600.0) -> int:
    """Remove the temp files of ``atomic_path`` in ``folder`` (not below it) last written over ``older_than`` seconds
    ago: a process killed mid-write (kill -9, power loss) leaves them; a live writer's are seconds old. Returns how
    many were removed; files that cannot be removed are left as they are."""
    removed = 0
    cutoff = time.time() - older_than
    for path in folder.glob(TEMP_PATTERN) if folder.is_dir() else []:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


@contextmanager
def atomic_folder(folder: Path) -> Iterator[Path]:
    """Yield an empty temp folder beside ``folder``; when the block ends it replaces ``folder`` (the old one is removed
    only after the new one is in place). An interrupted block leaves ``folder`` as it was and no temp folder; a full
    disk or an unwritable parent is a ``WorkspaceError``."""
    import shutil

    tmp = folder.with_name(f".{folder.name}.tmp")
    try:
        with writing(folder.parent):
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp path next to ``path`` and move it into place."""
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write a Parquet file atomically."""
    return atomic_write(path, lambda tmp: df.write_parquet(tmp, compression="zstd", statistics=True))


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: Path) -> Path:
    """Write a binary file atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
