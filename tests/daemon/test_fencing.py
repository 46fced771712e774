"""The kube sink's fences, object by object, against the API test server.

* the Lease check runs before *each* object: the moment it says no, the batch stops;
* an object already stamped with a newer commit is left alone (the newer commit wins
  whoever writes last), decided by git ancestry in a real clone;
* what the sink wrote is laid over a cache that has not caught up, so the next plan
  neither re-patches it nor sees its wave as unapplied.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitops_edge.daemon.source import GitSource
from gitops_edge.emit.kubesink import Fenced, KubeSink, OwnWrites
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.snapshot import read_live
from gitops_edge.specs.repo import load_repo
from gitops_edge.testing import plan_against
from tests.builders import province, write_site
from tests.daemon.gitremote import OpsRemote, edge_config_map
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node

pytestmark = pytest.mark.kubeapi

REVISION = "gitops-edge.io/source-revision"


@pytest.fixture
def kube(kube_api: KubeAPIServer, kube_api_kubeconfig: Path) -> KubeClient:
    return connect(kubeconfig=kube_api_kubeconfig, retry=RetryPolicy(attempts=3, base=0.01))


def writes(kube_api: KubeAPIServer) -> int:
    return kube_api.requests.count(method="PATCH") + kube_api.requests.count(method="DELETE")


def test_a_lost_lease_stops_the_batch_at_the_next_object(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    for site in ("gd", "gx"):
        write_site(tmp_path, site, province(site))
        add_edge_node(kube_api, f"{site}-edge-01", site)
    plan = plan_against(load_repo(tmp_path), read_live(kube), revision="c0ffee")
    total = sum(len(s.pending()) for s in plan.emitting())
    # the Lease is lost once three objects are written
    sink = KubeSink(kube, may_write=lambda: kube_api.requests.count(method="PATCH") < 3)
    with pytest.raises(Fenced, match="lost the Lease"):
        sink.emit(plan)
    assert writes(kube_api) == 3 < total


def test_an_object_from_a_newer_commit_is_left_alone(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    remote = OpsRemote(tmp_path, sites=("gd",))
    remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "1"))
    old = remote.commit("v1")
    remote.write("edge-bundle/agent.yaml", edge_config_map("edge-agent", "2"))
    new = remote.commit("v2")
    add_edge_node(kube_api, "gd-edge-01", "gd")
    source = GitSource(remote.url, cache_dir=tmp_path / "cache")
    source.prepare()
    assert source.supersedes(new, old) and not source.supersedes(old, new)
    assert not source.supersedes(old, old) and not source.supersedes("unversioned", old)

    remote.reset_to(new)
    newer = plan_against(load_repo(remote.work), read_live(kube), revision=new)
    assert KubeSink(kube).emit(newer).ok
    remote.reset_to(old)
    stale = plan_against(load_repo(remote.work), read_live(kube), revision=old)
    before = writes(kube_api)
    result = KubeSink(kube, newer=source.supersedes).emit(stale)
    assert result.ok and result.superseded >= 1 and result.written == 0
    assert writes(kube_api) == before
    cm = kube_api.store.get("v1", "ConfigMap", "edge-agent", "edge-gd")
    assert cm is not None and cm["metadata"]["annotations"][REVISION] == new
    assert cm["data"] == {"v": "2"}


def test_an_unknown_commit_counts_as_newer_until_a_poll_has_been_made(tmp_path: Path) -> None:
    remote = OpsRemote(tmp_path, sites=("gd",))
    source = GitSource(remote.url, cache_dir=tmp_path / "cache")
    source.prepare()
    served = remote.head()
    stranger = "1" * 40  # another replica's commit, not fetched here
    assert source.supersedes(stranger, served)
    source.poll(force=True)
    assert not source.supersedes(stranger, served)  # still unknown: not on the branch


def test_own_writes_stand_in_until_the_cache_catches_up(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    write_site(tmp_path, "gd", province("gd"))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    stale = read_live(kube)  # a cache that never saw the writes
    own = OwnWrites()
    sink = KubeSink(kube, own_writes=own)
    plan = plan_against(load_repo(tmp_path), stale, revision="c0ffee")
    assert sink.emit(plan).written > 0
    before = writes(kube_api)
    # planned again on the stale cache, with our writes laid over it: nothing to patch
    overlaid = plan_against(
        load_repo(tmp_path),
        type(stale)(stale.observed_at, stale.nodes, own.overlay(stale.objects), stale.syncs),
        revision="c0ffee",
    )
    assert not any(c.action in ("create", "update") for s in overlaid.sites for c in s.pending())
    assert sink.emit(overlaid).written == 0 and writes(kube_api) == before
    # once the cache shows them, the entries go
    fresh = read_live(kube)
    own.overlay(fresh.objects)
    assert len(own) == 0


def test_own_writes_past_their_ttl_are_swept_as_writes_go_on() -> None:
    """A full resync writes every object: what the cache has had time to show is not kept."""
    now = [0.0]
    own = OwnWrites(ttl=10.0, clock=lambda: now[0])

    def obj(i: int) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"cm-{i}",
                "namespace": "edge-gd",
                "labels": {"gitops-edge.io/site": "gd"},
                "resourceVersion": str(i + 1),
            },
            "data": {"v": "x" * 100},
        }

    for i in range(OwnWrites.PRUNE_EVERY - 1):
        own.wrote(obj(i))
    now[0] = 11.0
    assert len(own) == OwnWrites.PRUNE_EVERY - 1  # nobody asked yet
    own.wrote(obj(10_000))  # the sweep: only this one is young enough
    assert len(own) == 1
    laid = own.overlay({"gd": []})
    assert laid == {"gd": [obj(10_000)]}  # the object itself, decoded


def test_own_writes_go_as_soon_as_the_informers_show_them(
    tmp_path: Path, kube: KubeClient, kube_api: KubeAPIServer
) -> None:
    """The live cache's watch events drop the entries they catch up with: a full resync
    does not keep a second copy of everything it wrote until the next plan."""
    from gitops_edge.live.cache import LiveCache

    write_site(tmp_path, "gd", province("gd"))
    add_edge_node(kube_api, "gd-edge-01", "gd")
    own = OwnWrites(ttl=3600.0)
    cache = LiveCache(kube, on_managed=own.seen, with_syncs=False)
    cache.start()
    try:
        assert cache.wait_synced(10)
        stale = cache.state()
        sink = KubeSink(kube, own_writes=own)
        assert sink.emit(plan_against(load_repo(tmp_path), stale, revision="c0ffee")).written > 0
        for _ in range(200):
            if len(own) == 0:
                break
            time.sleep(0.05)
        assert len(own) == 0, "every write was seen by a watch event"
        assert own.overlay(cache.state().objects) == cache.state().objects
    finally:
        cache.stop()
