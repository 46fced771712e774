"""A rendered tree works both ways kubectl takes it: ``apply -f DIR -R`` and ``apply -k DIR/<site>``.

The files are read by the real kubectl: ``-f -R`` through its resource builder (client
dry run, with the API test server answering discovery), ``-k`` through its built-in
kustomize. The kustomization is named ``Kustomization`` so that ``-f -R``, which reads
only ``.yaml``/``.yml``/``.json`` files, never mistakes it for an object to apply.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops_edge.render.output import KUSTOMIZATION, read_site
from tests.e2e.cli import run_cli

SAMPLE = Path(__file__).resolve().parents[2] / "sample-repo"

pytestmark = pytest.mark.kubeapi


def kubectl(*args: str | Path, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.skip("kubectl is not installed: cannot check the rendered tree with kubectl")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or os.devnull)}
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    res = run_cli("render", SAMPLE, "--out", out, "-q")
    assert res.returncode == 0, res.stderr
    return out


def test_kubectl_apply_k_builds_each_site(tree: Path) -> None:
    for site in ("hainan", "guangdong-shenzhen-1"):
        res = kubectl("kustomize", tree / site)
        assert res.returncode == 0, res.stderr
        built = [d for d in yaml.safe_load_all(res.stdout) if d]
        want = read_site(tree / site)
        key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa: E731
        assert sorted(map(key, built)) == sorted(map(key, want)) and built
        assert (tree / site / KUSTOMIZATION).is_file()


def test_kubectl_apply_f_recursive_reads_every_object_and_nothing_else(
    tree: Path, kube_api_kubeconfig: Path
) -> None:
    res = kubectl(
        "create", "-f", tree, "-R", "--dry-run=client", "--validate=false", "-o", "name",
        kubeconfig=kube_api_kubeconfig,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    names = res.stdout.split()
    objects = sum(len(read_site(d)) for d in tree.iterdir() if d.is_dir())
    assert len(names) == objects > 0
    assert not any("kustomization" in n.lower() for n in names)


def test_kubectl_apply_k_builds_the_whole_tree(tree: Path) -> None:
    """``kubectl apply -k DIR``: the tree's own Kustomization lists every site directory."""
    res = kubectl("kustomize", tree)
    assert res.returncode == 0, res.stderr[-2000:]
    built = [d for d in yaml.safe_load_all(res.stdout) if d]
    sites = sorted(d for d in tree.iterdir() if d.is_dir())
    assert len(sites) == 38
    assert len(built) == sum(len(read_site(d)) for d in sites)
    index = yaml.safe_load((tree / KUSTOMIZATION).read_text())
    assert index["resources"] == [d.name for d in sites]
