"""Tests of the target against every ``value_counts`` column, for samples and for speakers.

Which column is numeric or categorical, and which rows a test sees, comes from SQL (``attribute_kinds``,
``test_units``); this module only checks the inputs, runs ``statistics`` and turns bad input into notes
(one clear message each) instead of stopping the rest of the analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from nkl.choices import did_you_mean
from nkl.explore.statistics import TestRow, chi_square, correlations, groups_test

LEVELS = ("samples", "speakers")


@dataclass
class BiasTests:
    """Test rows (``(source, attribute, level, TestRow)``) and the notes about what could not be tested."""

    rows: list[tuple[str, str, str, TestRow]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)


def value_count_columns(value_counts: list) -> list[str]:
    """The distinct column names of ``[EXPL] value_counts`` (``[['gender'], ['age', 'duration']]`` or ``['gender']``)."""
    names: list[str] = []
    for entry in value_counts:
        for name in entry if isinstance(entry, (list, tuple)) else [entry]:
            if str(name) not in names:
                names.append(str(name))
    return names


def _checked(run: Callable[[], list[TestRow]], where: str, notes: list[str]) -> list[TestRow]:
    """Run a test; a scipy warning or error becomes a note naming the test instead of stopping the run."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return run()
        except (ValueError, ZeroDivisionError, FloatingPointError, RuntimeWarning, UserWarning) as exc:
            notes.append(f"{where}: not tested ({str(exc).splitlines()[0]})")
            return []


def _enough_groups(labels: list[str], what: str, where: str, notes: list[str]) -> list[bool]:
    """Mask of the rows whose group has at least two units; a note for each group with one."""
    counts = pl.Series(labels).value_counts()
    single = sorted(str(v) for v, n in counts.iter_rows() if n < 2)
    for value in single:
        notes.append(f"{where}: {what} '{value}' has a single unit; left out of this test")
    return [label not in single for label in labels]


def pair_tests(units: pl.DataFrame, target_kind: str, attribute_kind: str, where: str, notes: list[str]) -> list[TestRow]:
    """The tests for one column at one level, chosen by the kinds of the target and the column."""
    y_cat, x_cat = target_kind != "numeric", attribute_kind != "numeric"
    if y_cat and x_cat:
        y, x = units["y_group"].to_list(), units["x_group"].to_list()
        if len(set(y)) < 2 or len(set(x)) < 2:
            notes.append(f"{where}: fewer than two groups ({len(set(y))} target, {len(set(x))} column); not tested")
            return []
        return _checked(lambda: [chi_square(x, y)], where, notes)
    if y_cat or x_cat:
        labels = units["y_group" if y_cat else "x_group"].to_list()
        values = units["x_num" if y_cat else "y_num"].to_numpy().astype(np.float64)
        keep = _enough_groups(labels, "class" if y_cat else "group", where, notes)
        labels = [label for label, k in zip(labels, keep, strict=True) if k]
        values = values[np.asarray(keep, dtype=bool)]
        if len(set(labels)) < 2:
            notes.append(f"{where}: fewer than two groups with two or more units; not tested")
            return []
        if np.ptp(values) == 0:
            notes.append(f"{where}: the values are all equal ({values[0]:g}); not tested")
            return []
        return _checked(lambda: groups_test(labels, values), where, notes)
    x, y = units["x_num"].to_numpy().astype(np.float64), units["y_num"].to_numpy().astype(np.float64)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        notes.append(f"{where}: fewer than three units or a constant column; not tested")
        return []
    return _checked(lambda: correlations(x, y), where, notes)


def column_profile(con: duckdb.DuckDBPyConnection, experiment: str, column: str) -> tuple[int, int, int, str]:
    """Values, distinct values and numeric values of a column in the explored samples, and one example value."""
    row = con.sql(
        "select count(g.value), count(distinct g.value), count(g.value_num), any_value(g.value) "
        "from explore_samples e left join sample_groups g on g.sample = e.sample and g.attribute = ? where e.experiment = ?",
        params=[column, experiment]).fetchall()[0]
    return int(row[0]), int(row[1]), int(row[2]), row[3]


def bias_tests(con: duckdb.DuckDBPyConnection, experiment: str, target: str, task: str, columns: list[str],
               bin_reals: list[str]) -> BiasTests:
    """Every test of the target against each column, at both levels; bad columns are notes, the others still run."""
    out = BiasTests()
    kinds = dict(con.sql("select attribute, kind from attribute_kinds").fetchall())
    target_kind = "numeric" if task == "regression" else "categorical"
    for column in columns:
        if column == target:
            out.notes.append(f"value_counts column '{column}' is the target; its distribution is plotted, not tested against itself")
            continue
        if column not in kinds:
            known = sorted(k for k in kinds if k != target)
            out.notes.append(f"value_counts column '{column}' does not exist{did_you_mean(column, known)} "
                             f"Columns: {', '.join(known)}")
            continue
        n, distinct, _, example = column_profile(con, experiment, column)
        if n == 0:
            out.notes.append(f"value_counts column '{column}' has no values in the explored samples (all missing); not tested")
            continue
        if distinct == 1:
            out.notes.append(f"value_counts column '{column}' has one value ('{example}') for every explored sample; nothing to test")
            continue
        kind = kinds[column]
        if column in bin_reals:
            kind = "binned" if kind == "numeric" else kind
        out.kinds[column] = kind
        for level in LEVELS:
            units = con.sql("select * from test_units(?, ?, ?, ?, ?)", params=[experiment, column, target_kind, kind, level]).pl()
            where = f"{target} vs {column} ({level})"
            if units.height < 3:
                out.notes.append(f"{where}: only {units.height} unit(s); not tested")
                continue
            out.rows += [("value_counts", column, level, row) for row in pair_tests(units, target_kind, kind, where, out.notes)]
    return out
