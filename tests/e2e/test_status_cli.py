"""``gitops-edge status`` as an operator runs it: a subprocess, a git repo, a live API server.

The fleet: ``gd`` is fine (edge online, eggo deploy succeeded, Application synced and
healthy, everything on the edge node), ``hn``'s edge node stopped renewing its lease an
hour ago, ``js``'s eggo join failed, ``zj``'s spec does not validate, and ``old`` has
live objects but no directory any more.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.builders import git_init_commit, province, write_site
from tests.e2e.cli import run_cli
from tests.kubeapi import KubeAPIServer
from tests.live.objects import (
    application,
    config_map,
    eggo_job,
    lease,
    namespace,
    node,
    object_sync,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]


def _seed(api: KubeAPIServer, now: datetime) -> None:
    """Every timestamp from one ``now``: the CLI reads the real clock, so the seed must too."""
    put = api.store.put
    put(node("gd-edge-01", site="gd", ready_since=now - timedelta(days=2), now=now))
    put(lease("gd-edge-01", now))
    put(node("hn-edge-01", site="hn", arch="amd64", ready_since=now - timedelta(days=3), now=now))
    put(lease("hn-edge-01", now - timedelta(hours=1)))
    put(node("js-edge-01", site="js", ready_since=now - timedelta(days=3), now=now))
    put(lease("js-edge-01", now))
    put(node("master-1", edge=False, ready_since=now - timedelta(days=3), now=now))
    for site in ("gd", "hn", "js", "old"):
        put(namespace(site))
    gd = [
        put(config_map("eggo-deploy-1", "gd")),
        put(eggo_job("eggo-deploy-1", "gd", created=now - timedelta(hours=3))),
        put(application("base", "gd")),
    ]
    for obj in gd:
        put(object_sync("gd-edge-01", obj, obj["metadata"]["resourceVersion"]))
    put(config_map("eggo-deploy-1", "hn"))
    put(eggo_job("eggo-deploy-1", "hn", outcome="pending", created=now - timedelta(minutes=5)))
    put(eggo_job("eggo-deploy-1", "js", created=now - timedelta(days=1)))
    # The join followed the deploy (the run chain), though its clock reads earlier: the
    # chain, not timestamps, says which run is the latest.
    join = eggo_job(
        "eggo-join-2", "js", outcome="failed", operation="join", created=now - timedelta(days=2)
    )
    join["metadata"]["annotations"]["gitops-edge.io/previous-run"] = "eggo-deploy-1"
    put(join)
    put(application("base", "js", sync="OutOfSync", health="Progressing"))
    put(application("legacy", "old"))


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "ops"
    write_site(root, "gd", province("gd", edge={"arch": "arm64"}, rollout={"wave": 1}))
    write_site(root, "hn", province("hn", rollout={"wave": 2}))
    write_site(root, "js", province("js"))
    write_site(root, "zj", province("zj", rollout={"wave": "soon"}))
    return root, git_init_commit(root)


@pytest.fixture
def fleet(kube_api: KubeAPIServer, kube_api_kubeconfig: Path) -> Path:
    _seed(kube_api, datetime.now(UTC))
    return kube_api_kubeconfig


def _line(out: str, site: str) -> list[str]:
    row = next(line for line in out.splitlines() if line.split(" ")[0] == site)
    return row.split()


def test_text_table_and_details_tell_the_truth(repo: tuple[Path, str], fleet: Path) -> None:
    root, sha = repo
    res = run_cli("status", root, "--kubeconfig", fleet)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    head = out.splitlines()[0]
    assert head.startswith(f"revision {sha[:12]}, observed ")
    assert "5 site(s): 1 invalid, 1 removed, 1 failed, 1 deferred, 1 ok" in head
    assert out.splitlines()[1].split() == [
        "SITE", "STATE", "WAVE", "EDGE", "ARCH", "EGGO", "APPS", "DELIVERED",
    ]  # fmt: skip
    gd = _line(out, "gd")
    assert gd[:4] == ["gd", "ok", "1", "online"]
    assert gd[-8:] == ["arm64", "deploy", "succeeded", "1/1", "synced,", "1/1", "healthy", "3/3"]
    hn = _line(out, "hn")
    assert hn[:6] == ["hn", "deferred", "2", "offline", "since", hn[5]]
    assert hn[5].endswith("Z") and hn[6] == "amd64" and hn[-1] == "0/2"
    assert _line(out, "js")[:2] == ["js", "failed"] and "join failed" in " ".join(_line(out, "js"))
    assert _line(out, "zj")[:3] == ["zj", "invalid", "-"]
    assert _line(out, "old")[:2] == ["old", "removed"]
    # details only for the sites that are not fine
    assert "\ngd (ok):" not in out
    assert "hn (deferred):\n  - edge node hn-edge-01 offline since " in out
    assert "2 object(s) deferred" in out
    assert (
        "  - eggo join Job edge-js/eggo-join-2 failed: BackoffLimitExceeded: "
        "Job has reached the specified backoff limit" in out
    )
    assert "  - application base: sync OutOfSync, health Progressing" in out
    assert "zj (invalid):\n  - spec invalid (1 problem(s); run gitops-edge validate)" in out
    assert "old (removed):\n  - no directory for site old in the repo: 2 live object(s)" in out
    assert "Traceback" not in res.stderr


def test_json_has_the_documented_shape_and_facts(repo: tuple[Path, str], fleet: Path) -> None:
    root, sha = repo
    res = run_cli("status", root, "--kubeconfig", fleet, "--output", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["revision"] == sha
    assert data["summary"] == {
        "sites": 5, "invalid": 1, "removed": 1, "failed": 1, "deferred": 1,
        "progressing": 0, "pending": 0, "ok": 1,
    }  # fmt: skip
    sites: dict[str, Any] = {s["site"]: s for s in data["sites"]}
    assert list(sites) == ["gd", "hn", "js", "old", "zj"]
    gd = sites["gd"]
    assert gd["edge"]["nodes"][0] | {"since": None} == {
        "name": "gd-edge-01", "state": "online", "since": None, "arch": "arm64",
        "arch_ok": True, "reason": "Ready and lease renewed",
    }  # fmt: skip
    assert gd["eggo"]["outcome"] == "succeeded" and gd["eggo"]["operation"] == "deploy"
    assert gd["applications"] == [{"name": "base", "sync": "Synced", "health": "Healthy"}]
    assert gd["delivered"] == {"delivered": 3, "total": 3}
    assert all(
        o["delivery"] == {"gd-edge-01": "delivered"} for o in gd["objects"] if o["namespace"]
    )
    assert {o["kind"] for o in gd["objects"]} == {"Namespace", "ConfigMap", "Job", "Application"}
    assert all(o["revision"] and o["spec_hash"] for o in gd["objects"])
    hn = sites["hn"]
    assert (hn["state"], hn["edge"]["nodes"][0]["state"]) == ("deferred", "offline")
    since = datetime.fromisoformat(hn["edge"]["nodes"][0]["since"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=62)
    js = sites["js"]
    assert js["eggo"]["job"] == "eggo-join-2" and js["eggo"]["outcome"] == "failed"
    assert js["eggo"]["reason"].startswith("BackoffLimitExceeded")
    assert (sites["zj"]["valid"], sites["zj"]["problems"]) == (False, 1)
    assert (sites["old"]["in_repo"], sites["old"]["state"]) == (False, "removed")


def test_forbidden_is_one_line_on_stderr_and_exit_1(
    repo: tuple[Path, str], kube_api: KubeAPIServer, fleet: Path
) -> None:
    kube_api.faults.forbidden("/leases", user="system:serviceaccount:ops:gitops-edge")
    res = run_cli("status", repo[0], "--kubeconfig", fleet)
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr.startswith(
        "gitops-edge status: RBAC forbids list on leases.coordination.k8s.io "
        "in namespace kube-node-lease (403 Forbidden)"
    )
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1


def test_bad_credentials_and_unreachable_api(
    repo: tuple[Path, str], kube_api: KubeAPIServer, tmp_path: Path
) -> None:
    kube_api.token = "the-right-one"
    wrong = kube_api.kubeconfig(tmp_path / "wrong", token="expired")
    res = run_cli("status", repo[0], "--kubeconfig", wrong)
    assert res.returncode == 1
    assert "rejected the credentials (401 Unauthorized)" in res.stderr
    with KubeAPIServer() as gone:
        dead = gone.kubeconfig(tmp_path / "dead")
    res = run_cli("status", repo[0], "--kubeconfig", dead, "-o", "json")
    assert res.returncode == 1 and res.stdout == ""
    assert "cannot reach the Kubernetes API at http://127.0.0.1:" in res.stderr
    assert "connection refused" in res.stderr and "Traceback" not in res.stderr


def test_usage_errors_exit_2(tmp_path: Path, fleet: Path) -> None:
    assert run_cli("status", tmp_path / "missing", "--kubeconfig", fleet).returncode == 2
    assert run_cli("status", tmp_path, "--kubeconfig", fleet).returncode == 2  # no provinces/
    (tmp_path / "provinces").mkdir()
    res = run_cli("status", tmp_path, "--kubeconfig", tmp_path / "no-such-kubeconfig")
    assert res.returncode == 1
    assert "kubeconfig" in res.stderr and "does not exist" in res.stderr
