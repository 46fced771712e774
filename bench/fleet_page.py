"""Time to serve the fleet page and its JSON at N sites (default 10 000), in one run.

The page is built from the same report as ``status -o json``, so the yardstick is that
report: ``build_report`` + ``as_dict`` + ``json.dumps`` over the same repo and live
state (what ``status -o json`` computes once the API has been read). Measured over
real HTTP on loopback, through the daemon's server (``DaemonHTTP``) and
:class:`FleetPage`:

- **cold** ``GET /fleet``: the cache has expired, so the request builds the report and
  renders page 1 (200 rows) — the worst case a viewer sees, once per ``CACHE_SECONDS``;
- **warm** ``GET /fleet`` (page 1, a filter, a late page), ``GET /fleet/site``: the built
  report is reused, only one page of HTML is rendered;
- ``GET /api/v1/fleet`` cold and warm (warm: the encoded document is reused).

The fleet is ``bench/fleet.py``'s deterministic repo; live state has every site's edge
node, an eggo Job and its Applications, relative to one fixed ``now``; every 50th
node is offline and every 100th site's eggo run failed.

Usage: ``python bench/fleet_page.py [--sites 10000] [--repeat 7]``.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fleet import generate  # noqa: E402
from gitops_edge.daemon.fleetpage import FleetPage, Snapshot  # noqa: E402
from gitops_edge.daemon.http import DaemonHTTP  # noqa: E402
from gitops_edge.live.inventory import EdgeNode, nodes_for_site  # noqa: E402
from gitops_edge.specs.repo import RepoSpec, load_repo  # noqa: E402
from gitops_edge.status import build_report, intent_of  # noqa: E402
from tests.daemon.fleetdata import fleet_objects, live_state  # noqa: E402
from tests.live.objects import NOW, application, eggo_job, namespace  # noqa: E402


def live_objects(repo: RepoSpec) -> list[dict[str, object]]:
    ids = [s.id for s in repo.sites]
    objs = fleet_objects(repo, NOW, offline=tuple(ids[::50]), failed=tuple(ids[7::100]))
    failed = set(ids[7::100])
    for site in repo.sites:
        if site.id in failed:
            continue
        objs.append(namespace(site.id))
        objs.append(eggo_job("eggo-deploy-1", site.id, created=NOW - timedelta(hours=2)))
        objs.extend(application(name, site.id) for name in intent_of(site).apps)
    return objs


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall-clock seconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=7, help="samples per warm measure (median)")
    ap.add_argument(
        "--cold-repeat", type=int, default=1, help="samples per cold measure (each builds a report)"
    )
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate(Path(tmp) / "ops", args.sites)
        repo = load_repo(Path(tmp) / "ops")
        live = live_state(live_objects(repo), NOW)
        setup = time.perf_counter() - t0

    def status_json() -> bytes:
        import json

        doc = build_report(repo, live, revision="a" * 40).as_dict()
        return json.dumps(doc, separators=(",", ":")).encode()

    floor = timed(status_json, args.cold_repeat)

    # node matching per site, indexed (the inventory) against a scan of every node
    sample = [intent_of(s) for s in repo.sites[:: max(1, len(repo.sites) // 200)]]
    plain = dict(live.nodes)

    def match(nodes: Mapping[str, EdgeNode]) -> Callable[[], None]:
        def run() -> None:
            for i in sample:
                nodes_for_site(nodes, node_selector=i.selector, node_name=i.node_name)

        return run

    indexed_match = timed(match(live.nodes), 3) / len(sample)
    scan_match = timed(match(plain), 3) / len(sample)

    clock = [0.0]
    page = FleetPage(lambda: Snapshot(repo, live, "a" * 40), clock=lambda: clock[0])
    server = DaemonHTTP(
        "127.0.0.1", 0, registry=CollectorRegistry(), ready=lambda: True, healthy=lambda: True
    )
    server.mount(page.routes())
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    sizes: dict[str, int] = {}

    def get(path: str) -> Callable[[], None]:
        def fetch() -> None:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200, (path, resp.status, body[:200])
            sizes[path] = len(body)

        return fetch

    def cold(path: str) -> Callable[[], None]:
        fetch = get(path)

        def run() -> None:
            clock[0] += 3600  # the cached report has expired: this request builds it
            fetch()

        return run

    some_site = repo.sites[len(repo.sites) // 2].id
    rows: list[tuple[str, Callable[[], None], int]] = [
        ("GET /fleet, cold (report built + page 1)", cold("/fleet"), args.cold_repeat),
        ("GET /fleet, warm (page 1, 200 rows)", get("/fleet"), args.repeat),
        ("GET /fleet?state=failed, warm", get("/fleet?state=failed"), args.repeat),
        ("GET /fleet?q=guangdong&page=3, warm", get("/fleet?q=guangdong&page=3"), args.repeat),
        (f"GET /fleet/site?id={some_site}, warm", get(f"/fleet/site?id={some_site}"), args.repeat),
        ("GET /api/v1/fleet, cold (report built)", cold("/api/v1/fleet"), args.cold_repeat),
        ("GET /api/v1/fleet, warm", get("/api/v1/fleet"), args.repeat),
    ]
    results = [(name, timed(fn, n)) for name, fn, n in rows]
    conn.close()
    server.stop()

    print(
        f"fleet page at {len(repo.sites)} sites ({len(live.nodes)} edge nodes); setup {setup:.1f} s"
    )
    print(
        f"yardstick: status -o json core (build_report + as_dict + json.dumps) {floor * 1000:.0f} ms"
    )
    print(
        f"node matching per site: label index {indexed_match * 1e6:.1f} us, scan of every node "
        f"{scan_match * 1e6:.0f} us ({scan_match / indexed_match:.0f}x; {len(sample)} sites sampled)"
    )
    print(f"{'request':48} {'median':>10} {'vs status':>10} {'bytes':>12}")
    for name, seconds in results:
        path = name.split(" ", 2)[1].rstrip(",")
        size = sizes.get(path, 0)
        print(f"{name:48} {seconds * 1000:8.1f} ms {seconds / floor:9.2f}x {size:12,d}")
    page_bytes, json_bytes = sizes["/fleet"], sizes["/api/v1/fleet"]
    print(
        f"page 1 HTML is {page_bytes / json_bytes:.1%} of the JSON document ({page_bytes:,d} / {json_bytes:,d} bytes)"
    )
    print(f"report builds: {page.builds} (one per cold request; warm requests reuse it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
