"""Shared fixtures: the real EmoDB data, small CSV databases built from it, INI writers."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_lazy_speechbrain_modules():
    """speechbrain puts lazy placeholder modules into sys.modules; hypothesis reads the ``__file__`` of every loaded module,
    which imports them (and fails for optional ones such as k2). Drop the placeholders that were never loaded."""
    yield
    for name, module in list(sys.modules.items()):
        if name.startswith("speechbrain") and isinstance(module, ModuleType) and type(module).__name__ in ("LazyModule", "DeprecatedModuleRedirect") \
                and getattr(module, "lazy_module", None) is None:
            del sys.modules[name]


def emodb_root() -> Path | None:
    """EmoDB: $NKL_EMODB, else ../shared/data/emodb beside the repository."""
    for candidate in (os.environ.get("NKL_EMODB"), REPO.parent / "shared" / "data" / "emodb"):
        if candidate and (Path(candidate) / "emodb.csv").is_file():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def emodb() -> Path:
    root = emodb_root()
    if root is None:
        pytest.skip("EmoDB not found: set NKL_EMODB to the folder holding emodb.csv and wav/")
    return root


@pytest.fixture(scope="session")
def emodb_table(emodb: Path) -> pl.DataFrame:
    return pl.read_csv(emodb / "emodb.csv", infer_schema=False)


def write_subset(emodb: Path, table: pl.DataFrame, path: Path, per_speaker: int, speakers: list[str] | None = None) -> Path:
    """A CSV with the first ``per_speaker`` files of each speaker, with absolute audio paths."""
    rows = table if speakers is None else table.filter(pl.col("speaker").is_in(speakers))
    rows = rows.sort("file").group_by("speaker", maintain_order=True).head(per_speaker)
    rows = rows.with_columns(pl.concat_str(pl.lit(str(emodb) + "/"), pl.col("file")).alias("file"))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.select("file", "speaker", "gender", "age", "emotion").write_csv(path)
    return path


@pytest.fixture
def small_csv(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path) -> Path:
    """Six files from each of the ten EmoDB speakers (60 real recordings)."""
    return write_subset(emodb, emodb_table, tmp_path / "data" / "small.csv", per_speaker=6)


def write_ini(path: Path, text: str) -> Path:
    """Write a dedented INI file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def segment_ini(folder: Path, csv: Path, segment_keys: str = "") -> Path:
    """``folder/segment.ini``: database ``db`` from ``csv`` (target emotion), workspace ``folder/ws``, experiment ``seg``,
    and these ``[SEGMENT]`` keys (one per line)."""
    keys = "\n".join(line.strip() for line in segment_keys.strip().splitlines())
    return write_ini(folder / "segment.ini", f"""
        [EXP]
        root = {folder / 'ws'}
        name = seg
        [DATA]
        databases = ['db']
        db = {csv}
        target = emotion
        [SEGMENT]
        """ + keys + "\n")


@pytest.fixture
def make_ini(tmp_path: Path):
    """Write an experiment INI over a CSV into tmp_path; sections can be overridden or extended."""

    def make(csv: Path, *, name: str = "exp", model: str = "svm", extra: str = "", split: str = "['03', '08', '09', '10']",
             root: Path | None = None, labels: str = "") -> Path:
        text = f"""
        [EXP]
        root = {root or tmp_path / 'ws'}
        name = {name}
        [DATA]
        databases = ['db']
        db = {csv}
        db.split_strategy = {split}
        target = emotion
        {labels}
        [FEATS]
        type = ['os']
        scale = standard
        workers = 1
        [MODEL]
        type = {model}
        """
        ini = write_ini(tmp_path / f"{name}.ini", text)
        if extra:
            ini.write_text(ini.read_text() + textwrap.dedent(extra))
        return ini

    return make


# ---- Added for the core tests (config, data, audio, features, catalog, plan, cli) ----------------------------------

TEST_SPEAKERS = ["03", "08", "09", "10"]


