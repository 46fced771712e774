"""``dir:PATH`` — the no-cluster sink: one directory per site, swapped in atomically.

A site is written into ``PATH/.tmp-<site>`` and swapped in with two renames
(``<site>`` -> ``.old-<site>``, ``.tmp-<site>`` -> ``<site>``). A crash at any point
leaves either the old or the new site on disk, never a mix: :meth:`DirSink.recover`
(run before every read and write) puts the old one back if the swap was cut short.
Sites without changes are not touched, so a second run with nothing new writes nothing.

A run over many sites can be split in two passes (:meth:`DirSink.stage`, then
:meth:`DirSink.commit` or :meth:`DirSink.discard`): every changed site is written into
its ``.tmp-<site>`` first, chunk by chunk and in any number of processes, and only
swapped in once the whole run is known to be acceptable (the mass-deletion guard).
Staged directories are ordinary ``.tmp-`` directories, so a crash between the passes
leaves every site as it was and the next :meth:`recover` clears them away.

The sink keeps the record of its last ``apply`` (:meth:`DirSink.write_record`) in
``PATH/.gitops-edge-record``, and stamps the directory's mtime with a value written in
that file. Every site swap renames an entry of ``PATH``, which sets its mtime to the
time of the change, so a ``render --out PATH``, a second tool or a hand-removed site
after the record was written makes the stamp disagree, and the record is not trusted
(:meth:`DirSink.read_record` answers None: the next ``apply`` is a full run). An edit
inside a site's own directory does not touch ``PATH``'s mtime, so every entry below
``PATH`` is checked too: a file or directory changed after the stamp (a hand edit, in
place or by an editor's rename) is a full run that repairs it. Every file the sink
writes is older than the stamp, which is taken after the run's last write.

Live state is read lazily: :meth:`read_live` lists the site directories, and a site's
files are parsed only when the planner asks for that site, so a one-site plan reads
one site and a full run never holds every site's live objects at once.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from gitops_edge.emit.protocol import Capabilities, Staged
from gitops_edge.emit.result import EmitResult
from gitops_edge.live.inventory import now_utc
from gitops_edge.live.state import LazySites, LiveState, Unread
from gitops_edge.plan.model import Plan, SitePlan
from gitops_edge.render.output import KUSTOMIZATION, dump_site, dump_tree, read_site
from gitops_edge.specs.k8s import is_dns1123_label

TMP = ".tmp-"
OLD = ".old-"
RECORD = ".gitops-edge-record"
INDEX_TMP = ".kustomization-new"
"""Where the tree's kustomization is written before it is renamed into place."""


