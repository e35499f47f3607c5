"""Every example INI is valid: it loads, and an experiment's plan builds (every key known, every model and extractor
checked) without reading any audio."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nkl.config import load_config
from nkl.plan import Plan

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").rglob("*.ini"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parents[2])  # examples are run from the repository root
    sections = set(re.findall(r"^\[(\w+)\]", path.read_text(), flags=re.M))
    if "CROSSDB" in sections or "multidb" in path.name:
        load_config(path, purpose="multidb")
    elif "MODEL" in sections:
        Plan(load_config(path))
    else:  # predict, segment, explore, augment: data and their own sections
        load_config(path, purpose="data")
