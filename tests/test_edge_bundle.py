"""sample-repo/edge-bundle: Argo CD 3.x, pinned, and talking HTTPS to MetaServer.

The pins are checked against one another (one Argo CD tag for every Argo CD image, the
Redis that tag's install.yaml runs) and against docs/operations.md, which states the
same versions; the MetaServer address is the one EdgeCore serves HTTPS on with
``requireAuthorization`` (its dummy interface), so no pod needs host networking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "sample-repo" / "edge-bundle"
ARGOCD = "v3.5.1"
REDIS = "8.2.3-alpine"
METASERVER = ("169.254.30.10", "10550")


def _objects() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(BUNDLE.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def _pods() -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in _objects()
        if o["kind"] in ("Deployment", "StatefulSet")
    }


def test_every_argo_cd_image_is_the_pinned_3x_release() -> None:
    images = {c["image"] for pod in _pods().values() for c in pod["containers"]}
    argocd = {i for i in images if "/argoproj/argocd:" in i}
    assert argocd == {f"registry.ops.example/argoproj/argocd:{ARGOCD}"}
    assert f"registry.ops.example/library/redis:{REDIS}" in images


def test_the_controller_reaches_metaserver_over_its_https_address() -> None:
    pod = _pods()["argocd-application-controller"]
    assert not pod.get("hostNetwork"), "MetaServer's dummy interface needs no host network"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == METASERVER
    assert pod.get("automountServiceAccountToken", True), "MetaServer authenticates the token"


def test_resource_exclusions_keep_the_3x_defaults_and_add_eggo() -> None:
    cm = next(o for o in _objects() if o["metadata"]["name"] == "argocd-cm")
    rules = yaml.safe_load(cm["data"]["resource.exclusions"])
    kinds = {k for r in rules for k in r["kinds"]}
    assert {"Endpoints", "EndpointSlice", "Lease", "CertificateSigningRequest"} <= kinds
    assert any(r["apiGroups"] == ["eggo.isula.org"] for r in rules)


def test_operations_md_states_the_same_versions() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for needed in (
        f"Argo CD {ARGOCD}",
        "KubeEdge 1.23.1",
        "requireAuthorization",
        ":".join(METASERVER),
    ):
        assert needed in text, needed
