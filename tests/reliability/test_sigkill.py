"""``kill -9`` in the middle of an emit, then a restart: nothing lost, duplicated or half-written.

(a) The directory sink. ``gitops-edge apply`` on a generated 300-site fleet runs as a
subprocess in its own process group (any worker process it starts dies with it) and
is killed with SIGKILL at several points: while sites are being staged into
``.tmp-<site>``, and while they are being swapped in. After every kill, each site
directory a reader can see is byte-identical to the old or the new render of that
site, never a mix or a part; a site caught between its two renames is missing with its
``.old-`` copy intact (``DirSink.recover`` puts it back). The next run converges to exactly what an
uninterrupted run produces, with no ``.tmp-``/``.old-`` left.

(b) The kube sink. ``apply --emit kube`` is killed half-way through its server-side
applies against an API server that lives in the test process (and so outlives the
child); the restarted run finishes the job. The server then holds the same objects,
spec hashes and revisions as a clean run into a second server, and every object was
applied exactly once across the killed and the restarted run.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from gitops_edge.emit.dirsink import OLD, RECORD, TMP
from tests.builders import git
from tests.daemon.harness import ROOT
from tests.kubeapi import KubeAPIServer
from tests.reliability.kubefleet import applied, apply_cli, hashes, seed_edges, write_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SITES = 300


def _load_fleet() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "bench" / "fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (dot-entries included), by relative path.

    The sink's record is compared without its first line, the time it was stamped with.
    """
    return {
        p.relative_to(root).as_posix(): (
            p.read_bytes().partition(b"\n")[2] if p.name == RECORD else p.read_bytes()
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def site_dirs(root: Path) -> dict[str, dict[str, bytes]]:
    """Site id -> its files, for every entry of ``root`` (``.tmp-x``/``.old-x`` under their own names)."""
    out: dict[str, dict[str, bytes]] = {}
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            out[entry.name] = {p.name: p.read_bytes() for p in sorted(entry.iterdir())}
    return out


def apply_dir(repo: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops_edge", "apply", str(repo), "--emit", f"dir:{out}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def kill_apply_when(
    argv: list[str], trigger: Callable[[], bool], *, delay: float = 0.0, timeout: float = 120
) -> None:
    """Start ``gitops-edge ARGV``; SIGKILL its whole process group ``delay`` s after ``trigger``.

    Fails if the run ended before it could be killed (the kill point was missed).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops_edge", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not trigger():
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(
                    f"run ended (exit {proc.returncode}) before the kill point: {stderr[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("kill point not reached in time")
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, f"run finished within {delay:.2f}s of the kill point"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def names(root: Path) -> list[str]:
    try:
        with os.scandir(root) as it:
            return [entry.name for entry in it]
    except FileNotFoundError:
        return []


def appears(root: Path, prefix: str) -> Callable[[], bool]:
    """A trigger: an entry named ``prefix...`` made by *this* run.

    Leftovers of a killed run carry the same names, so the trigger first waits for the
    new run's recovery to clear them (or for there to be none), then for one to appear.
    """
    cleared = False

    def check() -> bool:
        nonlocal cleared
        present = any(n.startswith(prefix) for n in names(root))
        if not cleared:
            cleared = not present
            return False
        return present

    return check


def leftovers(root: Path) -> list[str]:
    return sorted(n for n in names(root) if n.startswith((TMP, OLD)))


# -- (a) the directory sink --------------------------------------------------------


@pytest.fixture(scope="module")
def big_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("fleet") / "ops"
    ids = _load_fleet().generate(repo, SITES)
    assert len(ids) == SITES
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "300 sites")
    return repo


def test_dir_sink_killed_while_staging_and_swapping_converges_to_a_clean_render(
    big_fleet: Path, tmp_path: Path
) -> None:
    rng = random.Random()
    repo, out, ref = big_fleet, tmp_path / "out", tmp_path / "ref"
    clean = apply_dir(repo, ref)
    assert clean.returncode == 0, clean.stderr[-3000:]
    want = site_dirs(ref)
    assert len(want) >= SITES - 2 and not leftovers(ref)  # suspended sites emit nothing

    # a fresh output directory, killed while staging (swapping is killed below, where
    # there is an old site to lose)
    argv = ["apply", str(repo), "--emit", f"dir:{out}"]
    delay = rng.uniform(0.0, 0.12)
    kill_apply_when(argv, appears(out, TMP), delay=delay)
    assert leftovers(out), f"the kill {delay:.2f}s into staging came too late"
    for site, files in site_dirs(out).items():  # complete, never half-written
        if not site.startswith("."):
            assert files == want[site], f"{site} half-written (kill {delay:.2f}s into staging)"

    again = apply_dir(repo, out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not leftovers(out)
    assert tree(out) == tree(ref)

    # an update of every site, killed while staging and in the middle of swapping old for new
    settings = repo / "edge-bundle" / "argocd-cm.yaml"
    docs = list(yaml.safe_load_all(settings.read_text()))
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            doc.setdefault("data", {})["reliability.drill"] = "v2"
    settings.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    git(repo, "commit", "-qam", "every site's Argo CD config changes")
    try:
        ref2 = tmp_path / "ref2"
        shutil.copytree(ref, ref2)
        clean2 = apply_dir(repo, ref2)
        assert clean2.returncode == 0, clean2.stderr[-3000:]
        new = site_dirs(ref2)
        assert sum(new[s] != want[s] for s in want) >= SITES - 2  # every emitting site changed

        for label, prefix, delay in [
            ("staging the update", TMP, rng.uniform(0.0, 0.1)),
            ("swapping old for new", OLD, 0.0),
        ]:
            kill_apply_when(argv, appears(out, prefix), delay=delay)
            assert leftovers(out), f"the kill while {label} came too late"
            seen = site_dirs(out)
            for site in want:
                if site in seen:  # either the whole old site or the whole new one
                    assert seen[site] in (want[site], new[site]), f"{site} mixed after {label}"
                else:  # caught between its two renames: the old copy is intact beside it
                    assert seen.get(OLD + site) == want[site], f"{site} lost after {label}"

        final = apply_dir(repo, out)
        assert final.returncode == 0, final.stderr[-3000:]
        assert not leftovers(out)
        assert tree(out) == tree(ref2)
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")  # the module's fleet as it was


# -- (b) the kube sink ---------------------------------------------------------------


def applied_at_least(api: KubeAPIServer, n: int) -> bool:
    return sum(applied(api).values()) >= n


KUBE_SITES = [f"site-{i:02d}" for i in range(24)]


def test_kube_sink_killed_mid_apply_converges_with_every_object_applied_once(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "ops"
    write_fleet(repo, KUBE_SITES)
    with KubeAPIServer() as api, KubeAPIServer() as clean:
        seed_edges(clean, KUBE_SITES)
        done = apply_cli(repo, clean.kubeconfig(tmp_path / "clean-kc"))
        assert done.returncode == 0, done.stderr[-3000:]
        want = hashes(clean)
        assert len(want) == 5 * len(KUBE_SITES)

        seed_edges(api, KUBE_SITES)
        kubeconfig = api.kubeconfig(tmp_path / "kc")
        slow = api.faults.latency("/namespaces/", 0.02, verb="patch")  # a WAN link: ~50 applies/s
        argv = ["apply", str(repo), "--emit", "kube", "--kubeconfig", str(kubeconfig)]
        kill_apply_when(argv, partial(applied_at_least, api, 50))
        assert 50 <= len(hashes(api)) < len(want)
        api.faults.remove(slow)

        again = apply_cli(repo, kubeconfig)
        assert again.returncode == 0, again.stderr[-3000:]
        assert hashes(api) == want  # same objects, same spec hashes and revisions, no extras
        ok = applied(api)
        assert sorted(set(ok.values())) == [1]  # each object applied once, across both runs
        assert sum(ok.values()) == len(want)
