"""Deep-merge of ``gitops-edge.yaml`` defaults under a site (the site wins, lists replace).

Lists replace rather than concatenate because a list in a site spec (masters,
applications) is a complete statement; merging two host lists would invent machines.
"""

from __future__ import annotations

from typing import Any


def deep_merge(base: Any, override: Any) -> Any:
    """Return ``override`` laid over ``base``; mappings merge key by key, all else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    return override


_MISSING = object()


def child(data: Any, part: str | int) -> Any:
    """``data[part]`` for a mapping key or an in-range list index, else a sentinel."""
    if isinstance(data, dict):
        return data.get(part, _MISSING)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return _MISSING


def has_path(data: Any, loc: tuple[str | int, ...]) -> bool:
    """True when ``loc`` exists in ``data`` (used to tell which file an error came from)."""
    for part in loc:
        data = child(data, part)
        if data is _MISSING:
            return False
    return True
