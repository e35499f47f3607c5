"""DNSMOS fast mode against reference mode (``[PREDICT] mos.mode``) on real EmoDB speech.

Every file of the EmoDB copy here lasts exactly 2.0 s; longer clips are one speaker's utterances joined. The clips: a
whole file (its 7 reference windows are 2 rotations, so fast = reference), 3.3 s (4 distinct rotations, fast scores 3),
12 s (fills a window unaided: every window, in both modes) and 0.52 s (just over the 0.5 s minimum, doubled 5 times:
7 distinct rotations, fast scores 3).

Tolerance where fast drops rotations: 0.2 on the 1-5 scale, 0.25 for BAK. Over 120 EmoDB clips of 0.5-8.9 s cut at
random (``bench_dnsmos.py --lengths 120``) the largest differences were 0.08 (P.808 MOS), 0.06 (SIG), 0.16 (BAK) and
0.11 (OVRL), the mean ones 0.007-0.017. The 0.52 s clip is among the hardest: its own 7 reference windows range over
1.3 in BAK (seen: fast differs from reference by 0.17 in BAK and 0.12 in SIG there).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.audio.decode import load_audio
from nkl.predict.dnsmos import NAMES, WINDOW, DnsmosPredictor, plan_windows
from tests.conftest import write_subset

pytest.importorskip("speechmos")
pytest.importorskip("onnxruntime")

RATE = 16000
TOLERANCE = {"est_mos": 0.2, "est_dnsmos_sig": 0.2, "est_dnsmos_bak": 0.25, "est_dnsmos_ovrl": 0.2}


@pytest.fixture(scope="module")
def clips(emodb: Path, emodb_table: pl.DataFrame) -> dict[str, np.ndarray]:
    files = emodb_table.filter(pl.col("speaker") == "11").sort("file")["file"].to_list()[:6]
    speech = np.concatenate([load_audio(emodb / file, sample_rate=RATE)[0] for file in files])
    return {"2 s file": speech[: 2 * RATE], "3.3 s": speech[RATE: int(4.3 * RATE)], "12 s": speech[: 12 * RATE],
            "0.52 s": speech[RATE: RATE + int(0.52 * RATE)]}


@pytest.fixture(scope="module")
def scores(clips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each mode's rows for the clips, all in one batch."""
    return {mode: DnsmosPredictor({"mode": mode}).extract_batch(list(clips.values())) for mode in ("fast", "reference")}


def test_window_plans_follow_the_reference() -> None:
    assert [w for w, _ in plan_windows(2 * RATE, "reference")] == [i * RATE for i in range(7)]  # tiled to 16 s
    assert plan_windows(2 * RATE, "fast") == [(0, 4), (RATE, 3)]  # rotations 0 and 1 s: 4 and 3 of the 7 windows
    # 8.9 s tiles to 17.8 s: 8 hops, but the 8th window's computed end (int((7 + 9.01) * 16000)) falls one sample short
    assert len(plan_windows(int(8.9 * RATE), "reference")) == 7
    assert len(plan_windows(int(8.9 * RATE), "fast")) == 3
    # a clip that fills a window unaided keeps every window (of different audio); hops 7-23 come out short the same way
    assert plan_windows(20 * RATE, "fast") == plan_windows(20 * RATE, "reference") and len(plan_windows(20 * RATE)) == 7
    assert [w // RATE for w, _ in plan_windows(40 * RATE)] == [*range(7), *range(24, 31)]
    assert plan_windows(int(1.2 * RATE), "fast") == plan_windows(int(1.2 * RATE), "reference") == [(0, 1)]
    assert all(start + WINDOW <= 16 * RATE for start, _ in plan_windows(2 * RATE, "reference"))


def test_fast_equals_reference_where_it_scores_every_distinct_window(clips: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> None:
    names = list(clips)
    for clip in ("2 s file", "12 s"):
        row = names.index(clip)
        np.testing.assert_allclose(scores["fast"][row], scores["reference"][row], rtol=0, atol=1e-5, err_msg=clip)


def test_fast_is_close_to_reference_where_it_drops_rotations(clips: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> None:
    names = list(clips)
    for clip in ("3.3 s", "0.52 s"):
        row = names.index(clip)
        assert len(plan_windows(len(clips[clip]), "fast")) < len(plan_windows(len(clips[clip]), "reference"))
        difference = np.abs(scores["fast"][row] - scores["reference"][row])
        assert all(difference[i] < TOLERANCE[name] for i, name in enumerate(NAMES)), (clip, difference)
    assert np.all((scores["fast"] > 1.0) & (scores["fast"] < 5.0)), scores["fast"]


def test_reference_mode_matches_speechmos_on_a_multi_window_clip(clips: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> None:
    from speechmos import dnsmos

    expected = dnsmos.run(np.clip(clips["2 s file"], -1.0, 1.0), RATE)  # 7 windows, speechmos's own sessions
    row = scores["reference"][list(clips).index("2 s file")]
    np.testing.assert_allclose(row, [expected["p808_mos"], expected["sig_mos"], expected["bak_mos"], expected["ovrl_mos"]], rtol=0, atol=1e-5)


def test_a_batch_gives_the_rows_of_one_by_one_scoring(clips: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> None:
    predictor = DnsmosPredictor()
    one_by_one = np.array([predictor.extract(clip, RATE)[1] for clip in clips.values()])
    np.testing.assert_allclose(scores["fast"], one_by_one, rtol=0, atol=1e-5)


def test_mode_is_part_of_the_cache_key() -> None:
    fast, reference = DnsmosPredictor(), DnsmosPredictor({"mode": "reference"})
    assert fast.mode == "fast" and fast.params()["mode"] == "fast" and reference.params()["mode"] == "reference"
    assert fast.spec_hash != reference.spec_hash and fast.table == reference.table == "estimates_mos"


def test_unknown_mode_is_one_line_naming_the_key(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    csv = write_subset(emodb, emodb_table, tmp_path / "data" / "one.csv", per_speaker=1, speakers=["08"])
    ini = tmp_path / "mos.ini"
    ini.write_text(textwrap.dedent(f"""
        [EXP]
        root = {tmp_path / 'ws'}
        [DATA]
        databases = ['db']
        db = {csv}
        target = emotion
        [PREDICT]
        targets = ['mos']
        mos.mode = nonsense
        """), encoding="utf-8")
    done = run_cli("predict", ini, cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "mos.mode" in lines[0] and "nonsense" in lines[0] and "fast, reference" in lines[0], lines[0]
    assert not (tmp_path / "ws" / "tables" / "estimates_mos").exists()
