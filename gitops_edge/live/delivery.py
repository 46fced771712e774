"""Delivery to edge nodes, read from KubeEdge ObjectSync records.

CloudCore's reliable-sync keeps one ObjectSync per (edge node, object), named
``<node>.<object uid>``, whose ``status.objectResourceVersion`` is the version the
edge acknowledged. Equal to the object's current resourceVersion: delivered; older:
stale (the edge has a previous version); no record: pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Delivery = Literal["delivered", "pending", "stale"]


@dataclass(frozen=True)
class DeliveryState:
    node: str
    kind: str
    namespace: str
    name: str
    state: Delivery
    edge_version: str | None


def index_object_syncs(syncs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``<node>.<uid>`` -> acknowledged resourceVersion (missing status counts as none)."""
    out: dict[str, str] = {}
    for sync in syncs:
        name = sync.get("metadata", {}).get("name")
        rv = (sync.get("status") or {}).get("objectResourceVersion")
        if name:
            out[name] = str(rv) if rv is not None else ""
    return out


def delivery_of(obj: Mapping[str, Any], node: str, syncs: Mapping[str, str]) -> DeliveryState:
    """Where ``obj`` (raw JSON with uid and resourceVersion) stands on edge ``node``."""
    meta = obj.get("metadata", {})
    acked = syncs.get(f"{node}.{meta.get('uid', '')}")
    if acked is None or acked == "":
        state: Delivery = "pending"
    elif acked == str(meta.get("resourceVersion", "")):
        state = "delivered"
    else:
        state = "stale"
    return DeliveryState(
        node,
        str(obj.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        state,
        acked or None,
    )
