"""Patch documents: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Strategic merge patch is served as a merge patch: the list-merge keys that make it
"strategic" matter for containers and similar lists, which controllers in this
project do not patch, and the difference would only hide bugs in rarely used code.
Server-side apply lives in ``apply.py`` because it is about field ownership, not
document arithmetic.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import APIError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH, APPLY_PATCH)


def clone(value: Any) -> Any:
    """Deep copy of JSON data; a JSON round trip is several times faster than deepcopy."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return copy.deepcopy(value)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = clone(value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Merge patch that drops the ``$patch``/``$retainKeys`` style directives."""
    return merge_patch(target, _strip_directives(patch))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not (isinstance(k, str) and k.startswith("$"))
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


class JSONPatchError(APIError):
    def __init__(self, message: str) -> None:
        super().__init__(422, message, "Invalid")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise JSONPatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise JSONPatchError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise JSONPatchError(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for token in tokens[:-1]:
        if isinstance(cur, dict):
            if token not in cur:
                raise JSONPatchError(f"path element {token!r} does not exist")
            cur = cur[token]
        elif isinstance(cur, list):
            cur = cur[_index(cur, token, for_add=False)]
        else:
            raise JSONPatchError(f"cannot traverse into {type(cur).__name__} at {token!r}")
    return cur


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JSONPatchError(f"path {path!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise JSONPatchError(f"path {path!r} does not exist")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise JSONPatchError(f"cannot add to {type(parent).__name__} at {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise JSONPatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JSONPatchError(f"unable to remove nonexistent key: {last}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise JSONPatchError(f"cannot remove from {type(parent).__name__} at {path!r}")


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902, applied to a copy; a failed ``test`` or missing path is a 422."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = clone(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch {kind} operation requires a value")
        if kind == "add":
            doc = _add(doc, path, clone(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc, _ = _remove(doc, path) if _pointer(path) else (doc, None)
            doc = _add(doc, path, clone(op["value"]))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise JSONPatchError(
                    f"testing value {path} failed: test operation does not apply"
                )
        elif kind in ("move", "copy"):
            if "from" not in op:
                raise bad_request(f"json patch {kind} operation requires 'from'")
            inside = (path + "/").startswith(op["from"] + "/") and path != op["from"]
            if kind == "move" and inside:
                raise JSONPatchError("cannot move a value into one of its children")
            if kind == "move":
                doc, value = _remove(doc, op["from"])
            else:
                value = clone(_get(doc, op["from"]))
            doc = _add(doc, path, value)
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc
