"""``dir:PATH`` — the no-cluster sink: one directory per site, swapped in atomically.

A site is written into ``PATH/.tmp-<site>`` and swapped in with two renames
(``<site>`` -> ``.old-<site>``, ``.tmp-<site>`` -> ``<site>``). A crash at any point
leaves either the old or the new site on disk, never a mix: :meth:`DirSink.recover`
(run before every read and write) puts the old one back if the swap was cut short.
Sites without changes are not touched, so a second run with nothing new writes nothing.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from gitops_edge.emit.result import EmitResult
from gitops_edge.live.inventory import now_utc
from gitops_edge.live.snapshot import LiveState
from gitops_edge.plan.model import Plan, SitePlan
from gitops_edge.render.output import dump_site, read_site, write_atomic
from gitops_edge.specs.k8s import is_dns1123_label

TMP = ".tmp-"
OLD = ".old-"


class DirSink:
    """Rendered manifests under ``root/<site id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"dir:{self.root}"

    def recover(self) -> list[str]:
        """Finish or undo a swap a crash interrupted; returns the sites it repaired."""
        repaired: list[str] = []
        if not self.root.is_dir():
            return repaired
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(OLD):
                site = entry.name[len(OLD) :]
                target = self.root / site
                if target.exists():
                    shutil.rmtree(entry)
                else:
                    entry.rename(target)
                    repaired.append(site)
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(TMP):
                shutil.rmtree(entry)
        return repaired

    def read_live(self, *, now: datetime | None = None) -> LiveState:
        """The last render on disk, as the planner's live state (no nodes, no run status)."""
        self.recover()
        objects: dict[str, list[dict[str, Any]]] = {}
        if self.root.is_dir():
            for entry in sorted(self.root.iterdir()):
                if (
                    entry.is_dir()
                    and not entry.name.startswith(".")
                    and is_dns1123_label(entry.name)
                ):
                    objects[entry.name] = read_site(entry)
        return LiveState(observed_at=now or now_utc(), objects=objects, has_nodes=False)

    def emit(self, plan: Plan) -> EmitResult:
        result = EmitResult(self.describe())
        if plan.refused:
            result.refused = plan.refused
            return result
        self.recover()
        self.root.mkdir(parents=True, exist_ok=True)
        for site in plan.emitting():
            res = result.site(site.site)
            try:
                if site.gate == "removed" and not _kept(site):
                    self._remove(site.site)
                    res.deleted = len(site.changes)
                else:
                    self._write(site.site, _kept(site))
                    counts = site.counts()
                    res.written = counts["create"] + counts["update"]
                    res.deleted = counts["delete"]
            except OSError as exc:
                res.errors.append(f"cannot write {exc.filename or self.root}: {exc.strerror}")
        return result

    def _write(self, site_id: str, objects: list[dict[str, Any]]) -> None:
        tmp = self.root / f"{TMP}{site_id}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for name, data in dump_site(objects).items():
            write_atomic(tmp / name, data)
        self._swap(site_id, tmp)

    def _swap(self, site_id: str, new: Path | None) -> None:
        target = self.root / site_id
        old = self.root / f"{OLD}{site_id}"
        if target.exists():
            target.rename(old)
        if new is not None:
            new.rename(target)
        if old.exists():
            shutil.rmtree(old)

    def _remove(self, site_id: str) -> None:
        self._swap(site_id, None)


def _kept(site: SitePlan) -> list[dict[str, Any]]:
    """The site's objects after this run: everything planned except deletions, in order."""
    return [c.desired for c in site.changes if c.action != "delete" and c.desired is not None]
