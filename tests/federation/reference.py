"""The Karmada v1.18.2 reference CRDs, read from ``../shared`` (never copied into the project)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "karmada"
CRD_FILES = {
    "PropagationPolicy": "policy.karmada.io_propagationpolicies.yaml",
    "ClusterPropagationPolicy": "policy.karmada.io_clusterpropagationpolicies.yaml",
    "OverridePolicy": "policy.karmada.io_overridepolicies.yaml",
    "ClusterOverridePolicy": "policy.karmada.io_clusteroverridepolicies.yaml",
    "ResourceBinding": "work.karmada.io_resourcebindings.yaml",
    "Cluster": "cluster-crd-derived.yaml",
}


def need_reference() -> Path:
    if not (REFERENCE / "SOURCES.md").is_file():
        pytest.skip(
            f"Karmada reference data not found at {REFERENCE} (../shared/reference/karmada)"
        )
    return REFERENCE


def crd(kind: str) -> dict[str, Any]:
    data = yaml.safe_load((need_reference() / CRD_FILES[kind]).read_text())
    assert isinstance(data, dict)
    return data


def served_version(kind: str) -> tuple[str, dict[str, Any]]:
    """(apiVersion, openAPIV3Schema) of the CRD's storage version."""
    doc = crd(kind)
    version = next(v for v in doc["spec"]["versions"] if v.get("storage"))
    return f"{doc['spec']['group']}/{version['name']}", version["schema"]["openAPIV3Schema"]


def register(server: Any, kind: str) -> None:
    """Serve the kind as its reference CRD declares it (group, plural, scope, status)."""
    doc = crd(kind)
    api_version, _ = served_version(kind)
    version = next(v for v in doc["spec"]["versions"] if v.get("storage"))
    server.registry.add(
        api_version,
        doc["spec"]["names"]["kind"],
        doc["spec"]["names"]["plural"],
        namespaced=doc["spec"]["scope"] == "Namespaced",
        status_subresource="status" in (version.get("subresources") or {}),
    )


def karmada_secret(kubeconfig: str) -> dict[str, Any]:
    """The central Secret ``gitops-edge/karmada`` holding the daemon's karmada kubeconfig
    (``spec.federation.karmada.kubeconfigSecret`` in the tests' settings)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "karmada", "namespace": "gitops-edge"},
        "data": {"kubeconfig": base64.b64encode(kubeconfig.encode()).decode()},
    }
