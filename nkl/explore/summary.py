"""The console summary: significant findings first, in plain words, from the ``bias`` rows of one run."""

from __future__ import annotations

import polars as pl

PRIMARY = {"chi_square": "χ²", "kruskal_wallis": "Kruskal–Wallis", "mann_whitney": "Mann–Whitney U", "pearson": "Pearson r"}


def p_text(p: float | None) -> str:
    """'< 0.001' or '= 0.012'.

    >>> p_text(0.00001), p_text(0.0123)
    ('< 0.001', '= 0.012')
    """
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def findings(bias: pl.DataFrame, alpha: float) -> tuple[list[str], list[str]]:
    """Sentences about significant dependencies (strongest first) and about columns with no evidence of one."""
    main = bias.filter(pl.col("test").is_in(list(PRIMARY)) & pl.col("p_adj").is_not_null())
    significant: list[tuple[float, str]] = []
    others: list[str] = []
    for (source, attribute), rows in main.group_by("source", "attribute", maintain_order=True):
        target = rows["target"][0]
        by_level = {r["level"]: r for r in rows.iter_rows(named=True)}
        hits = [lvl for lvl in ("samples", "speakers") if lvl in by_level and by_level[lvl]["p_adj"] < alpha]
        subject = f"{target} depends on {attribute}" if source == "value_counts" else f"feature {attribute} differs by {target}"
        if hits:
            best = by_level[hits[0]]
            if len(hits) == 2:
                where = "samples and speakers"
            elif "speakers" in by_level:
                other = next(x for x in by_level if x != hits[0])
                where = f"{hits[0]} only; {other} p_adj {p_text(by_level[other]['p_adj'])}"
            else:
                where = hits[0]
            label = best["effect_label"] or "unknown"
            significant.append((best["p_adj"], f"{subject}: {PRIMARY[best['test']]} p_adj {p_text(best['p_adj'])}, "
                                               f"{label} effect ({best['effect_name']} {best['effect']:.2f}; {where})"))
        elif source == "value_counts":
            levels = ", ".join(f"{lvl} p_adj {p_text(r['p_adj'])}" for lvl, r in by_level.items())
            others.append(f"no evidence that {target} depends on {attribute} ({levels})")
    return [text for _, text in sorted(significant, key=lambda t: t[0])], others