class DirSink:
    """Rendered manifests under ``root/<site id>/``; a :class:`StagingSink`."""

    capabilities = Capabilities(
        reports_outcomes=False, stages=True, keeps_history=False, exclusive=True, records=True
    )
    """Files report nothing back (every wave goes at once), a run can be staged, a site
    keeps only its newest eggo run, the directory is one work tree, and it keeps the
    record of the last run."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"dir:{self.root}"

    def recover(self) -> list[str]:
        """Finish or undo a swap a crash interrupted; returns the sites it repaired."""
        repaired: list[str] = []
        if not self.root.is_dir():
            return repaired
        for name in self._leftovers(OLD):
            entry = self.root / name
            site = name[len(OLD) :]
            target = self.root / site
            if target.exists():
                shutil.rmtree(entry)
            else:
                entry.rename(target)
                repaired.append(site)
        for name in self._leftovers(TMP):
            shutil.rmtree(self.root / name)
        return repaired

    def _leftovers(self, prefix: str) -> list[str]:
        """Names in the root starting with ``prefix``, sorted (one scan, no Path per entry)."""
        with os.scandir(self.root) as it:
            return sorted(e.name for e in it if e.name.startswith(prefix))

    def read_live(
        self, *, now: datetime | None = None, sites: Collection[str] | None = None
    ) -> LiveState:
        """The last render on disk, as the planner's live state (no nodes, no run status)."""
        self.recover()
        return self.snapshot(now=now)

    def snapshot(self, *, now: datetime | None = None) -> LiveState:
        """:meth:`read_live` without :meth:`recover` (safe while other processes stage)."""
        names: list[str] = []
        if self.root.is_dir():
            with os.scandir(self.root) as it:
                names = sorted(
                    e.name
                    for e in it
                    if not e.name.startswith(".") and e.is_dir() and is_dns1123_label(e.name)
                )
        return LiveState(
            observed_at=now or now_utc(),
            objects=SitesOnDisk(self.root, names),
            has_nodes=self.capabilities.reports_outcomes,
        )

    def emit(self, plan: Plan) -> EmitResult:
        if plan.refused:
            result = EmitResult(self.describe())
            result.refused = plan.refused
            return result
        self.recover()
        staged, result = self.stage(plan)
        return self.commit(staged, result)

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]:
        """Pass 1: write every emitting site of ``plan`` into its ``.tmp-<site>``.

        Nothing a reader sees changes. A site that cannot be written gets its error in
        the result and is left out of the returned list.
        """
        result = EmitResult(self.describe())
        staged: list[Staged] = []
        self.root.mkdir(parents=True, exist_ok=True)
        for site in plan.emitting():
            res = result.site(site.site)
            try:
                if site.gate == "removed" and not _kept(site):
                    staged.append(Staged(site.site, True, deleted=len(site.changes)))
                else:
                    self._write(site.site, _kept(site))
                    counts = site.counts()
                    staged.append(
                        Staged(
                            site.site,
                            False,
                            written=counts["create"] + counts["update"],
                            deleted=counts["delete"],
                        )
                    )
            except OSError as exc:
                res.errors.append(f"cannot write {exc.filename or self.root}: {exc.strerror}")
                shutil.rmtree(self.root / f"{TMP}{site.site}", ignore_errors=True)
        return staged, result

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult:
        """Pass 2: swap each staged site in (or remove it); counts go into ``result``."""
        result = result or EmitResult(self.describe())
        swapped = False
        for item in staged:
            res = result.site(item.site)
            try:
                if item.remove:
                    self._swap(item.site, None)
                else:
                    self._swap(item.site, self.root / f"{TMP}{item.site}")
            except OSError as exc:
                res.errors.append(f"cannot write {exc.filename or self.root}: {exc.strerror}")
                continue
            res.written += item.written
            res.deleted += item.deleted
            swapped = True
        if swapped:
            self.write_index()
        return result

    def discard(self, staged: Iterable[Staged]) -> None:
        """Drop staged sites without touching the live ones (a refused run)."""
        for item in staged:
            shutil.rmtree(self.root / f"{TMP}{item.site}", ignore_errors=True)

    def read_record(self) -> bytes | None:
        """The last record written, or None: none, unreadable, or the directory changed since."""
        try:
            head, _, data = (self.root / RECORD).read_bytes().partition(b"\n")
            stamp = int(head.decode("ascii"))
            changed = self.root.stat().st_mtime_ns != stamp or _changed_after(self.root, stamp)
        except (OSError, ValueError):
            return None
        return None if changed else data

    def write_record(self, data: bytes | None) -> str:
        """Keep ``data`` (None: drop the record), then stamp the directory's mtime."""
        path = self.root / RECORD
        if data is None:
            path.unlink(missing_ok=True)
            return ""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = time.time_ns()
        tmp = self.root / f"{RECORD}.new"  # not .tmp-: recover() clears those as sites
        tmp.unlink(missing_ok=True)
        write_atomic(tmp, str(stamp).encode("ascii") + b"\n" + data)
        tmp.replace(path)
        os.utime(self.root, ns=(stamp, stamp))
        return ""

    def write_site(self, site_id: str, objects: list[dict[str, Any]]) -> tuple[list[str], bool]:
        """One site's objects, staged and swapped in at once: what ``render`` writes.

        The same layout (:func:`~gitops_edge.render.output.dump_site`) and the same swap
        as :meth:`emit`, so ``render --out X`` and ``apply --emit dir:X`` give the same
        tree. A site whose files already hold these bytes is not touched. Returns the
        file names and whether anything was written; call :meth:`recover` once first.
        """
        files = dump_site(objects)
        if _holds(self.root / site_id, files):
            return list(files), False
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._write_files(site_id, files)
            self._swap(site_id, self.root / f"{TMP}{site_id}")
        except OSError:
            shutil.rmtree(self.root / f"{TMP}{site_id}", ignore_errors=True)
            raise
        return list(files), True

    def write_index(self) -> bool:
        """Write ``root/Kustomization`` listing every site directory (``kubectl apply -k
        root``); renamed into place, and only when it changes. Returns whether it did."""
        if not self.root.is_dir():
            return False
        with os.scandir(self.root) as it:
            sites = [
                e.name
                for e in it
                if not e.name.startswith(".")
                and e.is_dir()
                and (Path(e.path) / KUSTOMIZATION).is_file()
            ]
        index = self.root / KUSTOMIZATION
        if not sites and not index.exists():
            return False
        data = dump_tree(sites)
        try:
            if index.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        tmp = self.root / INDEX_TMP
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.replace(index)
        return True

    def _write(self, site_id: str, objects: list[dict[str, Any]]) -> None:
        self._write_files(site_id, dump_site(objects))

    def _write_files(self, site_id: str, files: dict[str, bytes]) -> None:
        tmp = self.root / f"{TMP}{site_id}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        for name, data in files.items():
            write_atomic(tmp / name, data)

    def _swap(self, site_id: str, new: Path | None) -> None:
        target = self.root / site_id
        old = self.root / f"{OLD}{site_id}"
        if target.exists():
            target.rename(old)
        if new is not None:
            new.rename(target)
        if old.exists():
            shutil.rmtree(old)


