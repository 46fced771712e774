"""Field ownership (``metadata.managedFields``) and server-side apply.

Controllers that use server-side apply depend on three behaviours that a dumb
dict store would not show: a field another manager set to a different value is
a 409 conflict unless ``force=true``; fields an applier stops sending are
removed; and plain updates take ownership of the fields they change.  The model
here tracks owned *leaf* paths per manager (lists are atomic), which is enough to
reproduce those behaviours and the shape of the real ``fieldsV1`` data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import APIError
from .patch import clone
from .resources import ResourceType

Obj = dict[str, Any]
Path = tuple[str, ...]

#: Paths the server owns; no manager ever owns them (as in the real apiserver).
IGNORED: frozenset[Path] = frozenset(
    {
        ("apiVersion",),
        ("kind",),
        ("metadata",),
        ("metadata", "name"),
        ("metadata", "namespace"),
        ("metadata", "uid"),
        ("metadata", "resourceVersion"),
        ("metadata", "generation"),
        ("metadata", "creationTimestamp"),
        ("metadata", "managedFields"),
        ("metadata", "deletionTimestamp"),
        ("metadata", "deletionGracePeriodSeconds"),
        ("metadata", "selfLink"),
        ("metadata", "generateName"),
    }
)

_MISSING = object()


def leaf_paths(obj: Any, include: Callable[[Path], bool] | None = None) -> set[Path]:
    """Every leaf (scalar, list, or empty map) path in ``obj``, minus server-owned ones."""
    out: set[Path] = set()

    def walk(value: Any, prefix: Path) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*prefix, str(key)))
        elif prefix and prefix not in IGNORED:
            out.add(prefix)

    walk(obj, ())
    if include is not None:
        return {p for p in out if include(p)}
    return out


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return _MISSING
        cur = cur[key]
    return cur


def set_path(obj: Obj, path: Path, value: Any) -> None:
    cur = obj
    for key in path[:-1]:
        nxt = cur.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[key] = nxt
        cur = nxt
    cur[path[-1]] = value


def remove_path(obj: Obj, path: Path) -> None:
    """Remove a leaf and any maps it leaves empty (but never the top-level sections)."""
    chain: list[tuple[Obj, str]] = []
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return
        chain.append((cur, key))
        cur = cur[key]
    parent, key = chain.pop()
    del parent[key]
    while chain:
        parent, key = chain.pop()
        if parent[key] == {} and len(chain) >= 1:
            del parent[key]
        else:
            break


def path_text(path: Path) -> str:
    return "." + ".".join(path)


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def paths_from_fields_v1(tree: Any) -> set[Path]:
    """Inverse of ``fields_v1``; list-element keys (``k:``/``v:``/``i:``) own the whole list."""
    out: set[Path] = set()

    def walk(node: Any, prefix: Path) -> None:
        if not isinstance(node, dict):
            return
        children = False
        for key, child in node.items():
            if key == ".":
                continue
            if key.startswith("f:"):
                children = True
                walk(child, (*prefix, key[2:]))
            elif prefix:
                out.add(prefix)
                return
        if not children and prefix:
            out.add(prefix)

    walk(tree, ())
    return out


@dataclass
class ManagerEntry:
    manager: str
    operation: str
    subresource: str
    api_version: str
    time: str
    paths: set[Path] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_json(self) -> Obj:
        entry: Obj = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(self.paths),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def load_entries(obj: Obj | None) -> dict[tuple[str, str, str], ManagerEntry]:
    entries: dict[tuple[str, str, str], ManagerEntry] = {}
    if not obj:
        return entries
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict) or "manager" not in raw:
            continue
        entry = ManagerEntry(
            manager=str(raw["manager"]),
            operation=str(raw.get("operation", "Update")),
            subresource=str(raw.get("subresource", "")),
            api_version=str(raw.get("apiVersion", "")),
            time=str(raw.get("time", "")),
            paths=paths_from_fields_v1(raw.get("fieldsV1")),
        )
        entries[entry.key] = entry
    return entries


def store_entries(obj: Obj, entries: dict[tuple[str, str, str], ManagerEntry]) -> None:
    """Drop ownership of fields that no longer exist, then write ``managedFields``."""
    present = leaf_paths(obj)
    out = []
    for entry in entries.values():
        entry.paths &= present
        if entry.paths:
            out.append(entry.to_json())
    meta = obj.setdefault("metadata", {})
    if out:
        meta["managedFields"] = out
    else:
        meta.pop("managedFields", None)


def scope_for(rt: ResourceType, subresource: str) -> Callable[[Path], bool] | None:
    """Main-resource writes own everything but ``.status``; ``/status`` writes own only it."""
    if not rt.status_subresource:
        return None
    if subresource == "status":
        return lambda p: p[0] == "status"
    return lambda p: p[0] != "status"


def record_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    rt: ResourceType,
    now: str,
    subresource: str = "",
    *,
    owners_from: Obj | None = None,
) -> None:
    """Give ``manager`` the fields this create/update/patch changed, taking them from others.

    Ownership is read from ``owners_from`` (default ``old``); passing ``new`` lets
    two calls (main resource and status) accumulate on one object.
    """
    entries = load_entries(owners_from if owners_from is not None else old)
    include = scope_for(rt, subresource)
    changed = {
        p
        for p in leaf_paths(new, include)
        if old is None or get_path(old, p) != get_path(new, p)
    }
    if changed:
        for other in entries.values():
            other.paths -= changed
        key = (manager, "Update", subresource)
        entry = entries.get(key)
        if entry is None:
            entry = ManagerEntry(manager, "Update", subresource, rt.api_version, now)
            entries[key] = entry
        entry.paths |= changed
        entry.time = now
    store_entries(new, entries)


def _conflict_error(
    rt: ResourceType, name: str, conflicts: dict[tuple[str, str, str], list[Path]],
    entries: dict[tuple[str, str, str], ManagerEntry],
) -> APIError:
    count = sum(len(paths) for paths in conflicts.values())
    parts: list[str] = []
    causes: list[Obj] = []
    for key, paths in conflicts.items():
        entry = entries[key]
        who = f'"{entry.manager}" using {entry.api_version or rt.api_version}'
        for p in sorted(paths):
            causes.append(
                {"type": "FieldManagerConflict", "message": f"conflict with {who}",
                 "field": path_text(p)}
            )
        if count == 1:
            parts.append(f"conflict with {who}: {path_text(paths[0])}")
        else:
            parts.append(
                f"conflicts with {who}:" + "".join(f"\n- {path_text(p)}" for p in sorted(paths))
            )
    plural = "" if count == 1 else "s"
    return APIError(
        409,
        f"Apply failed with {count} conflict{plural}: " + "\n".join(parts),
        "Conflict",
        {"name": name, "group": rt.group, "kind": rt.plural, "causes": causes},
    )


def server_side_apply(
    current: Obj | None,
    applied: Obj,
    manager: str,
    rt: ResourceType,
    now: str,
    *,
    force: bool = False,
    subresource: str = "",
) -> Obj:
    """Return the object after ``manager`` applies ``applied`` to ``current`` (None: create).

    Raises a 409 listing the conflicting fields and their owners unless ``force``.
    """
    include = scope_for(rt, subresource)
    applied_paths = leaf_paths(applied, include)
    entries = load_entries(current)
    name = str((applied.get("metadata") or {}).get("name", ""))
    result: Obj = clone(current) if current is not None else {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "metadata": clone(applied.get("metadata") or {}),
    }
    own_key = (manager, "Apply", subresource)

    conflicts: dict[tuple[str, str, str], list[Path]] = {}
    for key, entry in entries.items():
        if entry.manager == manager:
            continue
        for p in applied_paths & entry.paths:
            existing = get_path(result, p)
            if existing is not _MISSING and existing != get_path(applied, p):
                conflicts.setdefault(key, []).append(p)
    if conflicts and not force:
        raise _conflict_error(rt, name, conflicts, entries)
    for key, paths in conflicts.items():
        entries[key].paths -= set(paths)

    previous = entries[own_key].paths if own_key in entries else set()
    owned_by_others: set[Path] = set()
    for key, entry in entries.items():
        if key != own_key:
            owned_by_others |= entry.paths
    for p in previous - applied_paths:
        if p not in owned_by_others:
            remove_path(result, p)

    for p in applied_paths:
        set_path(result, p, clone(get_path(applied, p)))

    # A repeated identical apply must be a no-op (no new resourceVersion), so keep the
    # entry's timestamp when neither the owned set nor any owned value changed.
    prev = entries.get(own_key)
    unchanged = (
        prev is not None
        and current is not None
        and prev.paths == applied_paths
        and all(get_path(current, p) == get_path(applied, p) for p in applied_paths)
    )
    stamp = prev.time if unchanged and prev is not None else now
    entry = ManagerEntry(manager, "Apply", subresource, rt.api_version, stamp, set(applied_paths))
    entries[own_key] = entry
    store_entries(result, entries)
    return result
