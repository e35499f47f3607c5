"""A full disk or a read-only workspace while a part is written: no partial part or temp file is left behind, the
error is one line naming the folder with a hint, and `nkl run` exits with code 2."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from nkl.catalog.store import atomic_path, write_text
from nkl.catalog.workspace import Workspace
from nkl.errors import NklError, WorkspaceError

FRAME = pl.DataFrame({"sample": ["a", "b"], "value": [1.0, 2.0]})


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def failing_writer(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """DataFrame.write_parquet writes half a file, then fails like a full or unwritable disk."""

    def write_parquet(self, file, *args, **kwargs):
        Path(file).write_bytes(b"PAR1 half a part")
        raise error

    monkeypatch.setattr(pl.DataFrame, "write_parquet", write_parquet)


@pytest.mark.parametrize(("code", "words", "hint"), [
    (errno.ENOSPC, "no space left", "free space"),
    (errno.EDQUOT, "quota", "free space"),
    (errno.EROFS, "read-only", "check the permissions"),
    (errno.EACCES, "permission denied", "check the permissions"),
    (errno.EPERM, "not permitted", "check the permissions"),
])
def test_a_failed_part_write_leaves_nothing_and_names_the_folder(tmp_path, monkeypatch, code, words, hint):
    ws = Workspace(tmp_path / "ws")
    failing_writer(monkeypatch, OSError(code, os.strerror(code)))
    with pytest.raises(WorkspaceError) as caught:
        ws.write_part("samples", "db", FRAME, index=False)
    message = str(caught.value)
    assert isinstance(caught.value, NklError) and "\n" not in message
    assert message.startswith(f"cannot write to {ws.tables_dir / 'samples'}: ") and words in message and hint in message
    assert caught.value.errno == code
    assert leftovers(ws.root) == []  # neither the part nor its temp file


def test_polars_io_errors_are_recognised_by_their_os_error_number(tmp_path, monkeypatch):
    """Polars raises ComputeError (or an OSError without errno) whose message ends in '(os error N)'."""
    ws = Workspace(tmp_path / "ws")
    ws.write_part("samples", "db", FRAME, index=False)
    before = (ws.part_path("samples", "db")).read_bytes()
    failing_writer(monkeypatch, pl.exceptions.ComputeError(
        "parquet: File out of specification: underlying IO error: No space left on device (os error 28)"))
    with pytest.raises(WorkspaceError, match="no space left on the device; free space"):
        ws.write_part("samples", "db", FRAME.head(1), index=False)
    assert leftovers(ws.root) == ["tables/samples/db.parquet"]
    assert ws.part_path("samples", "db").read_bytes() == before  # the old part is intact
    failing_writer(monkeypatch, PermissionError("Permission denied (os error 13): x.parquet"))
    with pytest.raises(WorkspaceError, match="permission denied; check the permissions"):
        ws.write_part("samples", "db2", FRAME, index=False)
    assert leftovers(ws.root) == ["tables/samples/db.parquet"]


def test_other_errors_pass_unchanged_and_leave_no_temp_file(tmp_path):
    target = tmp_path / "out" / "x.txt"
    with pytest.raises(ValueError, match="a bug"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise ValueError("a bug")
    assert leftovers(tmp_path) == []
    assert write_text("ok", target).read_text() == "ok"


def test_an_unwritable_folder_is_named_when_it_cannot_be_created(tmp_path, monkeypatch):
    def mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(WorkspaceError, match=f"cannot write to {tmp_path / 'ws' / 'tables' / 'splits'}: permission denied"):
        Workspace(tmp_path / "ws").write_part("splits", "exp", FRAME, index=False)


# `nkl run` in a subprocess whose tables folder cannot be written. As root, chmod does not stop writes: the
# subprocess then gets Polars' own PermissionError (no errno, '(os error 13)' in the message) for every write there.
READ_ONLY_TABLES = textwrap.dedent("""
    import sys
    from pathlib import Path

    import polars as pl

    tables = Path(sys.argv[1]).resolve()
    write_parquet = pl.DataFrame.write_parquet

    def refuse(self, file, *args, **kwargs):
        if Path(file).resolve().is_relative_to(tables):
            raise PermissionError(f"Permission denied (os error 13): {file}")
        return write_parquet(self, file, *args, **kwargs)

    pl.DataFrame.write_parquet = refuse
    from nkl.cli.app import main

    sys.argv = ["nkl", *sys.argv[2:]]
    main()
""")


def test_nkl_run_on_a_read_only_tables_folder_is_one_line_and_exit_2(ws_copy, make_ini, balanced_csv, tmp_path):
    ini = make_ini(balanced_csv, name="exp_ro")
    tables = ws_copy / "tables"
    before = {p: p.read_bytes() for p in tables.rglob("*") if p.is_file()}
    folders = [tables, *(p for p in tables.rglob("*") if p.is_dir())]
    as_root = os.geteuid() == 0
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    try:
        if as_root:
            command = [sys.executable, "-c", READ_ONLY_TABLES, str(tables), "run", str(ini)]
        else:
            for folder in folders:
                folder.chmod(0o500)
            command = [sys.executable, "-m", "nkl.cli.app", "run", str(ini)]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env, check=False)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("warning", "note"))]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: cannot write to {tables}") and "permission denied; check the permissions" in lines[0]
    after = {p: p.read_bytes() for p in tables.rglob("*") if p.is_file()}
    assert after == before  # no partial part, no temp file, nothing replaced
