"""A small fleet in a git repo plus its edge nodes in the API test server, and what to count.

The reliability tests compare what the API server holds after a run with faults (or a
run killed half-way and restarted) against a clean run into a fresh server, and count
server-side apply PATCHes per object from the server's request log.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.sinks import RECORD
from tests.builders import git_init_commit, province, write_site
from tests.daemon.harness import ROOT
from tests.kubeapi import KubeAPIServer
from tests.kubeapi.requestlog import RequestRecord
from tests.live.objects import lease, micro, node

MANAGED_BY = "app.kubernetes.io/managed-by"
SPEC_HASH = "gitops-edge.io/spec-hash"
SOURCE_REVISION = "gitops-edge.io/source-revision"
LEASE = ("coordination.k8s.io/v1", "Lease")

Key = tuple[str, str, str, str]
"""(apiVersion, kind, namespace, name)"""


def bundle_config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "1"}}


def write_fleet(root: Path, sites: list[str]) -> str:
    """An ops repo (a git work tree, one commit) with ``sites`` and a one-file edge bundle."""
    for site in sites:
        write_site(root, site, province(site))
    bundle = root / "edge-bundle" / "agent.yaml"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_text(yaml.safe_dump(bundle_config_map("edge-agent"), sort_keys=False))
    return git_init_commit(root)


def edge_node(site: str) -> str:
    return f"{site}-edge-01"


def seed_edges(api: KubeAPIServer, sites: list[str], *, offline: tuple[str, ...] = ()) -> None:
    """One edge node per site (default selector), online unless its site is in ``offline``."""
    now = datetime.now(UTC)
    for site in sites:
        api.store.put(node(edge_node(site), site=site))
        renewed = now - timedelta(hours=2) if site in offline else now + timedelta(hours=1)
        api.store.put(lease(edge_node(site), renewed))


def heartbeat(api: KubeAPIServer, site: str, *, online: bool) -> None:
    """CloudCore renewing (or, for a stale one, having stopped renewing) a node's Lease."""
    at = datetime.now(UTC) if online else datetime.now(UTC) - timedelta(hours=2)
    api.store.touch(
        *LEASE, edge_node(site), "kube-node-lease", patch={"spec": {"renewTime": micro(at)}}
    )


def managed(api: KubeAPIServer) -> dict[Key, dict[str, Any]]:
    """Every object gitops-edge manages in ``api``, by key (a key is unique in a store)."""
    found: dict[Key, dict[str, Any]] = {}
    for rt in api.registry:
        for obj in api.store.list(rt.api_version, rt.kind):
            md = obj["metadata"]
            if (md.get("labels") or {}).get(MANAGED_BY) != "gitops-edge":
                continue
            found[(obj["apiVersion"], obj["kind"], md.get("namespace", ""), md["name"])] = obj
    return found


def hashes(api: KubeAPIServer) -> dict[Key, tuple[str, str]]:
    """Managed objects with their (spec-hash, source-revision) annotations."""
    return {
        key: (
            (obj["metadata"].get("annotations") or {}).get(SPEC_HASH, ""),
            (obj["metadata"].get("annotations") or {}).get(SOURCE_REVISION, ""),
        )
        for key, obj in managed(api).items()
    }


def patches(api: KubeAPIServer, *, since: int = 0) -> dict[str, list[int]]:
    """Object path -> statuses of every PATCH it got (0: connection dropped)."""
    out: dict[str, list[int]] = collections.defaultdict(list)
    for rec in api.requests.records[since:]:
        if rec.method == "PATCH":
            out[rec.path].append(rec.status)
    return dict(out)


def applied(api: KubeAPIServer, *, since: int = 0) -> collections.Counter[str]:
    """Object path -> successful server-side applies (2xx PATCHes) of the fleet's objects
    (not of the record ``apply`` keeps of its run, :data:`gitops_edge.sinks.RECORD`)."""
    return collections.Counter(
        path
        for path, statuses in patches(api, since=since).items()
        for status in statuses
        if 200 <= status < 300 and not path.endswith(f"/configmaps/{RECORD}")
    )


def object_path(api: KubeAPIServer, key: Key) -> str:
    api_version, kind, namespace, name = key
    rt = api.registry.require(api_version, kind)
    return rt.object_path(name, namespace or None)


def requests_to(api: KubeAPIServer, path: str) -> list[RequestRecord]:
    return [r for r in api.requests.records if r.path == path]


def apply_cli(
    repo: Path, kubeconfig: Path, *extra: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``gitops-edge apply REPO --emit kube`` as an operator runs it."""
    return subprocess.run(
        [
            sys.executable, "-m", "gitops_edge", "apply", str(repo),
            "--emit", "kube", "--kubeconfig", str(kubeconfig), *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )  # fmt: skip
