"""Shared fixtures: the real EmoDB data, small CSV databases built from it, INI writers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]


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
