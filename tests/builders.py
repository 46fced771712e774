"""Build ops repositories on disk for tests: realistic specs, one call per site."""

from __future__ import annotations

import copy
import subprocess
import zlib
from pathlib import Path
from typing import Any

import yaml

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
"""Upstream reference data, a sibling of the repo; tests that need it skip without it."""


def eggo_spec(
    cluster_id: str = "gd-paas-01", *, net: int | str = 20, arch: str = "arm64"
) -> dict[str, Any]:
    """A complete eggo deploy config (no credentials) for one province cluster.

    ``net`` picks the hosts' addresses (``10.<net>.0.x``, or ``10.<net>.x`` for a
    two-part string), so that sites built alike do not share a machine.
    """
    prefix = f"10.{net}" if isinstance(net, str) else f"10.{net}.0"
    m1 = {"name": "m1", "ip": f"{prefix}.11", "port": 22, "arch": arch}
    return {
        "cluster-id": cluster_id,
        "masters": [m1],
        "workers": [
            copy.deepcopy(m1),
            {"name": "w1", "ip": f"{prefix}.21", "port": 22, "arch": arch},
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


def site_net(site_id: str) -> int | str:
    """The network of a site's hosts: ``gd`` keeps 10.20.0.0/24, others get their own.

    Two sites may not share a host IP (the fleet is checked as a whole), so each
    site id maps to its own /24 (deterministically, from the id).
    """
    if site_id == "gd":
        return 20
    n = zlib.crc32(site_id.encode())
    return f"{100 + n % 150}.{(n >> 8) % 250}"


def province(site_id: str = "gd", **spec: Any) -> dict[str, Any]:
    """A valid ProvinceCluster document; keyword arguments override ``spec`` keys."""
    body: dict[str, Any] = {
        "sshKeySecret": "eggo-ssh",
        "eggo": eggo_spec(f"{site_id}-paas", net=site_net(site_id)),
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
