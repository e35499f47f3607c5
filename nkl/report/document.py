"""The report's source document: a Quarto template copied next to its sections, with its front matter filled.

Templates are the ``.qmd`` files in the repository's ``reports/`` folder; the package reaches them
through the ``nkl/report/templates`` link, which a wheel turns into package data, so they are found
from a source checkout and from an installed package alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nkl.errors import ConfigError

TEMPLATES = Path(__file__).parent / "templates"
FRONT_KEYS = ("title", "subtitle", "author", "date")
_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+(\S+?)\s*>\}\}[ \t]*$", re.MULTILINE)


def template_path(kind: str, override: str | Path | None = None) -> Path:
    """The template to fill: ``override`` (a user's copy) or the built-in ``reports/<kind>.qmd``."""
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigError(f"[REPORT] template: {path} does not exist; copy {TEMPLATES / (kind + '.qmd')} and edit it")
        return path
    return TEMPLATES / f"{kind}.qmd"


def split_front_matter(text: str) -> tuple[list[str], str]:
    """The YAML front matter lines (without the --- fences) and the body.

    >>> split_front_matter("---\\ntitle: x\\n---\\nbody\\n")
    (['title: x'], 'body\\n')
    """
    if not text.startswith("---"):
        return [], text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return lines[1:i], "\n".join(lines[i + 1:])
    return [], text


def _top_level_value(lines: list[str], key: str) -> tuple[int, int, str] | None:
    """Start, end (exclusive) and text of a top-level key's value, continuation lines included."""
    for i, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            end = i + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t", "-")) and lines[end].strip()):
                end += 1
            return i, end, line[len(key) + 1:].strip()
    return None


def fill_front_matter(text: str, values: dict[str, str], forced: frozenset[str] = frozenset()) -> str:
    """Set title/subtitle/author/date where the template leaves them empty (or always, for keys in ``forced``).

    >>> print(fill_front_matter('---\\ntitle: ""\\nauthor: Me\\n---\\nx', {"title": "T", "author": "nkl"}))
    ---
    title: "T"
    author: Me
    ---
    x
    """
    lines, body = split_front_matter(text)
    for key in FRONT_KEYS:
        value = values.get(key, "")
        if not value:
            continue
        found = _top_level_value(lines, key)
        entry = f"{key}: {json.dumps(value, ensure_ascii=False)}"
        if found is None:
            lines.insert(0, entry)
        elif key in forced or found[2] in ("", '""', "''", "~", "null"):
            lines[found[0]:found[1]] = [entry]
    return "---\n" + "\n".join(lines) + "\n---\n" + body


def resolve_includes(text: str, folder: Path, depth: int = 0) -> str:
    """Replace Quarto's ``{{< include file >}}`` lines with the files' text (what Quarto does before Pandoc)."""
    if depth > 8:
        raise ConfigError("report template: includes nest more than 8 levels deep (an include loop?)")

    def include(match: re.Match[str]) -> str:
        path = folder / match.group(1).strip("\"'")
        if not path.is_file():
            raise ConfigError(f"report template includes {match.group(1)}, which is not in {folder}; "
                              "nkl writes _manifest.md, _data.md, _model.md, _results.md, _explore.md, _predictions.md, _appendix.md "
                              "(experiment) and _comparison.md, _experiments.md (workspace)")
        return resolve_includes(path.read_text(encoding="utf-8"), path.parent, depth + 1)

    return _INCLUDE.sub(include, text)
