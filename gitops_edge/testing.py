"""Build ops repositories and stand in for a sink, for tests of gitops-edge and of tools on it.

Shipped with the package so that the project's own tests, its benchmarks and a
downstream repo's tests build the same realistic input: :func:`province` is a valid
``ProvinceCluster`` (an eggo config that passes eggo's checker, one Application),
:func:`write_site` / :func:`write_settings` put it on disk as an ops repo lays it out,
:func:`git` and :func:`git_init_commit` make that a real repository with a fixed
identity. :class:`MemorySink` is a sink that keeps what it is given in memory: it
answers the :class:`~gitops_edge.emit.protocol.Sink` protocol with the capabilities a
test declares, so the pipeline can be exercised without a directory or a cluster.
:func:`plan_against` (from :mod:`gitops_edge.reconcile`) plans the way every caller of
the planner does, reading what the plan asks beyond the live state given.
"""

from __future__ import annotations

import copy
import subprocess
import zlib
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.emit.protocol import Capabilities
from gitops_edge.emit.result import EmitResult
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan, obj_key
from gitops_edge.reconcile import plan_against as plan_against
from gitops_edge.render.output import in_apply_order

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""The default observation time of a :class:`MemorySink`: tests never read today's date."""


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


class MemorySink:
    """A sink that holds site id -> objects in memory (a test double with real semantics).

    ``emit`` does what a sink must: nothing for a refused plan; for every emitting site,
    creates and updates replace the object by key, deletes remove it, a removed site
    with nothing left disappears; a site's objects are kept in apply order, as every
    sink lays them out. ``read_live`` returns a copy, observed at ``now``.
    By default it declares what a directory declares (no run outcomes, no staging, only
    the newest eggo run kept); ``capabilities=`` declares otherwise.
    """

    def __init__(
        self,
        objects: dict[str, list[dict[str, Any]]] | None = None,
        *,
        capabilities: Capabilities | None = None,
        now: datetime = EPOCH,
        name: str = "memory",
    ) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = copy.deepcopy(objects or {})
        self.capabilities = capabilities or Capabilities(
            reports_outcomes=False, stages=False, keeps_history=False, exclusive=True
        )
        self.now = now
        self.name = name
        self.emitted: list[Plan] = []
        """Every plan given to :meth:`emit`, in order."""

    def describe(self) -> str:
        return self.name

    def read_live(
        self, *, now: datetime | None = None, sites: Collection[str] | None = None
    ) -> LiveState:
        return LiveState(
            observed_at=now or self.now,
            objects=copy.deepcopy(self.objects),
            has_nodes=self.capabilities.reports_outcomes,
        )

    def emit(self, plan: Plan) -> EmitResult:
        self.emitted.append(plan)
        result = EmitResult(self.describe())
        if plan.refused:
            result.refused = plan.refused
            return result
        for site in plan.emitting():
            res = result.site(site.site)
            held = {obj_key(o): o for o in self.objects.get(site.site, [])}
            for change in site.pending():
                if change.action == "delete":
                    if held.pop(change.key, None) is not None:
                        res.deleted += 1
                elif change.desired is not None:
                    held[change.key] = copy.deepcopy(change.desired)
                    res.written += 1
            if held:
                self.objects[site.site] = in_apply_order(held.values())
            else:
                self.objects.pop(site.site, None)
        return result
