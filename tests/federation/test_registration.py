"""Registration: only after a succeeded eggo deploy, once, with the token kept out of sight.

Two API servers: the centre (eggo's records, the site's Secret and Job) and
karmada-apiserver (bootstrap tokens in kube-system, the Cluster the agent creates).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.federation.bootstrap import ca_cert_hash, spki_of
from gitops_edge.federation.karmada import (
    apply_cluster_labels,
    client_from_kubeconfig,
    reconcile_registration,
)
from gitops_edge.federation.labels import cluster_labels
from gitops_edge.federation.registration import (
    ADMIN_CONF,
    TOKEN_SECRET,
    registration_job,
    registration_state,
)
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.render.context import RenderContext
from gitops_edge.render.eggo_job import DEPLOY, eggo_run_objects
from gitops_edge.specs.repo import load_repo
from gitops_edge.specs.sites import Site
from tests.builders import province, write_settings, write_site
from tests.federation.reference import register
from tests.kubeapi.server import KubeAPIServer

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=2, base=0.01, cap=0.05)
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": {"arm64": "r/karmadactl:v1.18.2-arm64", "amd64": "r/karmadactl:v1.18.2"},
    "proxy": "http://proxy.gd.example:3128",
}


def test_ca_hash_matches_openssl(ca_pem: tuple[str, str]) -> None:
    pem, expected = ca_pem
    assert ca_cert_hash(pem) == expected
    with pytest.raises(ValueError):
        spki_of(b"\x30\x03\x02\x01\x00")


@pytest.fixture
def site(tmp_path: Path) -> tuple[Site, RenderContext]:
    write_settings(tmp_path, {"federation": {"karmada": KARMADA}})
    doc = province("gd", edge={"nodeName": "gd-edge-01", "arch": "arm64"})
    doc["metadata"] = {"labels": {"region": "south"}}
    write_site(tmp_path, "guangdong", doc)
    repo = load_repo(tmp_path)
    gd = repo.site("guangdong")
    assert gd is not None and gd.valid, repo.sites
    return gd, RenderContext(settings=repo.settings, revision="abc123")


def _eggo(site: Site, ctx: RenderContext, outcome: str | None) -> list[dict[str, Any]]:
    objs = eggo_run_objects(site, ctx, DEPLOY)
    job = objs[1]
    job["metadata"]["creationTimestamp"] = "2026-03-01T07:00:00Z"
    if outcome == "Complete":
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    elif outcome == "running":
        job["status"] = {"active": 1}
    return objs


def test_the_job_runs_on_the_edge_node_like_eggo(site: tuple[Site, RenderContext]) -> None:
    gd, ctx = site
    job = registration_job(gd, ctx)
    eggo_pod = eggo_run_objects(gd, ctx, DEPLOY)[1]["spec"]["template"]["spec"]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeName"] == eggo_pod["nodeName"] == "gd-edge-01"
    assert pod["nodeSelector"] == eggo_pod["nodeSelector"]
    assert pod["tolerations"] == eggo_pod["tolerations"]
    assert job["spec"]["backoffLimit"] == 0
    (vol,) = pod["volumes"]
    assert vol["hostPath"] == {
        "path": "/var/lib/gitops-edge/eggo/gd-paas/admin.conf",
        "type": "File",
    }
    (init,) = pod["initContainers"]
    assert init["image"] == "r/karmadactl:v1.18.2-arm64"
    assert init["command"] == [
        "karmadactl", "register", "https://karmada.example:5443",
        "--token", "$(KARMADA_TOKEN)",
        "--discovery-token-ca-cert-hash", "$(KARMADA_CA_CERT_HASH)",
        "--cluster-name", "guangdong", "--kubeconfig", ADMIN_CONF,
        "--karmada-agent-replicas", "0",
    ]  # fmt: skip
    env = {e["name"]: e for e in init["env"]}
    assert env["KARMADA_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == TOKEN_SECRET
    assert env["HTTPS_PROXY"]["value"] == "http://proxy.gd.example:3128"
    assert "10.20.0.11" in env["NO_PROXY"]["value"]  # the province cluster is not proxied
    assert "karmada.example" not in env["NO_PROXY"]["value"]  # karmada-apiserver is
    (start,) = pod["containers"]
    assert start["command"][:4] == ["karmadactl", "patch", "deployment", "karmada-agent"]
    assert "--report-secrets=None" in start["command"][-1]
    assert "env" not in start  # no proxy, no token outside the register step
    assert "HTTPS_PROXY" not in json.dumps(eggo_run_objects(gd, ctx, DEPLOY))  # never for eggo
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
    assert job["metadata"]["labels"]["gitops-edge.io/site"] == "guangdong"


def test_state_follows_eggo(site: tuple[Site, RenderContext]) -> None:
    gd, ctx = site

    def state(objs: list[dict[str, Any]], reports: dict[str, str] | None = None) -> str:
        return registration_state(
            gd, ctx, eggo_objects=objs, cluster=None, job=None, reports=reports
        ).state

    assert state([]) == "waiting for eggo"
    assert state(_eggo(gd, ctx, "running")) == "waiting for eggo"
    done = _eggo(gd, ctx, "Complete")
    key = f"{done[1]['metadata']['namespace']}/{done[1]['metadata']['name']}"
    assert state(done, {key: "10.20.0.21\t\tfailure\n"}) == "waiting for eggo"
    assert state(done) == "to register"
    off = RenderContext(settings=ctx.settings.model_copy(deep=True), revision="x")
    spec = off.settings.spec.model_copy(
        update={"federation": off.settings.spec.federation.model_copy(
            update={"karmada": off.settings.spec.federation.karmada.model_copy(update={"enabled": False})}
        )}
    )  # fmt: skip
    off = RenderContext(settings=off.settings.model_copy(update={"spec": spec}))
    assert registration_state(gd, off, eggo_objects=done, cluster=None, job=None).state == (
        "not federated"
    )


@pytest.fixture
def karmada_api() -> Iterator[KubeAPIServer]:
    server = KubeAPIServer(bookmark_interval=0.2)
    register(server, "Cluster")
    with server:
        yield server


def test_registration_end_to_end_on_two_api_servers(
    site: tuple[Site, RenderContext],
    kube_api: KubeAPIServer,
    karmada_api: KubeAPIServer,
    ca_pem: tuple[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gd, ctx = site
    config = yaml.safe_load(karmada_api.kubeconfig(tmp_path / "k.config").read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        ca_pem[0].encode()
    ).decode()
    central = KubeClient(kube_api.api_client(), retry=FAST)
    karmada = client_from_kubeconfig(config, retry=FAST)

    def step(objs: list[dict[str, Any]]) -> str:
        return reconcile_registration(
            central, karmada, config, gd, ctx, eggo_objects=objs, now=NOW
        ).line()

    def jobs() -> list[dict[str, Any]]:
        return kube_api.store.list("batch/v1", "Job", "edge-guangdong")

    running = _eggo(gd, ctx, "running")
    assert step(running) == "guangdong: karmada waiting for eggo: eggo deploy " + (
        f"{running[1]['metadata']['name']} running"
    )
    assert jobs() == [] and kube_api.store.list("v1", "Secret", "edge-guangdong") == []

    done = _eggo(gd, ctx, "Complete")
    line = step(done)
    assert line.startswith("guangdong: karmada registering: Job karmada-register-")
    (job,) = jobs()
    (handed,) = kube_api.store.list("v1", "Secret", "edge-guangdong")
    for obj in (job, handed):  # found like everything gitops-edge creates
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
        assert obj["metadata"]["labels"]["gitops-edge.io/federation"] == "karmada-register"
    token = base64.b64decode(handed["data"]["token"]).decode()
    token_id, _, token_value = token.partition(".")
    (minted,) = karmada_api.store.list("v1", "Secret", "kube-system")
    assert minted["metadata"]["name"] == f"bootstrap-token-{token_id}"
    assert minted["type"] == "bootstrap.kubernetes.io/token"
    minted_data = {k: base64.b64decode(v).decode() for k, v in minted["data"].items()}
    assert minted_data["token-secret"] == token_value
    assert minted_data["expiration"] == "2026-03-01T08:30:00Z"
    assert base64.b64decode(handed["data"]["ca-cert-hash"]).decode() == ca_pem[1]
    assert token_value not in json.dumps(job) and token_value not in line
    assert token_value not in caplog.text

    assert step(done).startswith("guangdong: karmada registering: Job")  # no second Job
    assert len(jobs()) == 1

    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    kube_api.store.put(job)
    half = step(done)
    assert "half-done" in half and "karmada-agent-sa" in half and len(jobs()) == 1

    karmada_api.store.put(
        {
            "apiVersion": "cluster.karmada.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "guangdong"},
            "spec": {"syncMode": "Pull"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    assert step(done) == "guangdong: karmada registered (Ready)"
    assert kube_api.store.list("v1", "Secret", "edge-guangdong") == []  # the token is gone
    assert apply_cluster_labels(karmada, "guangdong", cluster_labels(gd)).outcome == "applied"
    live = karmada_api.store.get("cluster.karmada.io/v1alpha1", "Cluster", "guangdong")
    assert live is not None
    assert live["metadata"]["labels"]["region"] == "south"
    assert live["metadata"]["labels"]["arch"] == "arm64"
    assert token_value not in caplog.text


def test_a_removed_site_is_unregistered_before_cleanup(
    site: tuple[Site, RenderContext],
    kube_api: KubeAPIServer,
    karmada_api: KubeAPIServer,
    tmp_path: Path,
) -> None:
    from gitops_edge.federation.karmada import reconcile_unregistration
    from gitops_edge.federation.unregistration import cleanup_hold

    gd, ctx = site
    eggo = _eggo(gd, ctx, "Complete")
    kube_api.store.seed(eggo)
    cluster = {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "guangdong"},
        "spec": {"syncMode": "Pull"},
    }
    karmada_api.store.put(cluster)
    central = KubeClient(kube_api.api_client(), retry=FAST)
    config = yaml.safe_load(karmada_api.kubeconfig(tmp_path / "k.config").read_text())
    karmada = client_from_kubeconfig(config, retry=FAST)
    images = {"arm64": "r/karmadactl:arm64"}

    assert cleanup_hold("guangdong", cluster) is not None
    first = reconcile_unregistration(central, karmada, "guangdong", "edge-guangdong", eggo, images)
    assert first.state == "unregistering" and first.holds_cleanup
    (job,) = [
        j
        for j in kube_api.store.list("batch/v1", "Job", "edge-guangdong")
        if j["metadata"]["name"].startswith("karmada-unregister-")
    ]
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-edge"
    pod = job["spec"]["template"]["spec"]
    eggo_pod = eggo[1]["spec"]["template"]["spec"]
    assert pod["nodeName"] == eggo_pod["nodeName"] and pod["tolerations"] == eggo_pod["tolerations"]
    assert pod["containers"][0]["image"] == "r/karmadactl:arm64"
    assert "env" not in pod["containers"][0]  # no proxy here: the registration Job only
    assert pod["containers"][0]["command"] == [
        "karmadactl", "unregister", "guangdong", "--cluster-kubeconfig", ADMIN_CONF,
    ]  # fmt: skip
    again = reconcile_unregistration(central, karmada, "guangdong", "edge-guangdong", eggo, images)
    assert again.state == "unregistering"  # the same Job, not a second one
    job["status"] = {
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }
    kube_api.store.put(job)
    failed = reconcile_unregistration(central, karmada, "guangdong", "edge-guangdong", eggo, images)
    assert failed.state == "failed" and "by hand" in failed.detail and failed.holds_cleanup
    karmada_api.store.delete("cluster.karmada.io/v1alpha1", "Cluster", "guangdong")
    done = reconcile_unregistration(central, karmada, "guangdong", "edge-guangdong", eggo, images)
    assert done.state == "unregistered" and not done.holds_cleanup
    assert cleanup_hold("guangdong", None) is None


def _rebuilt(site: Site, ctx: RenderContext, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A later, succeeded eggo run of the same cluster (a rebuild's deploy), chained."""
    cm, job = (copy.deepcopy(o) for o in _eggo(site, ctx, "Complete"))
    old = before[1]["metadata"]["name"]
    job["metadata"]["name"] = old + "-rebuilt"
    job["metadata"]["creationTimestamp"] = "2026-03-01T07:30:00Z"
    job["metadata"].setdefault("annotations", {})["gitops-edge.io/previous-run"] = old
    cm["metadata"]["name"] = cm["metadata"]["name"] + "-rebuilt"
    job["metadata"]["annotations"]["gitops-edge.io/eggo-config"] = cm["metadata"]["name"]
    return [*before, cm, job]


