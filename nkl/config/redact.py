"""Secrets (tokens, passwords) never leave the user's own INI file.

A key declared ``key(..., secret=True)`` in a section (``[MODEL] hf_token``), in any of its spellings (nkululeko
aliases too), and any key whose name ends like a secret (``token``, ``password``, ``api_key``, ...; every component's
secret key, such as ``[PREDICT] speaker.hf_token``, is named so) is written as ``***`` in everything nkl
writes: the experiment's ``config.ini`` and log, ``runs.config_text``, reports. Secrets never enter a hash
(see ``Config.settings``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "***"
# the last dotted part of a key named like a secret: hf_token, token, password, api_key, secret_key, ...
_SECRET_NAME = re.compile(r"^(?:\w*_)?(?:token|password|passwd|secret|api_?key|access_?key|secret_?key)$", re.IGNORECASE)
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_KEY = re.compile(r"^(?P<indent>[ \t]*)(?P<key>[^\s=:#;\[][^=:]*?)(?P<sep>[ \t]*[=:][ \t]*)(?P<value>.*?)(?P<eol>\r?\n)?$")
MIN_SCRUBBED = 4  # secret values shorter than this are not searched for in free text (they would mask ordinary words)



def secret_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass declared ``secret=True``."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("secret")]


def _spellings(cls: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for f in secret_fields(cls):
        out.add(f"{prefix}.{f.name}".lower() if prefix else f.name.lower())
        out.update(alias.lower() for alias in f.metadata.get("aliases", ()))
    return out


@lru_cache(maxsize=1)
def secret_spellings() -> dict[str, frozenset[str]]:
    """Section → lower-cased spellings of the secret keys its own dataclass declares. Components' secret keys (extractors,
    models, predictors; config imports none of them) are recognised by their names: ``secret_name`` must hold for each
    (tests/config/test_secrets_redacted.py checks every registered component)."""
    from nkl.config import sections as s

    own = {"EXP": s.ExpSection, "DATA": s.DataSection, "FEATS": s.FeatsSection, "MODEL": s.ModelSection, "PLOT": s.PlotSection,
           "PREDICT": s.PredictSection, "SEGMENT": s.SegmentSection, "EXPL": s.ExplSection, "REPORT": s.ReportSection}
    return {name: frozenset(_spellings(cls)) for name, cls in own.items()}


def secret_name(key: str) -> bool:
    """Whether a key's name (its last dotted part) reads like a secret: token, hf_token, password, api_key, ..."""
    return bool(_SECRET_NAME.match(key.strip().lower().rsplit(".", 1)[-1]))


def is_secret_key(section: str | None, key: str) -> bool:
    """Whether ``key`` (as written in the INI) of ``section`` holds a secret."""
    if secret_name(key):
        return True
    return section is not None and key.strip().lower() in secret_spellings().get(section.strip().upper(), frozenset())


def redact_items(section: str, items: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of one section with each secret's (non-empty) value replaced by ``***``."""
    return {k: (MASK if v not in ("", None) and is_secret_key(section, k) else v) for k, v in items.items()}


def scrub(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with every occurrence of the given secret values replaced by ``***``."""
    for value in sorted({str(v) for v in values if v and len(str(v)) >= MIN_SCRUBBED}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def redact_ini_text(text: str, values: Iterable[str] = ()) -> str:
    """An INI text with the value of every secret key written ``***`` (continuation lines dropped), layout and
    comments kept; then any other occurrence of ``values`` (the secrets as parsed) masked too."""
    out: list[str] = []
    section: str | None = None
    skip_deeper_than: int | None = None  # indentation of a masked key: deeper lines continue its value
    for line in text.splitlines(keepends=True):
        if skip_deeper_than is not None:
            indent = len(line) - len(line.lstrip(" \t"))
            if line.strip() and indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            out.append(line)
            continue
        m = _KEY.match(line)
        if m and m.group("value").strip() and not m.group("value").lstrip().startswith(("#", ";")) \
                and is_secret_key(section, m.group("key")):
            out.append(f"{m.group('indent')}{m.group('key')}{m.group('sep')}{MASK}{m.group('eol') or ''}")
            skip_deeper_than = len(m.group("indent"))
            continue
        out.append(line)
    return scrub("".join(out), values)
