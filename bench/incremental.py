"""One-shot ``apply`` after a one-site commit, incremental from the sink's record vs full.

``python bench/incremental.py --sites 3000`` generates a fleet (``bench/fleet.py``),
commits it, and runs ``gitops-edge apply REPO --emit dir:OUT`` as a user does: a
subprocess each time, so process start (imports) is in every number.

1. a cold full run into an empty OUT (it leaves the record the next runs start from);
2. a one-site commit (``fleet.touch_site``: an application release), then, from two
   copies of the same OUT, ``apply --full`` and a plain ``apply`` (incremental): the
   ratio of the two is the headline (target <= 10 %), and both trees must end the same;
3. a second one-site commit that joins a worker (an eggo join), incremental again: a
   join checks every site's live cluster for the new machine, so it reads each site's
   render once (the planner's fleet-wide holders view).

``--emit kube`` runs the same commits against the project's API test server (in a
process of its own, seeded with an online edge node per site), where the record is the
ConfigMap ``gitops-edge-record``: a cold full apply, the one-site commit applied
incrementally, then ``apply --full`` at the same commit (what the run costs without
the record; it must find nothing left to write).

Times are wall-clock on whatever else the machine runs; the ratios are from one run.
Every run compiles its modules once and keeps the bytecode (in a cache directory of
the benchmark's own, ``PYTHONPYCACHEPREFIX``), as an installed gitops-edge does, even
where the environment says ``PYTHONDONTWRITEBYTECODE`` (which would make each process
start compile the package from source: 0.2 s of a one-site run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet  # the generator lives beside this script

ENV_GIT = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
PYCACHE = Path(tempfile.gettempdir()) / "gitops-edge-bench-pycache"


def tool_env() -> dict[str, str]:
    """The environment of each gitops-edge process: bytecode kept, as once installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *ENV_GIT, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def apply(repo: Path, out: Path | str, *extra: str) -> tuple[float, dict[str, object]]:
    """Seconds for one ``gitops-edge apply`` subprocess, and its JSON report.

    ``out``: the directory of a ``dir:`` sink, or a ``--emit`` value with its flags
    (``kube --kubeconfig F``)."""
    emit = ["--emit", f"dir:{out}"] if isinstance(out, Path) else ["--emit", *out.split()]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "apply", str(repo), *emit,
         "-o", "json", "-q", *extra],
        capture_output=True,
        text=True,
        check=False,
        env=tool_env(),
    )
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"apply {' '.join(extra)} exited {done.returncode}: {done.stderr[-2000:]}")
    return took, json.loads(done.stdout)


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".gitops-edge-record")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=3000)
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--emit", choices=("dir", "kube"), default="dir")
    args = parser.parse_args(argv)
    if args.emit == "kube":
        return kube(args.sites)
    work = args.keep or Path(tempfile.mkdtemp(prefix="gitops-edge-incr-"))
    work.mkdir(parents=True, exist_ok=True)
    repo, out, ref = work / "ops", work / "out", work / "out-full"
    try:
        ids = fleet.generate(repo, args.sites)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "fleet")

        cold, report = apply(repo, out)
        note = str(report["emit"]["note"])  # type: ignore[index]
        print(f"cold full apply, {args.sites} sites: {cold:.1f} s ({note.rsplit('; ', 1)[-1]})")

        site = ids[len(ids) // 2]
        fleet.touch_site(repo, site, 0)
        git(repo, "commit", "-q", "-am", f"{site}: application release")
        shutil.copytree(out, ref, symlinks=True)
        full, full_report = apply(repo, ref, "--full")
        incr, incr_report = apply(repo, out)
        same = tree(out) == tree(ref)
        note = str(incr_report["emit"]["note"])  # type: ignore[index]
        planned = len(incr_report["sites"])  # type: ignore[arg-type]
        print(f"full apply after a one-site commit:        {full:.2f} s "
              f"({len(full_report['sites'])} sites planned)")  # type: ignore[arg-type]
        print(f"incremental apply after a one-site commit: {incr:.2f} s "
              f"({planned} site planned; {note.rsplit('; ', 1)[-1]})")
        print(f"incremental / full: {100 * incr / full:.1f} % (target <= 10 %); "
              f"trees identical: {same}")

        fleet.touch_site(repo, site, 1)
        git(repo, "commit", "-q", "-am", f"{site}: join a worker")
        join, _ = apply(repo, out)
        print(f"incremental apply of a one-site eggo join:  {join:.2f} s "
              f"({100 * join / full:.1f} % of full; the join reads every site's live cluster)")
        return 0 if same else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def kube(sites: int) -> int:
    """The same one-site commit against the API test server (see the module doc)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.rss import Cluster, edge_nodes, one_wave

    with tempfile.TemporaryDirectory(prefix="gitops-edge-incr-kube-") as tmp:
        repo = Path(tmp) / "ops"
        ids = fleet.generate(repo, sites)
        one_wave(repo, sites, 1)  # every site applied by the cold run (no wave waits)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "fleet")
        cluster = Cluster(edge_nodes(sites, 1), Path(tmp) / "kubeconfig")
        try:
            target = f"kube --kubeconfig {cluster.kubeconfig} --record-namespace default"
            cold, _ = apply(repo, target)
            print(f"cold full apply (kube), {sites} sites: {cold:.1f} s")
            site = ids[len(ids) // 2]
            fleet.touch_site(repo, site, 0)
            git(repo, "commit", "-q", "-am", f"{site}: application release")
            incr, incr_report = apply(repo, target)
            full, full_report = apply(repo, target, "--full")
            note = str(incr_report["emit"]["note"])  # type: ignore[index]
            left = full_report["emit"]["written"]  # type: ignore[index]
            print(f"incremental apply after a one-site commit: {incr:.2f} s "
                  f"({len(incr_report['sites'])} site planned; {note})")  # type: ignore[arg-type]
            print(f"apply --full at the same commit:           {full:.2f} s "
                  f"({len(full_report['sites'])} sites planned, {left} left to write)")  # type: ignore[arg-type]
            print(f"incremental / full: {100 * incr / full:.1f} % (target <= 10 %)")
            return 0 if left == 0 else 1
        finally:
            cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
