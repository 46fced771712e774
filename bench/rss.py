"""Peak RSS of a full reconcile into the cluster: ``run --once --emit kube`` and the daemon.

The target (ARCHITECTURE.md, scale): a full reconcile of 10 000 sites holds at most
300 MiB in any one gitops-edge process, whatever the sink. This measures the two
full reconciles the daemon binary makes against a cluster, each as an operator runs
it, in a process of its own:

* ``once``: ``gitops-edge run FLEET --once --emit kube``: one round of lists, one full
  reconcile, exit;
* ``daemon``: ``gitops-edge run FLEET --emit kube``: informers synced, then the first
  full resync (batch ``*``); the daemon is stopped (SIGTERM) once that resync is logged.

The cluster is the project's API test server (``tests/kubeapi``), in a process of its
own so its memory is not counted, seeded with one online edge Node and its Lease per
site (name, site label and arch as each site asks), so every site is planned
``ready`` and applied. The fleet is ``bench/fleet.py``'s; by default every site is put
in one wave (each site's ``rollout`` dropped) so that the whole fleet is applied in
this one run, the worst case for what a run holds between planning and applying;
``--waves`` keeps the generated waves (only wave 0, two sites, is applied).

Peak RSS is the measured process's own ``ru_maxrss`` (``os.wait4``). ``--baseline DIR``
runs the same two commands with the gitops-edge package of another source tree (e.g.
``git archive <commit> | tar -x -C DIR``) first, for a before/after ratio.

Usage: ``python bench/rss.py --sites 10000 [--baseline DIR] [--append-results]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import dump, generate, plan_site, site_document  # noqa: E402
from gitops_edge.testing import git_init_commit  # noqa: E402

TARGET_MIB = 300.0


def edge_nodes(sites: int, seed: int) -> list[tuple[str, str, str]]:
    """(node name, site id, arch) of the one edge node each site of the fleet selects."""
    out = []
    for number in range(1, sites + 1):
        plan = plan_site(number, seed)
        edge = site_document(plan, seed)["spec"]["edge"]
        name = edge.get("nodeName") or f"{plan.site_id}-edge-01"
        out.append((name, plan.site_id, edge.get("arch") or "arm64"))
    return out


def one_wave(root: Path, sites: int, seed: int) -> None:
    """Drop every site's ``rollout``: the whole fleet is one wave (the repo default)."""
    for number in range(1, sites + 1):
        plan = plan_site(number, seed)
        doc = site_document(plan, seed)
        if doc["spec"].pop("rollout", None) is not None:
            (root / plan.rel_dir / "cluster.yaml").write_text(dump(doc), encoding="utf-8")


def serve(conn: Connection, nodes: list[tuple[str, str, str]], kubeconfig: str) -> None:
    """Child process: the API server, seeded with the edge nodes, answering counts."""
    sys.path.insert(0, str(ROOT))
    from tests.kubeapi import KubeAPIServer
    from tests.live.objects import lease, node

    with KubeAPIServer(bookmark_interval=5.0) as api:
        now = datetime.now(UTC)
        api.store.seed(node(name, site=site, arch=arch) for name, site, arch in nodes)
        api.store.seed(lease(name, now + timedelta(hours=6)) for name, _s, _a in nodes)
        conn.send(str(api.kubeconfig(kubeconfig)))
        while True:
            cmd = conn.recv()
            if cmd == "count":
                managed = sum(
                    1
                    for rt in api.registry
                    for obj in api.store.list(rt.api_version, rt.kind)
                    if ((obj["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by"))
                    == "gitops-edge"
                )
                conn.send({"managed": managed, "patches": api.requests.count(method="PATCH")})
            else:
                conn.send(None)
                return


class Cluster:
    """A fresh, seeded API test server in a child process, for one measured run."""

    def __init__(self, nodes: list[tuple[str, str, str]], kubeconfig: Path) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, nodes, str(kubeconfig)), daemon=True)
        self.proc.start()
        self.kubeconfig = Path(self.conn.recv())

    def count(self) -> dict[str, int]:
        self.conn.send("count")
        found: dict[str, int] = self.conn.recv()
        return found

    def stop(self) -> None:
        self.conn.send("stop")
        self.conn.recv()
        self.proc.join(30)


def command(fleet: Path, kubeconfig: Path, cache: Path, mode: str) -> list[str]:
    base = [sys.executable, "-m", "gitops_edge", "run", str(fleet), "--emit", "kube"]
    base += ["--kubeconfig", str(kubeconfig), "--cache-dir", str(cache)]
    if mode == "once":
        return [*base, "--once", "--log-level", "error"]
    return [
        *base,
        "--listen", "127.0.0.1:0",
        "--resync-interval", "0",
        "--poll-interval", "3600",
        "--no-fleet-page",
        "--log-format", "json",
        "--metrics-per-site", "false",
    ]  # fmt: skip


