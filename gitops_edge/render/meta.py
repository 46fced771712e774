"""Labels, annotations and the spec hash every emitted object carries.

The emitted objects are the state (ARCHITECTURE.md): a restarted daemon finds what it
manages by the labels and decides "unchanged" by ``gitops-edge.io/spec-hash``. The hash
leaves out the two annotations that are not content (the revision and the hash
itself), so a commit that does not touch an object keeps its hash, while the revision
annotation still says which commit produced the content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# the keys live in gitops_edge.labels; re-exported for the renderers
from gitops_edge.labels import CLUSTER_ID as CLUSTER_ID
from gitops_edge.labels import COMPONENT as COMPONENT
from gitops_edge.labels import DELETION_POLICY as DELETION_POLICY
from gitops_edge.labels import EGGO_CONFIG as EGGO_CONFIG
from gitops_edge.labels import EGGO_OPERATION as EGGO_OPERATION
from gitops_edge.labels import MANAGED_BY as MANAGED_BY
from gitops_edge.labels import MANAGER as MANAGER
from gitops_edge.labels import SITE as SITE
from gitops_edge.labels import SOURCE_REVISION as SOURCE_REVISION
from gitops_edge.labels import SPEC_HASH as SPEC_HASH

COMPONENTS = (
    "namespace",
    "eggo-config",
    "eggo-run",
    "eggo-operator",
    "application",
    "edge-bundle",
)

_NOT_CONTENT = (SOURCE_REVISION, SPEC_HASH)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
"""``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``, built once."""


def digest(value: Any) -> str:
    """sha256 hex of canonical JSON (sorted keys, compact): stable across runs and hosts."""
    return hashlib.sha256(_CANONICAL.encode(value).encode()).hexdigest()


def label_value(value: str) -> str:
    """``value`` as a valid label value: long ones keep a prefix and gain a hash suffix."""
    if len(value) <= 63:
        return value
    return value[:52].rstrip("-._") + "-" + digest(value)[:10]


def site_labels(site_id: str, component: str, **extra: str) -> dict[str, str]:
    """The labels that find an object again: manager, site, component (plus ``extra``)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}")
    labels = {MANAGED_BY: MANAGER, SITE: site_id, COMPONENT: component}
    labels.update({k: label_value(v) for k, v in extra.items()})
    return labels


def metadata(
    name: str,
    namespace: str | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` in the key order every emitted object uses."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def k8s_object(api_version: str, kind: str, meta: dict[str, Any], **rest: Any) -> dict[str, Any]:
    """An object with keys in the order apiVersion, kind, metadata, then ``rest`` as given."""
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    obj.update(rest)
    return obj


def spec_hash(obj: dict[str, Any]) -> str:
    """16 hex of the object's content, without the revision and spec-hash annotations."""
    meta = dict(obj.get("metadata") or {})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_CONTENT
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return digest({**obj, "metadata": meta})[:16]


def finish(obj: dict[str, Any], revision: str) -> dict[str, Any]:
    """Set the revision and spec-hash annotations in place (idempotent) and return ``obj``."""
    meta = obj["metadata"]
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOT_CONTENT
    }
    meta["annotations"] = annotations
    # What spec_hash(obj) computes, without copying the object twice: the digest is of
    # sorted keys, so only an empty annotations mapping has to be left out.
    if annotations:
        value = digest(obj)[:16]
    else:
        bare = {k: v for k, v in meta.items() if k != "annotations"}
        value = digest({**obj, "metadata": bare})[:16]
    annotations[SOURCE_REVISION] = revision
    annotations[SPEC_HASH] = value
    return obj
