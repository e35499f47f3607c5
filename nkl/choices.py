"""One wording for "unknown name" errors: the value, where it was written, a close match and the choices.

A leaf module: it imports nothing of nkl's stages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A "; did you mean 'x'?" suffix, or an empty string when nothing is close.

    >>> did_you_mean("svn", ["svm", "knn"])
    "; did you mean 'svm'?"
    """
    lowered = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""


def unknown_choice(what: str, value: object, where: str, choices: Iterable[str]) -> str:
    """The message for a value that is not one of ``choices``.

    >>> unknown_choice("feature extractor", "opensmile", "[FEATS] type", ["os", "praat"])
    "Unknown feature extractor 'opensmile' in [FEATS] type. Available: os, praat"
    """
    names = [str(c) for c in choices]
    return f"Unknown {what} '{value}' in {where}{did_you_mean(str(value), names) or '.'} Available: {', '.join(names)}"
