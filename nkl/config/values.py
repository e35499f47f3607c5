"""Turning INI strings into typed values: `ast.literal_eval`, never `eval`."""

from __future__ import annotations

import ast
import os
import re
from typing import Any

from nkl.choices import did_you_mean
from nkl.errors import ConfigError

__all__ = ["check_choice", "coerce", "did_you_mean", "expand_env", "parse_literal"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", ""}
_ENV_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def expand_env(text: str) -> str:
    """Expand ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` in a path value."""
    text = _ENV_DEFAULT.sub(lambda m: os.environ.get(m.group(1)) or m.group(2), text)
    return os.path.expandvars(text)


def parse_literal(raw: str) -> Any:
    """Read one INI value: a Python literal when it is one, else the stripped string."""
    text = raw.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: {[]} (a set of lists)
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        return text


def coerce(value: Any, type_name: str, where: str) -> Any:
    """Convert a parsed literal to the declared type of a key, or raise ConfigError naming it."""
    t = type_name.replace(" ", "")
    unset = value is None or value is False or (isinstance(value, str) and value.strip().lower() in {"false", "none"})
    if t in ("bool", "bool|None"):
        if value is None and t == "bool|None":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where}: expected True or False, got {value!r}")
    if t == "int":
        if unset:
            return 0
        if value is True:
            return 1
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if t == "float":
        if unset:
            return 0.0
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if t == "str":
        if unset:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a single value, got {value!r}")
    if t == "list":
        if unset or value == "":
            return []
        if isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(value, (str, int, float)):
            return [value]
        raise ConfigError(f"{where}: expected a list like ['a', 'b'], got {value!r}")
    if t == "dict":
        if unset or value == "":
            return {}
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where}: expected a dict like {{'a': 'b'}}, got {value!r}")
    return value


def check_choice(value: str, choices: tuple[str, ...], where: str) -> str:
    """Return the canonical spelling of a choice (case-insensitive), or raise with a hint."""
    if not value or not choices:
        return value
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ConfigError(f"{where}: unknown value '{value}'{did_you_mean(value, choices)} Choices: {', '.join(choices)}")
