"""Build ops repositories on disk for tests: realistic specs, one call per site."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
"""Upstream reference data, a sibling of the repo; tests that need it skip without it."""


def eggo_spec(
    cluster_id: str = "gd-paas-01", *, net: int = 20, arch: str = "arm64"
) -> dict[str, Any]:
    """A complete eggo deploy config (no credentials) for one province cluster."""
    m1 = {"name": "m1", "ip": f"10.{net}.0.11", "port": 22, "arch": arch}
    return {
        "cluster-id": cluster_id,
        "masters": [m1],
        "workers": [
            copy.deepcopy(m1),
            {"name": "w1", "ip": f"10.{net}.0.21", "port": 22, "arch": arch},
        ],
        "runtime": "iSulad",
        "runtime-endpoint": "unix:///var/run/isulad.sock",
        "service": {"cidr": "10.32.0.0/16", "dnsaddr": "10.32.0.10", "gateway": "10.32.0.1"},
        "network": {"podcidr": "10.244.0.0/16", "plugin": "calico"},
        "open-ports": {"worker": [{"port": 179, "protocol": "tcp"}]},
        "install": {
            "package-source": {
                "type": "tar.gz",
                "srcpath": {
                    "arm64": "/root/packages/arm64.tar.gz",
                    "amd64": "/root/packages/amd64.tar.gz",
                },
            },
            "container": [{"name": "iSulad", "type": "repo"}],
        },
    }


def province(site_id: str = "gd", **spec: Any) -> dict[str, Any]:
    """A valid ProvinceCluster document; keyword arguments override ``spec`` keys."""
    body: dict[str, Any] = {
        "sshKeySecret": "eggo-ssh",
        "eggo": eggo_spec(f"{site_id}-paas"),
        "applications": [
            {
                "name": "base",
                "project": "default",
                "source": {
                    "repoURL": "https://git.example/ops.git",
                    "path": "apps/base",
                    "targetRevision": "main",
                },
                "destination": {"namespace": "base"},
            }
        ],
    }
    body.update(spec)
    return {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "ProvinceCluster", "spec": body}


def write_site(root: Path, rel_dir: str, doc: Any) -> Path:
    """Write ``provinces/<rel_dir>/cluster.yaml``; ``doc`` may be a dict or raw text/bytes."""
    path = root / "provinces" / rel_dir / "cluster.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def write_settings(root: Path, spec: dict[str, Any]) -> Path:
    path = root / "gitops-edge.yaml"
    doc = {"apiVersion": "gitops-edge.io/v1alpha1", "kind": "OpsRepo", "spec": spec}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity (tests create real repositories)."""
    env = {
        "GIT_AUTHOR_NAME": "ops",
        "GIT_AUTHOR_EMAIL": "ops@example.org",
        "GIT_COMMITTER_NAME": "ops",
        "GIT_COMMITTER_EMAIL": "ops@example.org",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    out = subprocess.run(
        ["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def git_init_commit(root: Path, message: str = "init") -> str:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")
