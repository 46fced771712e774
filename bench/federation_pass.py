"""Federation bench: what one daemon federation pass adds to a reconcile of the fleet.

The daemon runs :func:`gitops_edge.federation.overview.federation_pass` after each
reconcile of a federated site. For the 1+31 layout (31 provinces, all registered and
Ready, ``federation/`` = the sample), in the steady state (everything applied
already), this prints:

(a) the central reconcile: plan the fleet against live state and emit (nothing
    changes), as the daemon's controller does;
(b) one federation pass with ``apply=True`` (registration checks, labels, federation/
    applied, the removal scan), and the requests it sends to each API server;
(c) the read-only pass ``plan`` runs (``apply=False``: dry-run applies);

and the ratios b/a and c/a. Both API test servers run in this process, so the
numbers compare the two costs on the same footing, not absolute latencies.

Usage: ``python bench/federation_pass.py --sites 31 --rounds 5``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from gitops_edge.emit.kubesink import KubeSink
from gitops_edge.federation.karmada import client_from_kubeconfig
from gitops_edge.federation.overview import federation_pass
from gitops_edge.live.client import KubeClient, RetryPolicy
from gitops_edge.live.snapshot import read_live
from gitops_edge.reconcile import plan_against
from gitops_edge.specs.repo import load_repo
from tests.builders import province, write_settings, write_site
from tests.federation.reference import karmada_secret, register
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import node

ROOT = Path(__file__).resolve().parents[1]
KARMADA = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada"},
    "registrationImage": "r/karmadactl:v1.18.2",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sites", type=int, default=31)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fed-bench-"))
    central_api, karmada_api = KubeAPIServer(), KubeAPIServer()
    for kind in ("Cluster", "PropagationPolicy", "OverridePolicy", "ResourceBinding"):
        register(karmada_api, kind)
    with central_api, karmada_api:
        root = tmp / "repo"
        root.mkdir()
        write_settings(root, {"federation": {"karmada": KARMADA}})
        names = [f"p{i:02d}" for i in range(args.sites)]
        for i, name in enumerate(names):
            doc = province(name, edge={"arch": "arm64"}, rollout={"wave": i % 3})
            doc["metadata"] = {"labels": {"region": "south" if i % 2 else "north"}}
            write_site(root, name, doc)
        shutil.copytree(ROOT / "sample-repo" / "federation", root / "federation")
        repo = load_repo(root)
        now = datetime.now(UTC).replace(microsecond=0)
        config = karmada_api.kubeconfig(tmp / "karmada.config").read_text()
        central_api.store.put(karmada_secret(config))
        for name in names:
            site = repo.site(name)
            assert site is not None and site.valid, name
            central_api.store.put(node(f"{name}-edge", site=name, arch="arm64", now=now))
            karmada_api.store.put(
                {
                    "apiVersion": "cluster.karmada.io/v1alpha1",
                    "kind": "Cluster",
                    "metadata": {"name": name},
                    "spec": {"syncMode": "Pull"},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
        fast = RetryPolicy(attempts=2, base=0.01, cap=0.05)
        central = KubeClient(central_api.api_client(), retry=fast)
        karmada = client_from_kubeconfig(yaml.safe_load(config), retry=fast)
        kubeconfig = yaml.safe_load(config)
        sink = KubeSink(central)
        for _ in range(3):  # converge: eggo runs finished, every object applied
            live = read_live(central)
            sink.emit(plan_against(repo, live, revision="bench"))
            for job in central_api.store.list("batch/v1", "Job"):
                if not (job.get("status") or {}).get("succeeded"):
                    md = job["metadata"]
                    central_api.store.touch(
                        "batch/v1", "Job", md["name"], md["namespace"],
                        patch={"status": {"succeeded": 1, "conditions": [
                            {"type": "Complete", "status": "True"}]}},
                    )  # fmt: skip
        live = read_live(central)
        federation_pass(central, karmada, kubeconfig, repo, live, now=now, apply=True)

        def timed(fn: object) -> float:
            best = float("inf")
            for _ in range(args.rounds):
                start = time.perf_counter()
                fn()  # type: ignore[operator]
                best = min(best, time.perf_counter() - start)
            return best

        central_s = timed(lambda: sink.emit(plan_against(repo, live, revision="bench")))
        central_api.requests.clear()
        karmada_api.requests.clear()
        fed_s = timed(
            lambda: federation_pass(central, karmada, kubeconfig, repo, live, now=now, apply=True)
        )
        per_pass = (len(central_api.requests) / args.rounds, len(karmada_api.requests) / args.rounds)
        dry_s = timed(
            lambda: federation_pass(central, karmada, kubeconfig, repo, live, now=now, apply=False)
        )
    print(f"sites={args.sites} rounds={args.rounds} (best of)")
    print(f"(a) central plan+emit, steady:       {central_s * 1000:8.1f} ms")
    print(
        f"(b) federation pass, apply, steady:  {fed_s * 1000:8.1f} ms  "
        f"requests/pass: centre {per_pass[0]:.0f}, karmada {per_pass[1]:.0f}"
    )
    print(f"(c) federation pass, plan (dry run): {dry_s * 1000:8.1f} ms")
    print(f"ratio b/a = {fed_s / central_s:.2f}   ratio c/a = {dry_s / central_s:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
