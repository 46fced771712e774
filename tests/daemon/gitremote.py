"""A real ops repo remote for daemon tests: a bare repository plus the operator's clone.

Tests change the fleet the way operators do, by committing in a work tree and pushing
to the bare "remote" the daemon follows (``file://`` URL or bare path), including
force-pushes that rewrite history.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.builders import git, province, write_site

SITES = ("beijing", "guangdong", "guangdong/shenzhen-1")
"""Two provinces and one nested edge site: the smallest fleet with every shape."""


class OpsRemote:
    """``tmp/ops.git`` (bare, branch main) and ``tmp/ops-work`` (its clone)."""

    def __init__(self, tmp: Path, sites: tuple[str, ...] = SITES, *, subdir: str = "") -> None:
        self.tmp = tmp
        self.bare = tmp / "ops.git"
        self.work = tmp / "ops-work"
        self.subdir = subdir
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.bare))
        self.work.mkdir()
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "remote", "add", "origin", str(self.bare))
        for rel in sites:
            self.write_site(rel)
        (self.work / "README.md").write_text("ops repo\n")
        self.commit("fleet", push=True)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    @property
    def tree(self) -> Path:
        """The ops tree inside the work tree (``--path``)."""
        return self.work / self.subdir if self.subdir else self.work

    def write_site(self, rel_dir: str, **spec: Any) -> Path:
        site_id = rel_dir.replace("/", "-")
        return write_site(self.tree, rel_dir, province(site_id, **spec))

    def write(self, rel_path: str, data: Any) -> Path:
        path = self.tree / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text)
        return path

    def remove(self, rel_path: str) -> None:
        path = self.tree / rel_path
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()

    def commit(self, message: str, *, push: bool = True) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        if push:
            git(self.work, "push", "-q", "origin", "main")
        return self.head()

    def head(self) -> str:
        return git(self.work, "rev-parse", "HEAD")

    def rewrite(self, message: str = "rewritten") -> str:
        """Replace the last commit with a different one and force-push (history rewritten)."""
        git(self.work, "reset", "-q", "--hard", "HEAD~1")
        self.write("provinces/beijing/edge/rewritten.yaml", _config_map("rewritten"))
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "--force", "origin", "main")
        return self.head()

    def reset_to(self, sha: str) -> None:
        """Point the remote branch at ``sha`` (force), and the work tree with it."""
        git(self.work, "reset", "-q", "--hard", sha)
        git(self.work, "push", "-q", "--force", "origin", "main")


def apps(target: str) -> list[dict[str, Any]]:
    """``spec.applications`` with one Argo CD Application at ``targetRevision: target``."""
    return [
        {
            "name": "base",
            "project": "default",
            "source": {
                "repoURL": "https://git.example/ops.git",
                "path": "apps/base",
                "targetRevision": target,
            },
            "destination": {"namespace": "base"},
        }
    ]


def edge_config_map(name: str, value: str = "1") -> dict[str, Any]:
    """An edge-bundle manifest: a ConfigMap the bundle stamps per site."""
    return _config_map(name, value)


def _config_map(name: str, value: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"v": value},
    }
