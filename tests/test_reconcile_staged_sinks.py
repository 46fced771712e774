"""reconcile() stages the cluster and a branch chunk by chunk, with the plain path's outcome.

The reference is the plain path (``load_repo`` + ``make_plan`` + ``sink.emit``) into
a second API test server (or a second bare remote): what lands in the cluster or on
the branch, and the run's plan and report, must be the same when the run is cut into
chunks of two sites, including which wave goes out (waves are gated over the whole
run, not per chunk) and a refused run writing nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.emit.dirsink import DirSink
from gitops_edge.emit.gitsink import GitSink
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.plan.report import to_json
from gitops_edge.reconcile import reconcile
from gitops_edge.sinks import KubeLive
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import git, plan_against, province, write_settings, write_site
from tests.kubeapi import KubeAPIServer
from tests.plan.fleet import finish_jobs, heal_apps
from tests.reliability.kubefleet import managed, seed_edges

pytestmark = pytest.mark.kubeapi

WAVES = {"beijing": 0, "tianjin": 0, "hebei": 1, "shanxi": 1, "henan": 2, "hubei": 2}
VOLATILE = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation")


def write_repo(root: Path, *, max_deletions: int = 100) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_settings(root, {"prune": {"maxDeletions": max_deletions}})
    for site, wave in WAVES.items():
        write_site(root, site, province(site, rollout={"wave": wave}))
    return root


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[KubeAPIServer, KubeAPIServer]]:
    with KubeAPIServer() as chunked, KubeAPIServer() as plain:
        for api in (chunked, plain):
            seed_edges(api, list(WAVES))
        yield chunked, plain


def client(api: KubeAPIServer, path: Path) -> KubeClient:
    return connect(kubeconfig=api.kubeconfig(path), retry=RetryPolicy(attempts=3, base=0.01))


def held(api: KubeAPIServer) -> dict[Any, dict[str, Any]]:
    """The managed objects, without what the server itself stamps on them."""
    out = {}
    for key, obj in managed(api).items():
        md = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE}
        out[key] = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": md}
    return out


def plain_kube(repo: Path, kube: KubeClient, revision: str) -> dict[str, Any]:
    sink = KubeLive(kube)
    plan = plan_against(load_repo(repo), sink.read_live(), revision=revision)
    result = sink.emit(plan)
    assert result.ok or plan.refused, result.errors()
    return to_json(plan)


def finish(api: KubeAPIServer, waves: set[int]) -> None:
    """The Job controller and Argo CD, for the sites of ``waves``."""
    for site, wave in WAVES.items():
        if wave in waves:
            finish_jobs(api, f"edge-{site}")
            heal_apps(api, f"edge-{site}")


def test_kube_staged_in_chunks_applies_what_the_plain_path_applies_wave_by_wave(
    tmp_path: Path, servers: tuple[KubeAPIServer, KubeAPIServer]
) -> None:
    chunked, plain = servers
    repo = write_repo(tmp_path / "repo")
    kube_c, kube_p = client(chunked, tmp_path / "c.conf"), client(plain, tmp_path / "p.conf")
    for rnd, done in enumerate(({0}, {0, 1}, {0, 1, 2})):
        summary, result = reconcile(repo, KubeLive(kube_c), revision="r1", chunk=2, jobs=2)
        reference = plain_kube(repo, kube_p, "r1")
        assert result.ok, result.errors()
        assert summary.staged and summary.chunks == 3 and summary.jobs == 1
        assert to_json(summary.plan) == reference
        assert held(chunked) == held(plain)
        gates = {s.site: s.gate for s in summary.plan.sites}
        # a wave waits for the one before it, across chunks: nothing of it was applied
        assert {g for s, g in gates.items() if WAVES[s] > rnd} <= {"waiting"}
        assert all(g == "ready" for s, g in gates.items() if WAVES[s] <= rnd)
        assert sorted(result.sites) == sorted(s for s in WAVES if WAVES[s] == rnd)
        assert summary.plan.current_wave == (rnd if rnd < 2 else 2)
        finish(chunked, done)
        finish(plain, done)
    namespaces = {key[3] for key in held(chunked) if key[1] == "Namespace"}
    assert namespaces == {f"edge-{s}" for s in WAVES}


def test_a_refused_kube_run_sends_nothing(
    tmp_path: Path, servers: tuple[KubeAPIServer, KubeAPIServer]
) -> None:
    chunked, _ = servers
    repo = write_repo(tmp_path / "repo", max_deletions=1)
    kube = client(chunked, tmp_path / "c.conf")
    reconcile(repo, KubeLive(kube), revision="r1", chunk=2)
    finish(chunked, {0, 1, 2})
    for _ in range(2):
        reconcile(repo, KubeLive(kube), revision="r1", chunk=2)
        finish(chunked, {0, 1, 2})
    for site in WAVES:  # every site loses its Application: 6 deletions, over 1
        path = repo / "provinces" / site / "cluster.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["applications"] = []
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = held(chunked)
    writes = chunked.requests.count(method="PATCH") + chunked.requests.count(method="DELETE")
    summary, result = reconcile(repo, KubeLive(kube), revision="r2", chunk=2)
    assert "prune.maxDeletions=1" in result.refused and summary.plan.refused == result.refused
    assert (
        chunked.requests.count(method="PATCH") + chunked.requests.count(method="DELETE") == writes
    )
    assert held(chunked) == before


def test_a_lost_lease_before_commit_writes_nothing(
    tmp_path: Path, servers: tuple[KubeAPIServer, KubeAPIServer]
) -> None:
    chunked, _ = servers
    repo = write_repo(tmp_path / "repo")

    class Lost(Exception):
        pass

    def lost() -> None:
        raise Lost

    with pytest.raises(Lost):
        reconcile(
            repo,
            KubeLive(client(chunked, tmp_path / "c.conf")),
            revision="r1",
            chunk=2,
            before_commit=lost,
        )
    assert chunked.requests.count(method="PATCH") == 0 and not managed(chunked)


def bare_remote(path: Path) -> str:
    path.mkdir(parents=True)
    git(path, "init", "-q", "--bare", "-b", "main")
    return str(path)


def branch_files(remote: str, tmp: Path) -> dict[str, bytes]:
    clone = tmp / "look"
    tmp.mkdir()
    git(tmp, "clone", "-q", "-b", "rendered", remote, str(clone))
    files = {
        p.relative_to(clone).as_posix(): p.read_bytes()
        for p in sorted(clone.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(clone).parts
    }
    message = git(clone, "log", "-1", "--format=%B")
    count = git(clone, "rev-list", "--count", "HEAD")
    files["<commit>"] = f"{count}\n{message}".encode()
    return files


def test_git_staged_in_chunks_makes_the_plain_paths_one_commit(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo")
    remotes = [bare_remote(tmp_path / "chunked.git"), bare_remote(tmp_path / "plain.git")]
    sinks = [
        GitSink(r, "rendered", cache_dir=tmp_path / f"cache{i}", work_tree=DirSink)
        for i, r in enumerate(remotes)
    ]
    for rnd in range(2):
        if rnd:  # one site changes, one goes
            (repo / "provinces" / "henan" / "cluster.yaml").unlink()
            path = repo / "provinces" / "hebei" / "cluster.yaml"
            doc = yaml.safe_load(path.read_text())
            doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
        summary, result = reconcile(repo, sinks[0], revision=f"r{rnd}", chunk=2, jobs=2)
        assert result.ok, result.errors()
        assert summary.staged and summary.jobs == 1
        plan = plan_against(load_repo(repo), sinks[1].read_live(), revision=f"r{rnd}")
        reference = sinks[1].emit(plan)
        assert reference.ok
        assert to_json(summary.plan) == to_json(plan)
        assert result.note.startswith("committed ") and reference.note.startswith("committed ")
        assert branch_files(remotes[0], tmp_path / f"a{rnd}") == branch_files(
            remotes[1], tmp_path / f"b{rnd}"
        )
    # nothing new: no commit, like the plain path
    _, result = reconcile(repo, sinks[0], revision="r1", chunk=2)
    assert result.written == 0 and "nothing to commit" in result.note
