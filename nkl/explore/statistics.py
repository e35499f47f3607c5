"""Statistical tests of a target against a column, with effect sizes, on scipy (no hand-written distributions).

Every function takes plain arrays and returns ``TestRow`` values; which rows are tested (samples or speakers)
is decided in SQL (``sql/test_units.sql``). Effect labels follow common conventions: Cramér's V, |r| and
rank-biserial |r| < 0.1 negligible, < 0.3 small, < 0.5 medium; ε² < 0.01, < 0.08, < 0.26; |d| < 0.2, < 0.5, < 0.8.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from nkl.evaluate.metrics import ccc

CUTS = {"cramers_v": (0.1, 0.3, 0.5), "r": (0.1, 0.3, 0.5), "rank_biserial": (0.1, 0.3, 0.5),
        "epsilon_squared": (0.01, 0.08, 0.26), "cohens_d": (0.2, 0.5, 0.8), "ccc": (0.1, 0.3, 0.5)}


@dataclass(frozen=True)
class TestRow:
    """One test: its statistic, p-value (``p_adj`` filled in by ``adjust``) and effect size."""

    test: str
    statistic: float
    p: float | None
    effect: float
    effect_name: str
    n: int
    groups: str = ""
    cohens_d: float | None = None
    p_adj: float | None = None

    @property
    def effect_label(self) -> str:
        return effect_label(self.effect_name, self.effect)


def effect_label(name: str, value: float) -> str:
    """'negligible', 'small', 'medium' or 'large' for an effect size.

    >>> effect_label("cramers_v", 0.35), effect_label("epsilon_squared", 0.3)
    ('medium', 'large')
    """
    if value is None or not np.isfinite(value):
        return ""
    small, medium, large = CUTS[name]
    size = abs(value)
    return "negligible" if size < small else "small" if size < medium else "medium" if size < large else "large"


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Difference of means over the pooled standard deviation (NaN when both groups are constant)."""
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2)) if na + nb > 2 else 0.0
    return float((np.mean(a) - np.mean(b)) / pooled) if pooled > 0 else float("nan")


def chi_square(x: list[str], y: list[str]) -> TestRow:
    """χ² test of independence of two categorical columns, with Cramér's V."""
    xs, ys = sorted(set(x)), sorted(set(y))
    table = np.zeros((len(xs), len(ys)))
    xi, yi = {v: i for i, v in enumerate(xs)}, {v: i for i, v in enumerate(ys)}
    for a, b in zip(x, y, strict=True):
        table[xi[a], yi[b]] += 1
    result = stats.chi2_contingency(table, correction=False)
    n = int(table.sum())
    v = float(np.sqrt(result.statistic / (n * (min(table.shape) - 1))))
    return TestRow("chi_square", float(result.statistic), float(result.pvalue), v, "cramers_v", n, groups=f"{len(xs)}x{len(ys)}")


def mann_whitney(a: np.ndarray, b: np.ndarray, names: tuple[str, str], test: str = "mann_whitney") -> TestRow:
    """Mann–Whitney U of two groups with the rank-biserial correlation (positive: ``a`` tends to be larger)."""
    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    r = float(2 * result.statistic / (len(a) * len(b)) - 1)
    return TestRow(test, float(result.statistic), float(result.pvalue), r, "rank_biserial", len(a) + len(b),
                   groups=f"{names[0]} vs {names[1]}", cohens_d=cohens_d(a, b))


def groups_test(labels: list[str], values: np.ndarray) -> list[TestRow]:
    """A numeric column across the groups of a categorical one: Mann–Whitney U (2 groups), or Kruskal–Wallis with
    ε² plus pairwise Mann–Whitney U tests (more groups)."""
    names = sorted(set(labels))
    labels_arr = np.asarray(labels)
    groups = [values[labels_arr == g] for g in names]
    if len(names) == 2:
        return [mann_whitney(groups[0], groups[1], (names[0], names[1]))]
    result = stats.kruskal(*groups)
    n = int(sum(len(g) for g in groups))
    epsilon = float(result.statistic / (n - 1)) if n > 1 else float("nan")
    rows = [TestRow("kruskal_wallis", float(result.statistic), float(result.pvalue), epsilon, "epsilon_squared", n, groups=f"{len(names)} groups")]
    for i, j in itertools.combinations(range(len(names)), 2):
        rows.append(mann_whitney(groups[i], groups[j], (names[i], names[j]), test="pairwise_mann_whitney"))
    return rows


def correlations(x: np.ndarray, y: np.ndarray) -> list[TestRow]:
    """Pearson and Spearman correlation (with p-values) and the CCC (no p-value) of two numeric columns."""
    n = len(x)
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    c = float(ccc(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))
    return [TestRow("pearson", float(pearson.statistic), float(pearson.pvalue), float(pearson.statistic), "r", n),
            TestRow("spearman", float(spearman.statistic), float(spearman.pvalue), float(spearman.statistic), "r", n),
            TestRow("ccc", c, None, c, "ccc", n)]


def adjust(rows: list[TestRow]) -> list[TestRow]:
    """Benjamini–Hochberg adjusted p-values across all rows that have a p-value (scipy's false_discovery_control)."""
    index = [i for i, r in enumerate(rows) if r.p is not None and np.isfinite(r.p)]
    if not index:
        return rows
    adjusted = stats.false_discovery_control([rows[i].p for i in index], method="bh")
    out = list(rows)
    for i, p_adj in zip(index, adjusted, strict=True):
        out[i] = replace(rows[i], p_adj=float(p_adj))
    return out
