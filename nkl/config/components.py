"""Keys that belong to one component (an extractor, a model, a predictor) rather than to its section.

A component declares its keys as a small frozen dataclass (``Settings``), each field made with
``nkl.config.sections.key``. In the INI a field is written ``<prefix>.<field>`` (``wav2vec2.layer``) or
with one of its alias spellings (``set`` for openSMILE's ``os.set``; nkululeko's bare ``C_val``).
The loader keeps such keys as they were written; the plan resolves them against the components it
chose, so only the chosen components' settings enter a cache key or a plan hash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from nkl.choices import did_you_mean
from nkl.config.values import check_choice, coerce, expand_env, parse_literal
from nkl.errors import ConfigError


@dataclass(frozen=True)
class NoSettings:
    """The settings of a component that has no keys of its own."""


class Component(Protocol):
    """What a registry entry tells about its keys: the dataclass and the INI prefix of its fields."""

    Settings: type
    key_prefix: str


def spellings(settings: type, prefix: str) -> dict[str, str]:
    """Every lower-cased INI spelling of the settings' fields → the field name.

    >>> from nkl.config.sections import key
    >>> @dataclass(frozen=True)
    ... class S:
    ...     layer: int = key(0, "Top layers removed.", aliases=("wav2vec2_layer",))
    >>> spellings(S, "wav2vec2")
    {'wav2vec2.layer': 'layer', 'wav2vec2_layer': 'layer'}
    """
    out: dict[str, str] = {}
    for f in dataclasses.fields(settings):
        out[f"{prefix}.{f.name}".lower() if prefix else f.name.lower()] = f.name
        for alias in f.metadata.get("aliases", ()):
            out[alias.lower()] = f.name
    return out


def build_settings(settings: type, items: Mapping[str, Any], prefix: str, where: str) -> Any:
    """The settings dataclass with the values of ``items`` (INI spelling → raw text or a Python value)."""
    names = spellings(settings, prefix)
    fields = {f.name: f for f in dataclasses.fields(settings)}
    values: dict[str, Any] = {}
    for raw_key, raw_value in items.items():
        name = names.get(raw_key.lower())
        if name is None:
            raise ConfigError(f"Unknown key '{raw_key}' in {where}{did_you_mean(raw_key, list(names))} Known keys: {', '.join(sorted(names))}")
        if name in values:
            raise ConfigError(f"{where} sets '{prefix + '.' if prefix else ''}{name}' twice (once as an alias spelling); keep one")
        meta = fields[name].metadata
        parsed = parse_literal(raw_value) if isinstance(raw_value, str) else raw_value
        label = f"{where} {raw_key}"
        if meta.get("path") and isinstance(parsed, str):
            parsed = expand_env(parsed)
        value = coerce(parsed, str(fields[name].type), label)
        if meta.get("choices") and isinstance(value, str):
            value = check_choice(value, meta["choices"], label)
        check = meta.get("check")
        if check is not None:
            check(value, label)
        values[name] = value
    return settings(**values)


def settings_dict(settings: Any, *, for_hash: bool = True) -> dict[str, Any]:
    """The settings as plain data: never fields declared ``secret``; for a cache key (``for_hash``) not ``hashed=False`` ones."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
            if not f.metadata.get("secret") and (f.metadata.get("hashed", True) or not for_hash)}


def assign_keys(section: str, items: Mapping[str, Any], chosen: Iterable[tuple[str, Component]],
                registered: Iterable[tuple[str, Component]], *, ignored: frozenset[str] = frozenset(),
                common: Iterable[str] = ()) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Split a section's component keys among the chosen components.

    Returns each chosen component's items (by its name) and warnings for keys that belong to a registered
    component that is not chosen (an nkululeko INI often carries keys of other models or extractors) or to
    nkululeko's not-yet-implemented keys (``ignored``). Any other key is a ConfigError naming the section.
    """
    chosen, registered = list(chosen), list(registered)
    per_component: dict[str, dict[str, Any]] = {name: {} for name, _ in chosen}
    warnings: list[str] = []
    owners: dict[str, list[str]] = {}
    for name, component in registered:
        for spelling in spellings(component.Settings, component.key_prefix):
            owners.setdefault(spelling, [])
            if name not in owners[spelling]:
                owners[spelling].append(name)
    for raw_key, value in items.items():
        k = raw_key.lower()
        matched = False
        for name, component in chosen:
            if k in spellings(component.Settings, component.key_prefix):
                per_component[name][raw_key] = value
                matched = True
        if matched:
            continue
        if k in owners:
            users = ", ".join(owners[k][:6])
            warnings.append(f"[{section}] key '{raw_key}' is a setting of {users}, which this experiment does not use; ignored")
        elif k in ignored or any(k.startswith(p) for p in ignored if p.endswith((".", "_"))):
            warnings.append(f"[{section}] key '{raw_key}' is a nkululeko key that nkl does not implement yet; ignored")
        else:
            spelled = {s: s for s in owners}
            for _, component in registered:
                for f in dataclasses.fields(component.Settings):  # the declared spelling, e.g. C_val, not c_val
                    spelled[f"{component.key_prefix}.{f.name}".lower() if component.key_prefix else f.name.lower()] = (
                        f"{component.key_prefix}.{f.name}" if component.key_prefix else f.name)
            known = sorted({*spelled.values(), *common})
            own = [f"{component.key_prefix + '.' if component.key_prefix else ''}{f.name}"
                   for _, component in chosen for f in dataclasses.fields(component.Settings)]
            chosen_names = ", ".join(name for name, _ in chosen)
            raise ConfigError(f"Unknown key '{raw_key}' in [{section}]{did_you_mean(raw_key, known) or '.'} Known keys: "
                              f"{', '.join(sorted(common))}" + (f"; and of {chosen_names}: {', '.join(own)}" if own else ""))
    return per_component, warnings
