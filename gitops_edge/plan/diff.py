"""Compare one desired object with its live copy.

"Unchanged" needs two things: the spec-hash annotation matches (the content
gitops-edge last wrote is what it would write now) and every field gitops-edge
declares still has the declared value live (someone's ``kubectl edit`` is drift).
Fields the API server adds (uid, status, defaulted fields) are not gitops-edge's
and are never drift.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from gitops_edge.render.meta import SOURCE_REVISION as REVISION_ANNOTATION
from gitops_edge.render.meta import SPEC_HASH as SPEC_HASH_ANNOTATION

_SERVER_META = {
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
}
_IGNORED_ANNOTATIONS = {REVISION_ANNOTATION}


def spec_hash(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION, ""))


def drift(desired: Any, live: Any, path: str = "") -> list[str]:
    """Paths of declared fields whose live value differs (a subset comparison)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [path or "."]
        out: list[str] = []
        for key, value in desired.items():
            if path == "metadata" and key in _SERVER_META:
                continue
            if path == "metadata.annotations" and key in _IGNORED_ANNOTATIONS:
                continue
            if path == "" and key == "status":
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key not in live:
                out.append(sub)
            else:
                out.extend(drift(value, live[key], sub))
        return out
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path]
        out = []
        for i, (d, v) in enumerate(zip(desired, live, strict=True)):
            out.extend(drift(d, v, f"{path}[{i}]"))
        return out
    if desired != live and not (
        isinstance(desired, int | float)
        and isinstance(live, int | float)
        and float(desired) == float(live)
    ):
        return [path]
    return []


def clean_for_display(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without server-owned noise, for diffs people read."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_META}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def unified(desired: dict[str, Any] | None, live: dict[str, Any] | None, label: str) -> list[str]:
    """kubectl-diff-like unified diff of the declared content (live first, desired second)."""
    before = yaml.safe_dump(_declared(live, desired), sort_keys=True) if live else ""
    after = yaml.safe_dump(clean_for_display(desired), sort_keys=True) if desired else ""
    return list(
        difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            f"live/{label}",
            f"desired/{label}",
            lineterm="",
            n=2,
        )
    )


def _declared(live: dict[str, Any] | None, desired: dict[str, Any] | None) -> dict[str, Any]:
    """Live trimmed to the fields desired declares, so server defaults do not clutter diffs."""
    if live is None:
        return {}
    if desired is None:
        return clean_for_display(live)

    def trim(d: Any, lv: Any) -> Any:
        if isinstance(d, dict) and isinstance(lv, dict):
            return {k: trim(d[k], lv[k]) for k in d if k in lv}
        return lv

    return clean_for_display(trim(desired, live))
