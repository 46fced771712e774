"""Label and field selectors, parsed once per request and applied to every object.

The grammar follows ``k8s.io/apimachinery/pkg/labels``: comma-separated
requirements, each ``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``,
``key in (a,b)`` or ``key notin (a,b)``.  A malformed selector is a 400, like
the real server, so client bugs in selector building surface in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import APIError, bad_request

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=(),]+)\s*(==|!=|=)\s*([^\s!=(),]*)\s*$")
_LABEL_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" match objects without the label, as in Kubernetes.
        return not present or labels[self.key] not in self.values


def _split_requirements(text: str) -> list[str]:
    """Split on commas that are not inside an ``in (...)`` value list."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise bad_request(f"unable to parse requirement: unmatched ')' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise bad_request(f"unable to parse requirement: unmatched '(' in {text!r}")
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def _check_key(key: str) -> None:
    if not _LABEL_KEY_RE.match(key) or len(key.rpartition("/")[2]) > 63:
        raise bad_request(
            f"unable to parse requirement: invalid label key \"{key}\": name part must "
            "consist of alphanumeric characters, '-', '_' or '.'"
        )


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    requirements: list[Requirement] = []
    for part in _split_requirements(text):
        eq = _EQ_RE.match(part)
        if eq:
            key, op, value = eq.groups()
            _check_key(key)
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            continue
        st = _SET_RE.match(part)
        if st:
            negate, key, set_op, values = st.groups()
            _check_key(key)
            if set_op:
                if negate:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                vals = tuple(v.strip() for v in values.split(",") if v.strip())
                if not vals and set_op == "in":
                    raise bad_request(
                        f"unable to parse requirement: for 'in', 'notin' operators, "
                        f"values set can't be empty: {part!r}"
                    )
                requirements.append(Requirement(key, set_op, vals))
            else:
                requirements.append(Requirement(key, "!exists" if negate else "exists"))
            continue
        raise bad_request(f"unable to parse requirement: {part!r}")
    return requirements


def label_predicate(text: str | None) -> Predicate | None:
    """A function ``obj -> bool`` for the selector, or None when it selects everything."""
    reqs = parse_label_selector(text)
    if not reqs:
        return None

    def predicate(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return predicate


def _field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> list[tuple[str, bool, str]]:
    """``[(field path, equal?, value)]``; only ``=``, ``==`` and ``!=`` exist for fields."""
    if not text:
        return []
    out: list[tuple[str, bool, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise APIError(400, f'invalid selector: \'{text}\'; can\'t understand \'{part}\'')
        path, op, value = m.groups()
        out.append((path, op != "!=", value.strip()))
    return out


def field_predicate(text: str | None) -> Predicate | None:
    """Field selectors on any dotted path (``metadata.name``, ``spec.nodeName``, ...).

    The real server supports a fixed set of fields per kind; accepting any path
    keeps the test server useful for kinds whose field set is not modelled.
    """
    terms = parse_field_selector(text)
    if not terms:
        return None

    def predicate(obj: Obj) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in terms)

    return predicate


def combine(*predicates: Predicate | None) -> Predicate | None:
    active = [p for p in predicates if p is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]
    return lambda obj: all(p(obj) for p in active)