def write_atomic(path: Path, data: bytes) -> None:
    """Write one new file into a staging directory.

    The directory is this run's alone until it is swapped in whole, which is what makes
    a site's update atomic, so each file is written in place: no temporary name, no
    rename (100 000 files at 10 000 sites make the difference). Mode 0644 whatever the
    umask: renders are not secret and other tools read them.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class SitesOnDisk(LazySites):
    """Site id -> its objects on disk, each site's files parsed only when asked for.

    The keys (the site directories) are listed up front; ``get``/``[]`` read that one
    site's directory on every call and keep nothing, so a report over 10 000 sites
    holds one site's live objects at a time. A directory gone since the listing reads
    as no objects (nothing is ever deleted because of it; it is re-created). The
    planner reads no file: it plans against :meth:`read_now` of the sites it plans.
    """

    reads_files = True

    def __init__(self, root: Path, names: Iterable[str]) -> None:
        super().__init__(names)
        self.root = root

    def _read(self, site_id: str) -> list[dict[str, Any]]:
        try:
            return read_site(self.root / site_id)
        except FileNotFoundError:
            return []

    def read_now(self, sites: Collection[str]) -> LazySites:
        return ReadSites(self, sites)

    def __repr__(self) -> str:
        return f"SitesOnDisk({os.fspath(self.root)!r}, {list(self)!r})"


class ReadSites(LazySites):
    """:class:`SitesOnDisk` with some sites' files read: what the planner is given.

    Every site directory is a key; the sites read hold their objects, and asking for
    any other raises :class:`~gitops_edge.live.state.Unread` (read it and plan again),
    so no file is opened inside the planner.
    """

    def __init__(self, disk: SitesOnDisk, sites: Collection[str]) -> None:
        super().__init__(dict.keys(disk))
        self.disk = disk
        self._load(sites)

    def _load(self, sites: Collection[str]) -> None:
        for site_id in sites:
            if dict.__contains__(self, site_id) and self.held(site_id) is None:
                dict.__setitem__(self, site_id, self.disk._read(site_id))

    def _read(self, site_id: str) -> list[dict[str, Any]]:
        raise Unread(
            f"site {site_id}'s files in {self.disk.root}", lambda live: live.reading([site_id])
        )

    def read_now(self, sites: Collection[str]) -> LazySites:
        more = self.lazy_copy()
        assert isinstance(more, ReadSites)
        more._load(sites)
        return more

    def each(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        for site_id in dict.keys(self):
            held = self.held(site_id)
            yield site_id, self.disk._read(site_id) if held is None else held

    def __repr__(self) -> str:
        return f"ReadSites({os.fspath(self.disk.root)!r})"


def _changed_after(root: Path, stamp: int) -> bool:
    """Whether any file or directory below ``root`` was modified after ``stamp`` (ns).

    One ``stat`` per entry (a 3 000-site tree: ~60 000, a few tens of ms); symlinks are
    not followed (the sink writes none)."""
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith(RECORD):
                    continue  # the record itself, written with the stamp
                if entry.stat(follow_symlinks=False).st_mtime_ns > stamp:
                    return True
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
    return False


def _holds(site_dir: Path, files: dict[str, bytes]) -> bool:
    """``site_dir`` holds exactly ``files`` (names and bytes), and nothing else."""
    try:
        with os.scandir(site_dir) as it:
            names = {e.name for e in it}
        if names != set(files):
            return False
        for name, data in files.items():
            path = site_dir / name
            if path.is_symlink() or path.read_bytes() != data:
                return False
    except OSError:
        return False
    return True


def _kept(site: SitePlan) -> list[dict[str, Any]]:
    """The site's objects after this run: everything planned except deletions, in order."""
    return [c.desired for c in site.changes if c.action != "delete" and c.desired is not None]
