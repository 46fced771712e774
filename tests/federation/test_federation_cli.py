"""``gitops-edge federation`` as a user runs it: a subprocess, a repo on disk, two API servers.

The fleet: guangdong (south, arm64, wave 0), guangxi (south, amd64, wave 1), hainan
(south, arm64, wave 1; its province is offline: Cluster not Ready, edge node offline),
xizang (wave 1, eggo done, edge offline, not registered) and sichuan (wave 2, eggo
still running). federation/ holds a DaemonSet and a PropagationPolicy selecting
``region=south, arch=arm64``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops_edge.render.context import RenderContext
from gitops_edge.render.eggo_job import DEPLOY, eggo_run_objects
from gitops_edge.specs.repo import load_repo
from tests.builders import province, write_settings, write_site
from tests.e2e.cli import run_cli
from tests.federation.reference import karmada_secret
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import node

SAMPLE_FEDERATION = Path(__file__).resolve().parents[2] / "sample-repo" / "federation"
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": "r/karmadactl:v1.18.2",
}
SITES = {
    # dir: (region, arch, wave, eggo outcome, edge ready, registered: Cluster Ready)
    "guangdong": ("south", "arm64", 0, "Complete", "True", "True"),
    "guangxi": ("south", "amd64", 1, "Complete", "True", "True"),
    "hainan": ("south", "arm64", 1, "Complete", "Unknown", "False"),
    "xizang": ("southwest", "arm64", 1, "Complete", "Unknown", None),
    "sichuan": ("southwest", "arm64", 2, "running", "True", None),
}


def _binding(health: str) -> dict[str, Any]:
    return {
        "apiVersion": "work.karmada.io/v1alpha2",
        "kind": "ResourceBinding",
        "metadata": {"name": "node-exporter-daemonset", "namespace": "monitoring"},
        "spec": {"clusters": [{"name": "guangdong"}, {"name": "hainan"}]},
        "status": {
            "aggregatedStatus": [
                {"clusterName": "guangdong", "applied": True, "health": health},
                {"clusterName": "hainan", "applied": True, "health": "Unknown"},
            ]
        },
    }


def test_federation_cli_registers_labels_places_and_releases_waves(
    tmp_path: Path,
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
    karmada_api: KubeAPIServer,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    write_settings(repo_dir, {"federation": {"karmada": KARMADA}})
    for name, (region, arch, wave, *_rest) in SITES.items():
        doc = province(name, edge={"arch": arch}, rollout={"wave": wave})
        doc["spec"]["eggo"]["masters"][0]["arch"] = arch
        for w in doc["spec"]["eggo"]["workers"]:
            w["arch"] = arch
        doc["metadata"] = {"labels": {"region": region}}
        write_site(repo_dir, name, doc)
    shutil.copytree(SAMPLE_FEDERATION, repo_dir / "federation")
    repo = load_repo(repo_dir)
    assert all(s.valid for s in repo.sites), [s.problems for s in repo.sites]
    ctx = RenderContext(settings=repo.settings)

    config = karmada_api.kubeconfig(tmp_path / "karmada.config").read_text()
    kube_api.store.put(karmada_secret(config))
    for name, (_region, arch, _wave, outcome, edge_ready, cluster_ready) in SITES.items():
        site = repo.site(name)
        assert site is not None
        cm, job = eggo_run_objects(site, ctx, DEPLOY)
        job["metadata"]["creationTimestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        job["status"] = (
            {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            if outcome == "Complete"
            else {"active": 1}
        )
        kube_api.store.seed([cm, job])
        kube_api.store.put(node(f"{name}-edge", site=name, arch=arch, ready=edge_ready, now=now))
        if cluster_ready is not None:
            karmada_api.store.put(
                {
                    "apiVersion": "cluster.karmada.io/v1alpha1",
                    "kind": "Cluster",
                    "metadata": {"name": name},
                    "spec": {"syncMode": "Pull"},
                    "status": {"conditions": [{"type": "Ready", "status": cluster_ready}]},
                }
            )
    karmada_api.store.put(_binding("Unhealthy"))

    def federation(*extra: str) -> dict[str, Any]:
        cp = run_cli(
            "federation", repo_dir, "--kubeconfig", kube_api_kubeconfig, "-o", "json", *extra
        )
        assert cp.returncode == 0, cp.stderr
        return json.loads(cp.stdout)  # type: ignore[no-any-return]

    shown = federation()  # without --apply: nothing is written
    states = {s["site"]: s["registration"] for s in shown["sites"]}
    assert states == {
        "guangdong": "registered",
        "guangxi": "registered",
        "hainan": "registered",
        "sichuan": "waiting for eggo",
        "xizang": "deferred",
    }
    assert {s["site"]: s["labels_outcome"] for s in shown["sites"]}["guangdong"] == "to apply"
    assert karmada_api.store.get("cluster.karmada.io/v1alpha1", "Cluster", "guangdong")[
        "metadata"
    ].get("labels") in (None, {})
    assert (
        karmada_api.store.list("policy.karmada.io/v1alpha1", "PropagationPolicy", "monitoring")
        == []
    )

    applied = federation("--apply")
    (workload,) = applied["workloads"]
    assert workload["admitted"] == ["guangdong", "hainan"]  # south + arm64 only
    assert workload["clusters"]["hainan"]["scheduled"] is True  # offline: kept, not dropped
    assert applied["released_through"] == 0  # guangdong is not healthy yet
    labels = karmada_api.store.get("cluster.karmada.io/v1alpha1", "Cluster", "guangxi")["metadata"][
        "labels"
    ]
    assert labels == {
        "arch": "amd64",
        "province": "guangxi",
        "region": "south",
        "site": "guangxi",
        "wave": "1",
    }
    pp = karmada_api.store.get(
        "policy.karmada.io/v1alpha1", "PropagationPolicy", "node-exporter", "monitoring"
    )
    assert pp is not None
    tolerations = pp["spec"]["placement"]["clusterTolerations"]
    assert {t["key"] for t in tolerations} == {
        "cluster.karmada.io/not-ready",
        "cluster.karmada.io/unreachable",
    }
    assert all("tolerationSeconds" not in t for t in tolerations)
    assert pp["spec"]["suspension"]["dispatchingOnClusters"]["clusterNames"] == [
        "guangxi",
        "hainan",
        "sichuan",
        "xizang",
    ]
    names = [j["metadata"]["name"] for j in kube_api.store.list("batch/v1", "Job", "edge-xizang")]
    assert names and not [
        n for n in names if n.startswith("karmada-register")
    ]  # deferred: no registration Job while its edge node is offline

    karmada_api.store.put(_binding("Healthy"))
    again = federation("--apply")
    # wave 0 done; wave 1: guangxi done, hainan and xizang deferred; wave 2 released
    assert again["released_through"] == 2
    pp = karmada_api.store.get(
        "policy.karmada.io/v1alpha1", "PropagationPolicy", "node-exporter", "monitoring"
    )
    assert pp is not None and "suspension" not in pp["spec"]
    binding = karmada_api.store.get(
        "work.karmada.io/v1alpha2", "ResourceBinding", "node-exporter-daemonset", "monitoring"
    )
    assert binding is not None and [c["name"] for c in binding["spec"]["clusters"]] == [
        "guangdong",
        "hainan",
    ]
