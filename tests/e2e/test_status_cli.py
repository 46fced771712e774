"""``gitops-edge status`` as an operator runs it: a subprocess, a git repo, a live API server.

Every live object is built relative to one ``now`` (the moment the fleet is seeded),
never the builders' fixed clock: the CLI judges leases against the wall clock, so the
seed must too. The fleet: ``gd`` is fine (what its commit renders is live, eggo deploy
succeeded, Application synced and healthy, everything on the edge node, so ``plan`` has
nothing to do for it either), ``hn``'s edge node stopped renewing its lease an
hour ago, ``js``'s eggo join failed, ``zj``'s spec does not validate, and ``old`` has
live objects but no directory any more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.render.site import render_repo
from gitops_edge.specs.repo import load_repo
from tests.builders import git, git_init_commit, province, write_site
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
    ts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]


def _applied(
    root: Path,
    site: str,
    created: datetime,
    *,
    sync: str = "Synced",
    health: str = "Healthy",
) -> list[dict[str, Any]]:
    """What ``apply`` would have written for ``site`` at the repo's commit, with the status
    its controllers write since: the eggo deploy Job succeeded (created at ``created``),
    the Applications ``sync`` and ``health``."""
    revision = git(root, "rev-parse", "HEAD").strip()
    rendered = render_repo(load_repo(root), revision=revision, sites={site}).objects[site]
    out = []
    for obj in rendered:
        obj = json.loads(json.dumps(obj))
        if obj["kind"] == "Job":
            obj["metadata"]["creationTimestamp"] = ts(created)
            obj["status"] = eggo_job("x", site, created=created)["status"]
        elif obj["kind"] == "Application":
            obj["status"] = {"sync": {"status": sync}, "health": {"status": health}}
        out.append(obj)
    return out


def _seed(api: KubeAPIServer, now: datetime, root: Path) -> None:
    """Every timestamp from one ``now``: the CLI reads the real clock, so the seed must too."""
    put = api.store.put
    put(node("gd-edge-01", site="gd", ready_since=now - timedelta(days=2), now=now))
    put(lease("gd-edge-01", now))
    put(node("hn-edge-01", site="hn", arch="amd64", ready_since=now - timedelta(days=3), now=now))
    put(lease("hn-edge-01", now - timedelta(hours=1)))
    put(node("js-edge-01", site="js", ready_since=now - timedelta(days=3), now=now))
    put(lease("js-edge-01", now))
    put(node("master-1", edge=False, ready_since=now - timedelta(days=3), now=now))
    for site in ("hn", "js", "old"):
        put(namespace(site))
    for obj in map(put, _applied(root, "gd", now - timedelta(hours=3))):
        if obj["metadata"].get("namespace"):
            put(object_sync("gd-edge-01", obj, obj["metadata"]["resourceVersion"]))
    put(config_map("eggo-deploy-1", "hn"))
    put(eggo_job("eggo-deploy-1", "hn", outcome="pending", created=now - timedelta(minutes=5)))
    js = _applied(root, "js", now - timedelta(days=1), sync="OutOfSync", health="Progressing")
    deploy = next(o for o in js if o["kind"] == "Job")["metadata"]["name"]
    config = next(o for o in js if o["kind"] == "ConfigMap" and o["metadata"]["name"] == deploy)
    for obj in js:
        put(obj)
    # The join followed the deploy (the run chain), though its clock reads earlier: the
    # chain, not timestamps, says which run is the latest.
    join = eggo_job(
        "eggo-join-2", "js", outcome="failed", operation="join", created=now - timedelta(days=2)
    )
    join["metadata"]["annotations"]["gitops-edge.io/previous-run"] = deploy
    put(join)
    put(config_map("eggo-join-2", "js") | {"data": config["data"]})
    put(application("legacy", "old"))


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "ops"
    gd = province("gd", edge={"arch": "arm64"}, rollout={"wave": 1})
    gd["metadata"] = {"labels": {"region": "south"}}
    write_site(root, "gd", gd)
    write_site(root, "hn", province("hn", rollout={"wave": 2}))
    js = province("js", rollout={"wave": 1})
    js["metadata"] = {"labels": {"region": "east"}}
    write_site(root, "js", js)
    write_site(root, "zj", province("zj", rollout={"wave": "soon"}))
    return root, git_init_commit(root)


@pytest.fixture
def now() -> datetime:
    """The one clock of a test: the moment its fleet is seeded."""
    return datetime.now(UTC)


@pytest.fixture
def fleet(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, now: datetime, repo: tuple[Path, str]
) -> Path:
    _seed(kube_api, now, repo[0])
    return kube_api_kubeconfig


def _line(out: str, site: str) -> list[str]:
    row = next(line for line in out.splitlines() if line.split(" ")[0] == site)
    return row.split()


def test_text_table_and_details_tell_the_truth(
    repo: tuple[Path, str], fleet: Path, now: datetime
) -> None:
    root, sha = repo
    res = run_cli("status", root, "--kubeconfig", fleet)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    head = out.splitlines()[0]
    assert head.startswith(f"revision {sha[:12]}, observed ")
    assert "5 site(s): 1 invalid, 1 removed, 1 failed, 1 deferred, 1 ok" in head
    assert out.splitlines()[1] == "plan: 1 deferred, 1 failed, 1 invalid, 1 removed, 1 unchanged"
    assert out.splitlines()[2].split() == [
        "SITE", "STATE", "WAVE", "EDGE", "ARCH", "EGGO", "APPS", "DELIVERED", "REVISION",
        "LAST-SYNC", "MESSAGE",
    ]  # fmt: skip
    gd = _line(out, "gd")
    assert gd[:4] == ["gd", "ok", "1", "online"]
    assert gd[-11:-3] == [
        "arm64", "deploy", "succeeded", "1/1", "synced,", "1/1", "healthy", "3/3",
    ]  # fmt: skip
    # revision of the live objects (the commit), when the eggo run completed (created + 9
    # min), no message
    assert gd[-3:] == [sha[:12], ts(now - timedelta(hours=3) + timedelta(minutes=9)), "-"]
    hn = _line(out, "hn")
    assert hn[:6] == ["hn", "deferred", "2", "offline", "since", hn[5]]
    assert hn[5].endswith("Z") and hn[6] == "amd64"
    assert " healthy 0/2 0123456789ab - edge node hn-edge-01 offline since " in " ".join(hn)
    assert _line(out, "js")[:2] == ["js", "failed"] and "join failed" in " ".join(_line(out, "js"))
    assert _line(out, "zj")[:3] == ["zj", "invalid", "-"]
    assert _line(out, "old")[:2] == ["old", "removed"]
    # details only for the sites that are not fine
    assert "\ngd (ok):" not in out
    assert "hn (deferred):\n  - edge node hn-edge-01 offline since " in out
    assert "; 2 change(s) deferred, 2 object(s) not yet delivered" in out
    assert (
        "  - eggo join Job edge-js/eggo-join-2 failed: BackoffLimitExceeded: "
        "Job has reached the specified backoff limit" in out
    )
    assert "  - application base: sync OutOfSync, health Progressing" in out
    assert "zj (invalid):\n  - spec invalid (1 problem(s); run gitops-edge validate)" in out
    assert "old (removed):\n  - no directory for site old in the repo: 2 live object(s)" in out
    assert "Traceback" not in res.stderr


def test_json_has_the_documented_shape_and_facts(
    repo: tuple[Path, str], fleet: Path, now: datetime
) -> None:
    root, sha = repo
    res = run_cli("status", root, "--kubeconfig", fleet, "--output", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["revision"] == sha
    assert data["summary"] == {
        "sites": 5, "invalid": 1, "removed": 1, "failed": 1, "blocked": 0, "deferred": 1,
        "waiting": 0, "progressing": 0, "pending": 0, "ok": 1,
        "plan": {"deferred": 1, "failed": 1, "invalid": 1, "removed": 1, "unchanged": 1},
    }  # fmt: skip
    assert {s: site["gate"] for s, site in ((x["site"], x) for x in data["sites"])} == {
        "gd": "ready", "hn": "deferred", "js": "failed", "old": "removed", "zj": "invalid",
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
    assert since == now.replace(microsecond=0) - timedelta(hours=1)
    assert data["filter"] is None and gd["last_sync"] == ts(now - timedelta(minutes=171))
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


def _sites(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("SITE "))
    table = lines[start + 1 :]
    table = table[: table.index("")] if "" in table else table
    return [line.split()[0] for line in table]


def test_state_and_wave_filters_narrow_the_table_not_the_summary(
    repo: tuple[Path, str], fleet: Path
) -> None:
    root, _ = repo
    res = run_cli("status", root, "--kubeconfig", fleet, "--state", "failed")
    assert res.returncode == 0, res.stderr
    head, _plan, shown = res.stdout.splitlines()[:3]
    assert "5 site(s): 1 invalid, 1 removed, 1 failed, 1 deferred, 1 ok" in head
    assert shown == "showing 1 of 5 site(s): state failed"
    assert _sites(res.stdout) == ["js"]
    assert "js (failed):" in res.stdout and "hn (deferred)" not in res.stdout

    res = run_cli("status", root, "--kubeconfig", fleet, "--wave", "1", "-o", "json")
    data = json.loads(res.stdout)
    assert [s["site"] for s in data["sites"]] == ["gd", "js"]
    assert data["summary"]["sites"] == 5 and data["filter"] == "wave 1"

    res = run_cli("status", root, "--kubeconfig", fleet, "--wave", "1", "--state", "ok,failed",
                  "-l", "region in (south, west)")  # fmt: skip
    assert _sites(res.stdout) == ["gd"]
    res = run_cli(
        "status", root, "--kubeconfig", fleet, "--site", "hn", "--site", "old", "-o", "yaml"
    )
    assert res.returncode == 0 and "- site: hn\n" in res.stdout and "- site: old\n" in res.stdout


def test_bad_filters_are_usage_errors(repo: tuple[Path, str], fleet: Path) -> None:
    root, _ = repo
    res = run_cli("status", root, "--kubeconfig", fleet, "--state", "broken")
    assert res.returncode == 2
    assert "'broken': not a state (one of invalid, removed, failed" in res.stderr
    res = run_cli("status", root, "--kubeconfig", fleet, "-l", "region in south")
    assert res.returncode == 2 and "label selector 'region in south': cannot parse" in res.stderr


def test_watch_rereads_until_interrupted(
    repo: tuple[Path, str], kube_api: KubeAPIServer, fleet: Path
) -> None:
    root, _ = repo
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", "status", str(root), "--kubeconfig", str(fleet),
         "--site", "hn", "--watch", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "1 deferred" in first
        # hn's edge node renews its lease: the next report sees it online
        kube_api.store.put(lease("hn-edge-01", datetime.now(UTC)))
        deadline = time.monotonic() + 30
        seen = first
        while True:  # until a later report no longer counts hn as deferred
            line = proc.stdout.readline()
            seen += line
            if line.startswith("revision ") and "deferred" not in line:
                break
            assert line and time.monotonic() < deadline, seen
        assert seen.count("revision ") >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
    assert rc == 0 and "Traceback" not in (proc.stderr.read() if proc.stderr else "")
