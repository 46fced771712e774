"""Log bytes per reconcile during an N-site rollout in four waves, before and after.

A 1 000-site rollout used to write ~29 MB of logs in a few minutes, 99 % of it one line
per finished Job or healthy Application listing every site still waiting. This script
runs the same rollout twice, with the daemon code of a baseline commit (extracted with
``git archive``, default: the parent of the first commit that changed the logging) and
with the code of this work tree, and prints the log volume of each and their ratio.

Each run is a child process: an API test server (``tests/kubeapi``) holding one online
edge node per site, ``gitops-edge run``'s :class:`Runner` with ``--emit kube`` on a local
ops repo whose sites are spread over waves 0..3, and a loop playing the Job controller
and Argo CD (every Job succeeds, every Application turns Synced/Healthy) until every
site is on the commit with nothing pending. The daemon logs JSON at ``info`` to a file;
bytes, lines and reconciles are counted from it.

    python bench/log_volume.py --sites 1000
    python bench/log_volume.py --sites 200 --baseline HEAD~5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "de39f00"
"""The last commit before log lines were summarised and waves advanced on apply."""


def run_phase(code: Path, sites: int, work: Path) -> dict[str, Any]:
    """One rollout with the ``gitops_edge`` package found in ``code``; its numbers."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "daemon.log"
    env = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{ROOT}"}
    with log.open("wb") as err:
        done = subprocess.run(
            [sys.executable, __file__, "--phase", "--sites", str(sites), "--work", str(work)],
            env=env, stdout=subprocess.PIPE, stderr=err, timeout=3600, check=False, cwd=work,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"rollout with {code} failed:\n{log.read_text()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    data = log.read_bytes()
    lines = [line for line in data.splitlines() if line.startswith(b"{")]
    result["log_bytes"] = sum(len(line) + 1 for line in lines)
    result["log_lines"] = len(lines)
    result["longest_line"] = max((len(line) for line in lines), default=0)
    return result


def phase(sites: int, work: Path) -> None:
    """The child: build the fleet and the API, run the daemon, play the controllers."""
    import gitops_edge
    from gitops_edge.daemon.config import RunOptions
    from gitops_edge.daemon.queue import Backoff
    from gitops_edge.daemon.runner import Runner
    from gitops_edge.live.client import RetryPolicy
    from gitops_edge.live.connect import connect
    from gitops_edge.observe.logging import configure_logging
    from tests.builders import git_init_commit, province, write_site
    from tests.kubeapi.server import KubeAPIServer
    from tests.live.objects import lease, node

    repo = work / "ops"
    ids = [f"p{i:04d}" for i in range(sites)]
    for i, site in enumerate(ids):
        write_site(repo, site, province(site, rollout={"wave": i * 4 // sites}))
    bundle = repo / "edge-bundle" / "agent.yaml"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: edge-agent}\ndata: {v: '1'}\n")
    revision = git_init_commit(repo)
    configure_logging(json=True, level="info")
    from datetime import UTC, datetime, timedelta

    with KubeAPIServer(bookmark_interval=1.0) as api:
        now = datetime.now(UTC)
        for site in ids:
            api.store.put(node(f"{site}-edge-01", site=site))
            api.store.put(lease(f"{site}-edge-01", now + timedelta(hours=6)))
        kube = connect(kubeconfig=api.kubeconfig(work / "kubeconfig"),
                       retry=RetryPolicy(attempts=4, base=0.05))  # fmt: skip
        opts = RunOptions(
            repo=str(repo), emit="kube", cache_dir=work / "cache", poll_interval=3600.0,
            resync_interval=0.0, host="127.0.0.1", port=0, retry=Backoff(base=0.5, cap=5.0),
        )  # fmt: skip
        runner = Runner(opts, kube=kube)
        thread = threading.Thread(target=runner.run, daemon=True)
        started = time.perf_counter()
        thread.start()
        deadline = started + 3000

        def finish() -> int:
            touched = 0
            for job in api.store.list("batch/v1", "Job"):
                if not (job.get("status") or {}).get("succeeded"):
                    md = job["metadata"]
                    api.store.touch("batch/v1", "Job", md["name"], md["namespace"], patch={
                        "status": {"succeeded": 1,
                                   "conditions": [{"type": "Complete", "status": "True"}]}})
                    touched += 1
            for app in api.store.list("argoproj.io/v1alpha1", "Application"):
                if ((app.get("status") or {}).get("health") or {}).get("status") != "Healthy":
                    md = app["metadata"]
                    api.store.touch("argoproj.io/v1alpha1", "Application", md["name"],
                                    md["namespace"], patch={"status": {
                                        "sync": {"status": "Synced"},
                                        "health": {"status": "Healthy"}}})
                    touched += 1
            return touched

        def rolled_out() -> bool:
            applied = {
                (cm["metadata"].get("labels") or {}).get("gitops-edge.io/site")
                for cm in api.store.list("v1", "ConfigMap")
                if cm["metadata"]["name"] == "edge-agent"
                and (cm["metadata"].get("annotations") or {}).get(
                    "gitops-edge.io/source-revision") == revision
            }  # fmt: skip
            return len(applied) == sites and not runner.controller.states.with_gate("waiting")

        quiet = 0
        while time.perf_counter() < deadline:
            touched = finish()
            if rolled_out() and runner.queue.idle() and not touched:
                quiet += 1
                if quiet >= 3:
                    break
            else:
                quiet = 0
            time.sleep(0.5)
        else:
            raise SystemExit("the rollout did not finish")
        seconds = time.perf_counter() - started
        runner.stop()
        thread.join(120)
        records = list(runner.controller.records)
        print(json.dumps({
            "code": str(Path(gitops_edge.__file__).parent.parent),
            "sites": sites, "seconds": round(seconds, 1), "reconciles": len(records),
            "patches": api.requests.count(method="PATCH"),
        }))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sites", type=int, default=1000)
    p.add_argument("--baseline", default=BASELINE, help=f"git ref of the 'before' code (default {BASELINE})")
    p.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        phase(args.sites, args.work)
        return 0
    with tempfile.TemporaryDirectory(prefix="log-volume-") as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.baseline, "gitops_edge"], cwd=ROOT,
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        rows = {
            "before": run_phase(base, args.sites, Path(tmp) / "before"),
            "after": run_phase(ROOT, args.sites, Path(tmp) / "after"),
        }
    print(f"{args.sites}-site rollout in 4 waves (baseline {args.baseline} vs this tree)")
    print(f"{'':8}{'log bytes':>12}{'lines':>8}{'longest':>9}{'reconciles':>12}"
          f"{'bytes/reconcile':>17}{'PATCHes':>9}{'seconds':>9}")  # fmt: skip
    for name, r in rows.items():
        per = r["log_bytes"] / max(1, r["reconciles"])
        r["bytes_per_reconcile"] = per
        print(f"{name:8}{r['log_bytes']:>12}{r['log_lines']:>8}{r['longest_line']:>9}"
              f"{r['reconciles']:>12}{per:>17.0f}{r['patches']:>9}{r['seconds']:>9}")  # fmt: skip
    b, a = rows["before"], rows["after"]
    print(f"ratio before/after: log bytes {b['log_bytes'] / max(1, a['log_bytes']):.1f}x, "
          f"bytes per reconcile {b['bytes_per_reconcile'] / max(1.0, a['bytes_per_reconcile']):.1f}x, "
          f"longest line {b['longest_line'] / max(1, a['longest_line']):.1f}x, "
          f"PATCHes {b['patches'] / max(1, a['patches']):.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
