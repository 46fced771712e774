"""The daemon with federation enabled: a remote ops repo, the centre and karmada-apiserver.

One federated province (guangdong, ``deletionPolicy: Cleanup``) whose Cluster is
already registered, hainan (federated, not registered yet) and beijing, which is not
federated. There is no resync: every step is moved by an event (a commit, a Job that
finished, a Cluster that appeared or went). The daemon follows the remote into the central API test server; after
each reconcile it runs the federation pass against the second server: the Cluster's
labels, ``federation/`` applied, what left ``federation/`` removed. Then the site's
directory is removed: eggo cleanup waits while the Cluster exists, the unregistration
Job goes out first, and the cleanup follows once the Cluster is gone (the test plays
karmadactl unregister by deleting it; the daemon learns it from its Karmada view).
"""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.builders import write_settings
from tests.daemon.gitremote import OpsRemote
from tests.daemon.harness import InProcess, daemon_options, wait_for
from tests.federation.reference import karmada_secret
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import lease, node

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

SAMPLE_FEDERATION = Path(__file__).resolve().parents[2] / "sample-repo" / "federation"
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": {"arm64": "r/karmadactl:v1.18.2-arm64", "amd64": "r/karmadactl:v1.18.2"},
}
CLUSTER = ("cluster.karmada.io/v1alpha1", "Cluster")
POLICY = "policy.karmada.io/v1alpha1"


def _finish_jobs(kube_api: KubeAPIServer, prefix: str) -> None:
    """The Job controller: every Job named ``prefix...`` succeeded."""
    for job in kube_api.store.list("batch/v1", "Job"):
        md = job["metadata"]
        if md["name"].startswith(prefix) and not (job.get("status") or {}).get("succeeded"):
            kube_api.store.touch(
                "batch/v1", "Job", md["name"], md["namespace"],
                patch={"status": {"succeeded": 1,
                                  "conditions": [{"type": "Complete", "status": "True"}]}},
            )  # fmt: skip


def _jobs(
    kube_api: KubeAPIServer, prefix: str, namespace: str = "edge-guangdong"
) -> list[dict[str, Any]]:
    return [
        j
        for j in kube_api.store.list("batch/v1", "Job", namespace)
        if j["metadata"]["name"].startswith(prefix)
    ]


def test_the_daemon_federates_and_unregisters_before_cleanup(
    tmp_path: Path,
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
    karmada_api: KubeAPIServer,
    ca_pem: tuple[str, str],
) -> None:
    remote = OpsRemote(tmp_path, sites=())
    write_settings(remote.tree, {"federation": {"karmada": KARMADA}})
    remote.write_site("guangdong", deletionPolicy="Cleanup", edge={"arch": "arm64"})
    remote.write_site("beijing", federation={"karmada": {"enabled": False}})
    remote.write_site("hainan", edge={"arch": "arm64"})
    shutil.copytree(SAMPLE_FEDERATION, remote.tree / "federation")
    remote.commit("guangdong, federated", push=True)

    kubeconfig = yaml.safe_load(karmada_api.kubeconfig(tmp_path / "karmada.config").read_text())
    kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        ca_pem[0].encode()
    ).decode()  # the pin the registration Job checks
    config = yaml.safe_dump(kubeconfig)
    kube_api.store.put(karmada_secret(config))
    now = datetime.now(UTC)
    for site in ("guangdong", "hainan"):
        kube_api.store.put(node(f"{site}-edge-01", site=site, arch="arm64"))
        kube_api.store.put(lease(f"{site}-edge-01", now + timedelta(hours=1)))
    karmada_api.store.put(
        {
            "apiVersion": CLUSTER[0],
            "kind": CLUSTER[1],
            "metadata": {"name": "guangdong"},
            "spec": {"syncMode": "Pull"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    kube = connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.05))
    opts = daemon_options(remote.url, tmp_path, emit="kube")

    def labelled() -> bool:
        cluster = karmada_api.store.get(*CLUSTER, "guangdong") or {}
        return (cluster["metadata"].get("labels") or {}).get("site") == "guangdong"

    with InProcess(opts, kube=kube) as d:
        wait_for(lambda: _jobs(kube_api, "eggo-"), timeout=60, what="the eggo deploy Job")
        wait_for(lambda: _jobs(kube_api, "eggo-", "edge-hainan"), timeout=30, what="hainan's")
        wait_for(labelled, timeout=30, what="the Cluster's labels applied by the daemon")
        d.wait_record(lambda r: r.batch == ("guangdong",))  # the view saw the labels land
        d.settle()
        assert not _jobs(kube_api, "karmada-register-", "edge-hainan")  # eggo has not finished
        _finish_jobs(kube_api, "eggo-")
        (register,) = wait_for(
            lambda: _jobs(kube_api, "karmada-register-", "edge-hainan"),
            timeout=30,
            what="hainan's registration Job, moved by its eggo Job finishing",
        )
        assert register["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
        assert kube_api.store.get("v1", "Secret", "karmada-bootstrap", "edge-hainan")
        assert not _jobs(kube_api, "karmada-register-")  # guangdong is registered already

        override = wait_for(
            lambda: karmada_api.store.get(
                POLICY, "OverridePolicy", "node-exporter-mirror", "monitoring"
            ),
            timeout=30,
            what="federation/ applied",
        )
        assert override["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
        assert karmada_api.store.get("apps/v1", "DaemonSet", "node-exporter", "monitoring")

        # a policy leaves federation/: removed from karmada-apiserver (it was ours)
        karmada_api.store.put(
            {
                "apiVersion": POLICY,
                "kind": "OverridePolicy",
                "metadata": {"name": "by-hand", "namespace": "monitoring"},
                "spec": {"resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
            }
        )
        path = remote.tree / "federation" / "node-exporter.yaml"
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] != "OverridePolicy"]
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        remote.commit("no more mirror override", push=True)
        d.poll()
        wait_for(
            lambda: (
                karmada_api.store.get(
                    POLICY, "OverridePolicy", "node-exporter-mirror", "monitoring"
                )
                is None
            ),
            timeout=30,
            what="the override removed from karmada-apiserver",
        )
        assert karmada_api.store.get(POLICY, "OverridePolicy", "by-hand", "monitoring")
        assert karmada_api.store.get(POLICY, "PropagationPolicy", "node-exporter", "monitoring")

        # the site leaves the repo (deletionPolicy Cleanup): unregister first, then clean up
        remote.remove("provinces/guangdong")
        remote.commit("guangdong retired", push=True)
        d.poll()
        (unregister,) = wait_for(
            lambda: _jobs(kube_api, "karmada-unregister-"),
            timeout=30,
            what="the unregistration Job",
        )
        assert unregister["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
        command = unregister["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:3] == ["karmadactl", "unregister", "guangdong"]
        d.settle()
        assert not _jobs(kube_api, "eggo-cleanup-")  # held while the Cluster exists
        karmada_api.store.delete(*CLUSTER, "guangdong")  # karmadactl unregister did its work
        wait_for(
            lambda: _jobs(kube_api, "eggo-cleanup-"),
            timeout=30,
            what="the eggo cleanup Job once the Cluster is gone",
        )