def test_after_a_rebuild_old_jobs_are_records_not_a_half_done_registration(
    site: tuple[Site, RenderContext],
    kube_api: KubeAPIServer,
    karmada_api: KubeAPIServer,
    tmp_path: Path,
) -> None:
    from gitops_edge.federation.karmada import reconcile_unregistration

    gd, ctx = site
    central = KubeClient(kube_api.api_client(), retry=FAST)
    config = yaml.safe_load(karmada_api.kubeconfig(tmp_path / "k.config").read_text())
    karmada = client_from_kubeconfig(config, retry=FAST)
    first = _eggo(gd, ctx, "Complete")
    # a registration that ran against the first cluster, and its Cluster since unregistered
    old = registration_job(gd, ctx, after_run=first[1]["metadata"]["name"])
    old["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    kube_api.store.put(old)
    state = registration_state(gd, ctx, eggo_objects=first, cluster=None, job=old)
    assert state.state == "half-done"  # for the cluster it ran against
    rebuilt = _rebuilt(gd, ctx, first)
    dry = reconcile_registration(
        central, karmada, config, gd, ctx, eggo_objects=rebuilt, now=NOW, dry_run=True
    )
    assert dry.state == "to register"  # the new cluster is not half-done
    assert dry.detail != f"would create Job {old['metadata']['name']}"

    # unregistration: a succeeded unregister Job of the old cluster does not hold the new one
    karmada_api.store.put(
        {
            "apiVersion": "cluster.karmada.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "guangdong"},
            "spec": {"syncMode": "Pull"},
        }
    )
    images = "r/karmadactl:v1.18.2"
    once = reconcile_unregistration(central, karmada, "guangdong", "edge-guangdong", first, images)
    assert once.state == "unregistering"
    (done,) = [
        j
        for j in kube_api.store.list("batch/v1", "Job", "edge-guangdong")
        if j["metadata"]["name"].startswith("karmada-unregister-")
    ]
    done["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    kube_api.store.put(done)
    again = reconcile_unregistration(
        central, karmada, "guangdong", "edge-guangdong", rebuilt, images
    )
    assert again.state == "unregistering"
    names = {
        j["metadata"]["name"]
        for j in kube_api.store.list("batch/v1", "Job", "edge-guangdong")
        if j["metadata"]["name"].startswith("karmada-unregister-")
    }
    assert len(names) == 2  # a new Job for the new cluster, not the old one's record
