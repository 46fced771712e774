"""Strict validation of the Prometheus Operator objects deploy/ ships.

``kubernetes-validate`` knows the core kinds only. The ServiceMonitor and the
PrometheusRule are checked against pydantic models generated from the Prometheus
Operator's own CRDs (``cloudcoil.models.prometheus_operator``): a wrong type fails the
model, and because the models ignore unknown fields rather than refusing them, the
object is dumped again and compared with the input, so a misspelt or unknown field
(which the API server would prune, silently) fails too.
"""

from __future__ import annotations

from typing import Any

import pydantic
from cloudcoil.models.prometheus_operator import v1

MONITORING_GROUP = "monitoring.coreos.com"
MODELS: dict[str, Any] = {
    "ServiceMonitor": v1.ServiceMonitor,
    "PodMonitor": v1.PodMonitor,
    "PrometheusRule": v1.PrometheusRule,
}


def operator_errors(obj: dict[str, Any]) -> list[str]:
    """Problems of one ``monitoring.coreos.com/v1`` object; empty when it is valid."""
    if obj.get("apiVersion") != f"{MONITORING_GROUP}/v1":
        return [f"apiVersion {obj.get('apiVersion')!r}: expected {MONITORING_GROUP}/v1"]
    model = MODELS.get(str(obj.get("kind")))
    if model is None:
        return [f"kind {obj.get('kind')!r}: no model for it"]
    try:
        parsed = model.model_validate(obj)
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [f"{path}: unknown field" for path in _unknown(obj, dumped, "")]


def _unknown(given: Any, kept: Any, path: str) -> list[str]:
    if isinstance(given, dict):
        kept = kept if isinstance(kept, dict) else {}
        out: list[str] = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in kept:
                out.append(where)
            else:
                out.extend(_unknown(value, kept[key], where))
        return out
    if isinstance(given, list):
        kept = kept if isinstance(kept, list) else []
        return [
            p
            for i, value in enumerate(given)
            for p in _unknown(value, kept[i] if i < len(kept) else None, f"{path}[{i}]")
        ]
    return []
