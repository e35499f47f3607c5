"""Pandoc Markdown pieces the report sections are written in: real tables, captioned figures, notes.

Everything here is plain text in the dialect that Quarto and Pandoc share (pipe tables with a
``: caption {#tbl-id}`` line, figure divs ``::: {#fig-id}``, ``when-format`` divs), so a section
renders the same through ``quarto render`` and through the Pandoc fallback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|$@~^"})


def escape(text: Any) -> str:
    r"""Text shown literally in Markdown (no emphasis, links or table breaks).

    >>> escape("f1_anger | *x*")
    'f1\\_anger \\| \\*x\\*'
    """
    return " ".join(str(text).translate(_SPECIAL).split())


def code(text: Any) -> str:
    """Inline code (hashes, file names): shown verbatim, never line-wrapped in tables.

    >>> code("71010669755e28e8")
    '`71010669755e28e8`'
    """
    value = str(text).replace("\n", " ")
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}"


def number(value: Any, digits: int = 3) -> str:
    """A number for a table cell: fixed digits for floats, '–' for missing or NaN.

    >>> number(0.60529), number(12), number(None), number(float("nan"))
    ('0.605', '12', '–', '–')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(value)


def with_ci(value: Any, low: Any, high: Any, digits: int = 3) -> str:
    r"""A value with its confidence interval, shown as ``0.605 [0.532, 0.683]`` (brackets escaped for Markdown).

    >>> print(with_ci(0.60529, 0.5317, 0.6832))
    0.605 \[0.532, 0.683\]
    """
    if low is None or high is None:
        return number(value, digits)
    return f"{number(value, digits)} \\[{number(low, digits)}, {number(high, digits)}\\]"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], caption: str, label: str, align: str = "") -> str:
    """A pipe table with a numbered caption; cells are already Markdown (use ``escape``/``number``).

    ``align`` has one letter per column: l(eft), r(ight) or c(enter); default left for the first
    column and right for the others.

    >>> print(table(["metric", "value"], [["UAR", "0.605"]], "Test metrics", "tbl-metrics"))
    | metric | value |
    |:--|--:|
    | UAR | 0.605 |
    <BLANKLINE>
    : Test metrics {#tbl-metrics}
    <BLANKLINE>
    """
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + f"\n\n: {caption} {{#{label}}}\n"


def figure(label: str, caption: str, image: str, spec: dict | None = None, width: str = "") -> str:
    """A numbered figure: the static image (PDF), or the interactive Vega-Lite chart (HTML) when ``spec`` is given.

    The HTML chart is a ``<div>`` plus its spec as JSON; the script that draws every chart is in
    the page's header (``_vega.html``), so the page needs no network.
    """
    size = f"{{width={width}}}" if width else ""
    static = f"![]({image}){size}"
    if spec is None:
        return f"::: {{#{label}}}\n{static}\n\n{caption}\n:::\n"
    payload = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    div_id = "vis-" + label
    html = (f'<div class="nkl-vega" id="{div_id}"></div>\n'
            f'<script type="application/json" data-nkl-vega="{div_id}">{payload}</script>')
    return (f"::: {{#{label}}}\n"
            f'::: {{.content-visible when-format="html"}}\n```{{=html}}\n{html}\n```\n:::\n'
            f'::: {{.content-hidden when-format="html"}}\n{static}\n:::\n\n'
            f"{caption}\n:::\n")


def note(text: str) -> str:
    """A short italic remark, e.g. why a section is empty.

    >>> note("nkl explore has not run")
    '*nkl explore has not run*\\n'
    """
    return f"*{text}*\n"


def code_block(text: str, language: str = "") -> str:
    """A fenced code block long enough never to be closed by the text itself."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"
