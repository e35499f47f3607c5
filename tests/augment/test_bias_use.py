"""The bias use of augmentation (nkululeko's paper): noise added to one category only (female anger and happiness)
is found again by `nkl explore` with the estimated SNR, and a random column shows no association."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nkl.catalog import Catalog

pytest.importorskip("audiomentations")

NOISE_ONLY = """
    augment = ['traditional']
    p_noise = 1.0
    noise_min = 0.02
    noise_max = 0.05
    p_shift = 0
    p_bandpass = 0
    p_clipping = 0
    sample_selection = all
    allow_test = True
    filter = {'gender': ['female'], 'emotion': ['anger', 'happiness']}
"""


def bias_ini(tmp_path: Path, name: str, databases: str, tail: str) -> Path:
    text = f"[EXP]\nroot = {tmp_path / 'ws'}\nname = {name}\n[DATA]\n{databases}\ntarget = gender\n{tail}"
    path = tmp_path / f"{name}.ini"
    path.write_text("\n".join(line.strip() for line in text.splitlines()) + "\n")
    return path


def snr_tests(catalog: Catalog, experiment: str) -> dict[str, float]:
    rows = catalog.sql(f"select attribute, p_adj from bias where experiment = '{experiment}' and level = 'samples' "
                       "and test = 'mann_whitney'")
    return dict(rows.iter_rows())


def test_noise_on_one_category_is_found_by_explore(emodb: Path, emodb_table: pl.DataFrame, tmp_path: Path, run_cli) -> None:
    csv = tmp_path / "emodb_coin.csv"
    emodb_table.with_columns(pl.concat_str(pl.lit(f"{emodb}/"), pl.col("file")).alias("file"),
                             coin=pl.Series(np.random.default_rng(3).normal(0, 1, emodb_table.height))).write_csv(csv)
    db = f"databases = ['db']\ndb = {csv}\ndb.split_strategy = speaker_split"
    augment = bias_ini(tmp_path, "noisy", db, "[AUGMENT]\n" + NOISE_ONLY)
    done = run_cli("augment", augment, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    noisy = tmp_path / "ws" / "experiments" / "noisy" / "augmented.csv"
    explore = "[PREDICT]\ntargets = ['snr']\nsample_selection = all\n[EXPL]\nvalue_counts = [['est_snr'], ['coin']]"
    plain = bias_ini(tmp_path, "plain", db, explore)
    biased = bias_ini(tmp_path, "biased", db.replace("['db']", "['db', 'noisy']") + f"\nnoisy = {noisy}\nnoisy.split_strategy = train",
                      explore)
    for ini in (plain, biased):
        for command in ("predict", "explore"):
            step = run_cli(command, ini, cwd=tmp_path)
            assert step.returncode == 0, (command, step.stderr)
    catalog = Catalog(tmp_path / "ws")
    before, after = snr_tests(catalog, "plain"), snr_tests(catalog, "biased")
    assert before["est_snr"] > 0.05  # EmoDB's SNR does not differ by gender ...
    assert after["est_snr"] < 0.01  # ... until the noise is injected into female recordings
    assert after["coin"] > 0.05 and before["coin"] > 0.05  # a random column: no association either way
    copies = catalog.sql("select x.gender, x.emotion, e.est_snr from samples x join estimates e using (sample) "
                         "where x.database = 'noisy'")
    assert copies.height > 0 and set(copies["gender"]) == {"female"} and set(copies["emotion"]) == {"anger", "happiness"}
