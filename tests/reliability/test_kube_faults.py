"""The Kubernetes API misbehaves during ``apply --emit kube`` and during the daemon's reconcile.

Faults come from the API test server (``kube_api.faults``) and the real ``kubernetes``
client meets them over HTTP. What must hold, checked from the server's side:

* retried with backoff: 500, 429 (after its ``Retry-After``), a dropped connection, an
  answer slower than the client's timeout, a watch cut mid-stream;
* nothing applied twice: an object whose PATCH succeeded is not PATCHed again in the
  same run (only a failed request is retried: server-side apply makes that safe);
* nothing skipped: afterwards the server holds exactly the objects, spec hashes and
  revisions of a clean run into a fresh server;
* a 403 is reported with the RBAC rule to grant, is not retried, and the other sites
  still go out.
"""

from __future__ import annotations

import collections
import itertools
from pathlib import Path

import pytest

from gitops_edge.daemon.queue import ALL
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from tests.daemon.gitremote import OpsRemote, apps
from tests.daemon.harness import InProcess, daemon_options, wait_for
from tests.kubeapi import KubeAPIServer
from tests.reliability.kubefleet import (
    Key,
    applied,
    apply_cli,
    bundle_config_map,
    hashes,
    heartbeat,
    object_path,
    patches,
    requests_to,
    seed_edges,
    write_fleet,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kubeapi]

SITES = ["beijing", "hebei", "henan", "hunan"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[Key, tuple[str, str]]]:
    """The ops repo, and what a clean ``apply --emit kube`` leaves in a fresh server."""
    tmp = tmp_path_factory.mktemp("fleet")
    repo = tmp / "ops"
    write_fleet(repo, SITES)
    with KubeAPIServer() as clean:
        seed_edges(clean, SITES)
        done = apply_cli(repo, clean.kubeconfig(tmp / "kc"))
        assert done.returncode == 0, done.stderr
        reference = hashes(clean)
    assert len(reference) == 5 * len(SITES)  # namespace, eggo ConfigMap + Job, app, agent
    return repo, reference


def only_once(api: KubeAPIServer, reference: dict[Key, tuple[str, str]]) -> None:
    """Every planned object was applied successfully exactly once."""
    ok = applied(api)
    for key in reference:
        assert ok[object_path(api, key)] == 1, (key, requests_to(api, object_path(api, key)))


@pytest.mark.parametrize("fault", ["error500", "throttle429", "drop"])
def test_apply_retries_transient_faults_applies_each_object_once_and_skips_none(
    fault: str,
    fleet: tuple[Path, dict[Key, tuple[str, str]]],
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
) -> None:
    repo, reference = fleet
    seed_edges(kube_api, SITES)
    faults = kube_api.faults
    if fault == "error500":
        rules = [
            faults.error("^/api/v1/nodes$", 500, verb="list", times=2),
            faults.error("/configmaps/", 500, verb="patch", times=3),
            faults.error("/jobs/", 503, verb="patch", times=2),
        ]
    elif fault == "throttle429":
        rules = [
            faults.throttle("^/api/v1/namespaces$", retry_after=1, verb="list", times=1),
            faults.throttle("/applications/", retry_after=1, verb="patch", times=2),
        ]
    else:
        rules = [
            faults.drop_connection("/leases$", verb="list", times=1),
            faults.drop_connection("/namespaces/edge-[a-z]+$", verb="patch", times=3),
            faults.drop_connection("/jobs/", verb="patch", times=2),
        ]

    done = apply_cli(repo, kube_api_kubeconfig)

    assert done.returncode == 0, done.stderr
    assert all(rule.exhausted for rule in rules), rules
    assert hashes(kube_api) == reference  # nothing skipped, nothing extra
    only_once(kube_api, reference)
    failed = [s for statuses in patches(kube_api).values() for s in statuses if not 200 <= s < 300]
    injected = sum(rule.hits for rule in rules if rule.verb == "patch")
    assert len(failed) == injected  # each failed PATCH retried once per failure, no more
    if fault == "throttle429":
        for path, statuses in patches(kube_api).items():
            recs = requests_to(kube_api, path)
            for before, after in itertools.pairwise(recs):
                if before.status == 429:
                    assert after.at - before.at >= 0.95, (path, statuses)  # Retry-After: 1


def test_apply_reports_403_with_the_rbac_rule_and_the_other_sites_still_go_out(
    fleet: tuple[Path, dict[Key, tuple[str, str]]],
    kube_api: KubeAPIServer,
    kube_api_kubeconfig: Path,
) -> None:
    repo, reference = fleet
    seed_edges(kube_api, SITES)
    rule = kube_api.faults.forbidden(
        "/namespaces/edge-hebei(/|$)",
        verb="patch",
        user="system:serviceaccount:gitops-edge:gitops-edge",
    )

    done = apply_cli(repo, kube_api_kubeconfig)

    assert done.returncode == 1
    assert "RBAC forbids patch on namespaces" in done.stderr
    assert "grant verb 'patch' on resource 'configmaps' in API group \"\" (core)" in done.stderr
    assert "system:serviceaccount:gitops-edge:gitops-edge" in done.stderr
    live = hashes(kube_api)
    others = {k: v for k, v in reference.items() if "hebei" not in k[2] + k[3]}
    assert live == others  # every other site complete, hebei's objects absent
    hebei = [k for k in reference if k not in others]
    assert len(hebei) == 5 and rule.hits == len(hebei)
    for key in hebei:  # a verdict: asked once, not retried
        assert patches(kube_api)[object_path(kube_api, key)] == [403]
    only_once(kube_api, others)


