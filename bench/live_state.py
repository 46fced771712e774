"""Live-state bench: reading 10 000 edge nodes through the real client, cold and steady.

ARCHITECTURE.md makes two claims about reading the fleet from the central API:

1. a cold read is a paginated list of raw JSON, close to the cost of ``json.loads``
   on the same bytes (the generated model classes would cost several times more);
2. a running daemon (``LiveCache``) makes *no* list calls once synced: heartbeats
   arrive as watch events and keep its index current.

This bench measures both against the test API server, which runs in a child process
so its own JSON encoding and HTTP work do not share the client's interpreter lock:

(a) cold: paginated list of edge Nodes and their Leases with ``KubeClient`` (as
    ``read_live`` does) plus building the inventory;
(b) ``json.loads`` alone over the same pages' bytes, fetched once with urllib;
(c) a ``LiveCache``: initial sync, then 100 lease renewals, and the list calls made
    after the sync (target 0).

Usage: ``python bench/live_state.py --nodes 10000`` (``--nodes 1000`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops_edge.live import resources as r
from gitops_edge.live.cache import LiveCache
from gitops_edge.live.client import RetryPolicy
from gitops_edge.live.connect import connect
from gitops_edge.live.inventory import EDGE_ROLE_LABEL, LEASE_NAMESPACE, build_inventory
from tests.live.objects import lease, micro, node

PAGE = 500
IMAGES = [
    "registry.ops.example/kubeedge/installation-package:v1.13.1",
    "registry.ops.example/openeuler/eggo:v0.9.4-arm64",
    "registry.ops.example/argoproj/argocd:v2.9.3",
    "registry.ops.example/library/pause:3.6",
    "registry.ops.example/kubeedge/edgemesh-agent:v1.13.0",
]


def edge_node(i: int, now: datetime) -> dict[str, Any]:
    """A realistic edge Node (~2.5 KB): labels, taints, conditions, nodeInfo, images."""
    site = f"p{i % 31:02d}-s{i:05d}"
    arch = "arm64" if i % 10 < 7 else "amd64"
    obj = node(f"edge-{i:05d}", site=site, arch=arch, ready="False" if i % 100 == 0 else "True")
    obj["metadata"]["labels"]["topology.kubernetes.io/region"] = f"p{i % 31:02d}"
    obj["metadata"]["managedFields"] = [
        {
            "manager": "cloudcore",
            "operation": "Update",
            "apiVersion": "v1",
            "time": micro(now),
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
                    "f:nodeInfo": {"f:kubeletVersion": {}, "f:osImage": {}},
                }
            },
        }
    ]
    obj["status"]["addresses"][0]["address"] = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    obj["status"]["images"] = [
        {"names": [name, f"{name}@sha256:{i:064x}"[:100]], "sizeBytes": 52_428_800 + i}
        for name in IMAGES
    ]
    return obj


def serve(conn: Connection, nodes: int, kubeconfig: str) -> None:
    """Child process: the API server, seeded, answering touch/count commands."""
    from tests.kubeapi import KubeAPIServer

    with KubeAPIServer(bookmark_interval=5.0) as api:
        now = datetime.now(UTC)
        started = time.perf_counter()
        api.store.seed(edge_node(i, now) for i in range(nodes))
        api.store.seed(
            lease(f"edge-{i:05d}", now - timedelta(minutes=10 if i % 20 == 0 else 0))
            for i in range(nodes)
        )
        seeded = time.perf_counter() - started
        size = len(json.dumps(edge_node(1, now)))
        conn.send((api.url, str(api.kubeconfig(kubeconfig)), seeded, size))
        while True:
            cmd, arg = conn.recv()
            if cmd == "touch":
                names, renew = arg
                for name in names:
                    api.store.touch(
                        "coordination.k8s.io/v1",
                        "Lease",
                        name,
                        LEASE_NAMESPACE,
                        patch={"spec": {"renewTime": renew}},
                    )
                conn.send(len(names))
            elif cmd == "lists":
                conn.send(sum(1 for q in api.requests if q.verb not in ("watch", "create")))
            else:
                conn.send(None)
                return


def raw_pages(url: str, path: str, selector: str | None) -> list[bytes]:
    """The same pages ``KubeClient.list`` reads, as bytes (urllib, no client at all)."""
    pages: list[bytes] = []
    token = ""
    while True:
        query = {"limit": str(PAGE)}
        if selector:
            query["labelSelector"] = selector
        if token:
            query["continue"] = token
        with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(query)}") as resp:  # noqa: S310 - our server
            body: bytes = resp.read()
        pages.append(body)
        token = json.loads(body)["metadata"].get("continue") or ""
        if not token:
            return pages


def list_requests(calls: dict[str, int]) -> int:
    """List requests (one per page) the client has sent so far."""
    return sum(n for key, n in calls.items() if key.startswith("list "))


def server_lists(conn: Connection) -> int:
    """List requests the server has answered (kinds it lacks are logged as 404 gets)."""
    conn.send(("lists", None))
    count: int = conn.recv()
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--touch", type=int, default=100)
    args = ap.parse_args(argv)
    parent, child = mp.get_context("fork").Pipe()
    tmp = tempfile.mkdtemp(prefix="live-bench-")
    server = mp.get_context("fork").Process(
        target=serve, args=(child, args.nodes, f"{tmp}/kubeconfig"), daemon=True
    )
    server.start()
    url, kubeconfig, seeded, size = parent.recv()
    rows: list[tuple[str, str, str]] = [
        ("seed (server side, not client cost)", f"{seeded:.2f} s", "-")
    ]

    # (b) first: it also warms the server's per-object JSON cache for (a)
    node_path, lease_path = r.NODES.path(), r.LEASES.path(LEASE_NAMESPACE)
    pages = raw_pages(url, node_path, EDGE_ROLE_LABEL) + raw_pages(url, lease_path, None)
    started = time.perf_counter()
    decoded = [json.loads(p) for p in pages]
    loads = time.perf_counter() - started
    assert sum(len(d["items"]) for d in decoded) == 2 * args.nodes

    # (a) cold read through the client, as read_live does
    kube = connect(kubeconfig=Path(kubeconfig), retry=RetryPolicy(base=0.05))
    started = time.perf_counter()
    nodes, _ = kube.list(r.NODES, label_selector=EDGE_ROLE_LABEL, limit=PAGE)
    leases, _ = kube.list(r.LEASES, namespace=LEASE_NAMESPACE, limit=PAGE)
    now = datetime.now(UTC)
    inventory = build_inventory(nodes, {x["metadata"]["name"]: x for x in leases}, now=now)
    cold = time.perf_counter() - started
    cold_lists = list_requests(kube.calls)
    online = sum(n.state == "online" for n in inventory.values())
    rows += [
        ("(a) cold list nodes+leases + inventory", f"{cold:.3f} s", str(cold_lists)),
        (f"(b) json.loads of the same {len(pages)} pages", f"{loads:.3f} s", "-"),
        ("    ratio a/b", f"{cold / loads:.1f}x", ""),
    ]

    # (c) steady state: a LiveCache kept current by watches alone
    cache = LiveCache(kube)
    before = server_lists(parent)
    started = time.perf_counter()
    cache.start()
    if not cache.wait_synced(60):
        print("LiveCache did not sync in 60 s", file=sys.stderr)
        return 1
    synced = time.perf_counter() - started
    initial = list_requests(kube.calls) - cold_lists
    server_initial = server_lists(parent) - before
    renew = micro(datetime.now(UTC) + timedelta(seconds=1))
    names = [f"edge-{i:05d}" for i in range(0, args.nodes, max(1, args.nodes // args.touch))]
    names = names[: args.touch]
    started = time.perf_counter()
    parent.send(("touch", (names, renew)))
    parent.recv()
    while any(
        (cache.leases.get(LEASE_NAMESPACE, n) or {}).get("spec", {}).get("renewTime") != renew
        for n in names
    ):
        if time.perf_counter() - started > 30:
            print("LiveCache did not see the renewals in 30 s", file=sys.stderr)
            return 1
        time.sleep(0.005)
    seen = time.perf_counter() - started
    state = cache.state()
    server_after = server_lists(parent) - before - server_initial
    after = list_requests(kube.calls) - cold_lists - initial
    rows += [
        ("(c) LiveCache initial sync (18 kinds)", f"{synced:.3f} s", f"{initial} (server saw {server_initial})"),
        (f"    {len(names)} lease renewals seen by the cache", f"{seen:.3f} s", f"{after} after sync (server saw {server_after})"),
    ]  # fmt: skip
    cache.stop()
    parent.send(("stop", None))
    parent.recv()
    server.join(5)

    print(
        f"live state: {args.nodes} edge nodes (~{size / 1024:.1f} KB each) + {args.nodes} leases, "
        f"pages of {PAGE}; {online} online at read, {len(state.nodes)} in the cache"
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("phase", "time", "list requests (pages)")
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0 if after == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