def write_balanced_subset(emodb: Path, table: pl.DataFrame, path: Path, per_speaker: int = 6) -> Path:
    """A CSV with ``per_speaker`` files of each speaker, one per emotion where it can (emotions rotated by
    speaker), so every class has several training rows; absolute audio paths."""
    speakers = sorted(table["speaker"].unique().to_list())
    emotions = sorted(table["emotion"].unique().to_list())
    rows = table.sort("file").with_columns(rank=pl.int_range(pl.len()).over("speaker", "emotion"))
    rotation = pl.col("speaker").replace_strict({s: i for i, s in enumerate(speakers)}, return_dtype=pl.Int64)
    emotion = pl.col("emotion").replace_strict({e: i for i, e in enumerate(emotions)}, return_dtype=pl.Int64)
    rows = rows.with_columns(order=(emotion + rotation) % len(emotions)).sort("speaker", "rank", "order")
    rows = rows.group_by("speaker", maintain_order=True).head(per_speaker)
    rows = rows.sort("file").with_columns(pl.concat_str(pl.lit(str(emodb) + "/"), pl.col("file")).alias("file"))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.select("file", "speaker", "gender", "age", "emotion").write_csv(path)
    return path


@pytest.fixture(scope="session")
def balanced_csv(emodb: Path, emodb_table: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 real recordings (6 per speaker, emotions spread evenly); session-wide, never modified."""
    return write_balanced_subset(emodb, emodb_table, tmp_path_factory.mktemp("balanced") / "balanced.csv")


@pytest.fixture(scope="session")
def run_cli():
    """Run ``python -m nkl.cli.app ARGS`` in a folder; returns the CompletedProcess (real exit code, stderr)."""
    import subprocess
    import sys

    def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "PYTHONWARNINGS": "error"}
        return subprocess.run([sys.executable, "-m", "nkl.cli.entry", *map(str, args)], cwd=cwd, capture_output=True,
                              text=True, timeout=timeout, env=env, check=False)

    return run


class TrainedWorkspace:
    """A workspace after one cold ``nkl run`` (svm on ``balanced_csv``, test speakers 03, 08, 09, 10)."""

    def __init__(self, root: Path, ini: Path, csv: Path, stdout: str, stderr: str) -> None:
        self.root, self.ini, self.csv, self.stdout, self.stderr = root, ini, csv, stdout, stderr


@pytest.fixture(scope="session")
def trained(balanced_csv: Path, run_cli, tmp_path_factory: pytest.TempPathFactory) -> TrainedWorkspace:
    """Read-only for tests: copy it with ``ws_copy`` before running anything that writes."""
    folder = tmp_path_factory.mktemp("trained")
    ini = write_ini(folder / "exp.ini", f"""
        [EXP]
        root = {folder / 'ws'}
        name = exp
        [DATA]
        databases = ['db']
        db = {balanced_csv}
        db.split_strategy = {TEST_SPEAKERS}
        target = emotion
        [FEATS]
        type = ['os']
        scale = standard
        workers = 1
        [MODEL]
        type = svm
        """)
    done = run_cli("run", ini, cwd=folder)
    assert done.returncode == 0, done.stderr
    return TrainedWorkspace(folder / "ws", ini, balanced_csv, done.stdout, done.stderr)


@pytest.fixture
def ws_copy(trained: TrainedWorkspace, tmp_path: Path) -> Path:
    """``tmp_path / 'ws'`` (``make_ini``'s default root) holding a copy of the trained workspace's tables."""
    import shutil

    shutil.copytree(trained.root / "tables", tmp_path / "ws" / "tables")
    return tmp_path / "ws"


def interrupt_then_rerun(ini: Path, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, int, int, pl.Series]:
    """`nkl run ini` (200 files, openSMILE) stopped by SIGINT once a feature part is written, then run again.

    Checks the interrupted run (exit 130, the "interrupted" line, no traceback, some but not all rows kept) and that
    the rerun succeeds; returns (rows kept by the interrupted run, files the rerun extracted, files it found cached,
    the content keys of every feature row on disk)."""
    import re
    import signal
    import subprocess
    import time

    command = [sys.executable, "-m", "nkl.cli.app", "run", str(ini)]
    proc = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    features = cwd / "ws" / "tables" / "features_os_egemapsv02"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(features.glob("*.parquet")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = sum(len(pl.read_parquet(p)) for p in features.glob("*.parquet"))
    assert 0 < kept < 200

    again = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert again.returncode == 0, again.stderr
    extracted, cached = map(int, re.search(r"features: (\d+) extracted, (\d+) from cache", again.stderr).groups())
    keys = pl.concat([pl.read_parquet(p) for p in features.glob("*.parquet")])["content_key"]
    return kept, extracted, cached, keys