@pytest.mark.slow
def test_daemon_reconciles_through_api_faults_and_a_403_heals_by_itself(
    kube_api: KubeAPIServer, kube_api_kubeconfig: Path, tmp_path: Path
) -> None:
    remote = OpsRemote(tmp_path, sites=tuple(SITES))
    remote.write("edge-bundle/agent.yaml", bundle_config_map("edge-agent"))
    remote.commit("an agent on every edge node")
    seed_edges(kube_api, SITES, offline=("hunan",))
    faults = kube_api.faults
    # informers: their first lists fail, the Lease watch is cut mid-stream twice
    startup = [
        faults.error("^/api/v1/nodes$", 500, verb="list", times=2),
        faults.drop_connection("/leases$", verb="list", times=1),
    ]
    cut = faults.cut_watch("/leases$", after_events=1, times=2)
    # applies: every kind of transient failure, each on its own kind of object
    writes = [
        faults.error("/configmaps/", 500, verb="patch", times=2),
        faults.drop_connection("/applications/", verb="patch", times=2),
        faults.throttle("^/api/v1/namespaces/edge-[a-z]+$", retry_after=1, verb="patch", times=1),
        faults.latency("/jobs/", 2.0, verb="patch", times=2),  # beyond the 1 s client timeout
    ]
    kube = connect(
        kubeconfig=kube_api_kubeconfig,
        retry=RetryPolicy(attempts=6, base=0.05, cap=0.5),
        timeout=1.0,
    )
    with InProcess(daemon_options(remote.url, tmp_path, emit="kube"), kube=kube) as d:
        first = d.wait_record(lambda r: r.batch == (ALL,), timeout=60)
        assert not first.failed and first.deferred == ("hunan",)
        assert set(first.emitted) == {"beijing", "hebei", "henan"}
        assert all(rule.exhausted for rule in startup + writes), startup + writes
        # the Lease informer still sees heartbeats after its watch was cut twice
        # mid-stream: hunan's node comes back and its deferred site goes out
        live_cache = d.runner._live
        assert live_cache is not None
        leases = live_cache.leases

        def cut_twice() -> bool:
            heartbeat(kube_api, "beijing", online=True)  # an event, then the cut
            return leases.stream_breaks >= 2

        wait_for(cut_twice, timeout=30, what="the Lease watch to be cut twice")
        assert cut.exhausted and leases.lists == 1  # re-watched from its version, no relist
        n = len(d.records)
        heartbeat(kube_api, "hunan", online=True)
        back = d.wait_record(lambda r: "hunan" in r.emitted, after=n, timeout=30)
        assert back.batch == ("hunan",) and not back.failed
        d.settle()
        live = hashes(kube_api)
        assert len(live) == 5 * len(SITES)
        jobs = [k for k in live if k[1] == "Job"]
        late = writes[-1]
        # a PATCH the client gave up on (timeout) is still served by the server later:
        # that retry of a failed request is the only second apply there is
        wait_for(
            lambda: (
                sum(applied(kube_api)[object_path(kube_api, k)] for k in jobs)
                == len(jobs) + late.hits
            ),
            what="the timed-out PATCHes to be served late",
        )
        ok = applied(kube_api)
        for key in live:
            if key[1] != "Job":
                assert ok[object_path(kube_api, key)] == 1, requests_to(
                    kube_api, object_path(kube_api, key)
                )

        # a 403 on one site: reported with the RBAC rule, the other site goes out
        mark = len(kube_api.requests)
        forbidden = faults.forbidden("/namespaces/edge-hebei(/|$)", verb="patch")
        for site in ("beijing", "hebei"):
            remote.write_site(site, applications=apps("release-2"))
        sha = remote.commit("beijing and hebei to release-2")
        n = len(d.records)
        d.poll()
        rec = d.wait_record(lambda r: r.revision == sha and bool(r.failed), after=n, timeout=30)
        assert rec.failed == ("hebei",) and "beijing" in rec.emitted
        status = d.runner.controller.status("hebei")
        assert status is not None and "RBAC forbids patch on applications" in status.error
        # RBAC fixed: the failed site is retried by the queue's backoff, nobody asks
        faults.remove(forbidden)
        healed = d.wait_record(
            lambda r: r.revision == sha and "hebei" in r.emitted and not r.failed,
            after=n,
            timeout=30,
        )
        assert healed.batch == ("hebei",)
        # the client never retried the 403: one request per reconcile that met it
        tries = [r for r in d.records[n:] if "hebei" in r.failed]
        assert forbidden.hits == len(tries) >= 1
        d.settle()
        changed = collections.Counter(
            path for path, statuses in patches(kube_api, since=mark).items() for _ in statuses
        )
        assert set(changed) == {
            object_path(kube_api, ("argoproj.io/v1alpha1", "Application", f"edge-{s}", "base"))
            for s in ("beijing", "hebei")
        }
        assert applied(kube_api, since=mark) == {path: 1 for path in changed}