def full_resync_logged(log: Path) -> dict[str, Any] | None:
    """The daemon's log line for its first reconcile of every site, once it is written."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if '"batch"' not in line:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") in ("reconciled", "reconcile incomplete") and event.get("batch") == [
            "*"
        ]:
            return dict(event)
    return None


def measure(
    mode: str, code: Path, fleet: Path, nodes: list[tuple[str, str, str]], work: Path
) -> dict[str, Any]:
    """One measured run of ``mode`` with the gitops-edge package under ``code``."""
    tag = f"{mode}-{code.name}"
    cluster = Cluster(nodes, work / f"{tag}.kubeconfig")
    env = {**os.environ, "PYTHONPATH": str(code)}
    probe = subprocess.run(
        [sys.executable, "-c", "import gitops_edge; print(gitops_edge.__file__)"],
        env=env, capture_output=True, text=True, check=True, cwd=work,
    )  # fmt: skip
    package = Path(probe.stdout.strip()).parent.parent
    assert package == code, f"{code}: python imported gitops_edge from {package}"
    log = work / f"{tag}.log"
    argv = command(fleet, cluster.kubeconfig, work / f"{tag}-cache", mode)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        event = None
        if mode == "daemon":
            while proc.poll() is None:
                event = full_resync_logged(log)
                if event is not None:
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - started
            proc.send_signal(signal.SIGTERM)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if mode == "once":
        seconds = time.perf_counter() - started
    counts = cluster.count()
    cluster.stop()
    ok = proc.returncode == 0 if mode == "once" else event is not None
    if mode == "daemon" and event is not None:
        ok = event.get("event") == "reconciled"
    return {
        "mode": mode,
        "code": str(code),
        "rss_mib": usage.ru_maxrss / 1024,
        "seconds": round(seconds, 1),
        "exit": proc.returncode,
        "ok": ok,
        **counts,
        "log_tail": log.read_text(errors="replace").splitlines()[-3:] if not ok else [],
    }


def table(runs: list[dict[str, Any]], sites: int, waves: bool) -> str:
    rows = [
        f"`bench/rss.py --sites {sites}{' --waves' if waves else ''}` "
        f"({'generated waves' if waves else 'one wave: every site applied'}), "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs:",
        "",
        "| run | code | peak RSS (MiB) | vs 300 MiB | seconds | objects applied | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rows.append(
            f"| {r['mode']} | {Path(r['code']).name} | {r['rss_mib']:.0f} | "
            f"{r['rss_mib'] / TARGET_MIB:.2f}x | {r['seconds']} | {r['managed']} | "
            f"{'yes' if r['ok'] else 'NO'} |"
        )
    before = {r["mode"]: r for r in runs if r["code"] != str(ROOT)}
    after = {r["mode"]: r for r in runs if r["code"] == str(ROOT)}
    for mode in after:
        if mode in before:
            rows.append("")
            rows.append(
                f"- {mode}: {after[mode]['rss_mib']:.0f} MiB after vs "
                f"{before[mode]['rss_mib']:.0f} MiB before "
                f"({after[mode]['rss_mib'] / before[mode]['rss_mib']:.2f}x)"
            )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--waves", action="store_true", help="keep the generated waves")
    parser.add_argument("--baseline", type=Path, help="a source tree to measure first")
    parser.add_argument("--modes", default="once,daemon", help="once,daemon (default both)")
    parser.add_argument("--append-results", action="store_true", help="to bench/RESULTS.md")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitops-edge-rss-") as tmp:
        work = Path(tmp)
        fleet = work / "fleet"
        started = time.perf_counter()
        generate(fleet, args.sites, seed=args.seed)
        if not args.waves:
            one_wave(fleet, args.sites, args.seed)
        git_init_commit(fleet, "fleet")
        nodes = edge_nodes(args.sites, args.seed)
        print(f"fleet of {args.sites} sites in {time.perf_counter() - started:.0f}s", flush=True)
        codes = [*([args.baseline.resolve()] if args.baseline else []), ROOT]
        runs = []
        for code in codes:
            for mode in args.modes.split(","):
                run = measure(mode, code, fleet, nodes, work)
                print(json.dumps(run), flush=True)
                runs.append(run)
    text = table(runs, args.sites, args.waves)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    if args.append_results:
        results = ROOT / "bench" / "RESULTS.md"
        with results.open("a", encoding="utf-8") as fh:
            fh.write("\n## Peak RSS of a full reconcile into the cluster (`bench/rss.py`)\n\n")
            fh.write(text)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
