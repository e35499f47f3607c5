"""Secrets (tokens, passwords) never leave the user's own INI file.

A key declared ``key(..., secret=True)`` in a section (``[MODEL] hf_token``) or in a component's settings
(``[PREDICT] speaker.hf_token``), in any of its spellings (nkululeko aliases too), and any key whose name
ends like a secret (``token``, ``password``, ``api_key``, ...) is written as ``***`` in everything nkl
writes: the experiment's ``config.ini`` and log, ``runs.config_text``, reports. Secrets never enter a hash
(see ``Config.settings``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "***"
COMPONENT_SECTIONS = ("FEATS", "MODEL", "PREDICT")
# the last dotted part of a key named like a secret: hf_token, token, password, api_key, secret_key, ...
_SECRET_NAME = re.compile(r"^(?:\w*_)?(?:token|password|passwd|secret|api_?key|access_?key|secret_?key)$", re.IGNORECASE)
_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_KEY = re.compile(r"^(?P<indent>[ \t]*)(?P<key>[^\s=:#;\[][^=:]*?)(?P<sep>[ \t]*[=:][ \t]*)(?P<value>.*?)(?P<eol>\r?\n)?$")
MIN_SCRUBBED = 4  # secret values shorter than this are not searched for in free text (they would mask ordinary words)

logger = logging.getLogger("nkl")


def secret_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass declared ``secret=True``."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("secret")]


def _spellings(cls: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for f in secret_fields(cls):
        out.add(f"{prefix}.{f.name}".lower() if prefix else f.name.lower())
        out.update(alias.lower() for alias in f.metadata.get("aliases", ()))
    return out


def _component_classes() -> list[tuple[type, str]]:
    """Every registered extractor, predictor and model: its settings class and key prefix."""
    found: list[tuple[type, str]] = []
    try:
        from nkl.features.registry import registered_components
        from nkl.models.registry import MODELS
        from nkl.predict.registry import registered_predictors

        found += [(cls.Settings, cls.key_prefix) for _, cls in registered_components()]
        found += [(cls.Settings, cls.key_prefix) for _, cls in registered_predictors()]
        found += [(spec.settings, spec.key_prefix) for spec in MODELS.values()]
    except ImportError as exc:  # a component that cannot be imported: its keys are still masked when named like secrets
        logger.debug("secret keys of components not collected: %r", exc)
    return found


@lru_cache(maxsize=1)
def secret_spellings() -> dict[str, frozenset[str]]:
    """Section → lower-cased spellings of its secret keys (the section's own, and in FEATS/MODEL/PREDICT the components')."""
    from nkl.config import sections as s

    own = {"EXP": s.ExpSection, "DATA": s.DataSection, "FEATS": s.FeatsSection, "MODEL": s.ModelSection, "PLOT": s.PlotSection,
           "PREDICT": s.PredictSection, "SEGMENT": s.SegmentSection, "EXPL": s.ExplSection, "REPORT": s.ReportSection}
    components: set[str] = set()
    for settings, prefix in _component_classes():
        components |= _spellings(settings, prefix)
    return {name: frozenset(_spellings(cls) | (components if name in COMPONENT_SECTIONS else set()))
            for name, cls in own.items()}


def is_secret_key(section: str | None, key: str) -> bool:
    """Whether ``key`` (as written in the INI) of ``section`` holds a secret."""
    written = key.strip().lower()
    if _SECRET_NAME.match(written.rsplit(".", 1)[-1]):
        return True
    return section is not None and written in secret_spellings().get(section.strip().upper(), frozenset())


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
