"""Parse ``--emit`` targets and pick where live state comes from.

``dir:PATH`` (the no-cluster default), ``kube`` (server-side apply into the cluster the
kubeconfig or the in-cluster ServiceAccount points at) and ``git:REPO#BRANCH``. Each sink
also reads back what it holds, which is the live state ``plan`` diffs against, and
declares what it can do (:class:`~gitops_edge.emit.protocol.Capabilities`); nothing
outside this module asks which sink it holds.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_edge.emit.dirsink import DirSink
from gitops_edge.emit.gitsink import GitSink
from gitops_edge.emit.protocol import Capabilities, Staged
from gitops_edge.emit.result import EmitResult
from gitops_edge.kinds import Resource, resource_for
from gitops_edge.labels import COMPONENT
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan

if TYPE_CHECKING:
    from gitops_edge.live.client import KubeClient

DEFAULT_DIR = Path("rendered")
RECORD = "gitops-edge-record"
"""The ConfigMap that keeps the kube sink's record of the last ``apply``
(:mod:`gitops_edge.record`), in ``--record-namespace`` (default ``$POD_NAMESPACE``, else
:data:`RECORD_NAMESPACE`, where ``deploy/`` runs the daemon). It is not a managed object
(no ``managed-by`` label): no plan ever prunes it. What it cannot see is an edit made in
the cluster since: an incremental ``apply`` plans the sites whose files changed and
leaves drift on the others to ``apply --full`` or the daemon's resync."""
RECORD_NAMESPACE = "gitops-edge"
RECORD_KEY = "record.json.z"
RECORD_COMPONENT = "record"


def record_data(configmap: dict[str, Any] | None) -> bytes | None:
    """The record kept in a :data:`RECORD` ConfigMap; None when there is none or it is damaged."""
    raw = ((configmap or {}).get("binaryData") or {}).get(RECORD_KEY)
    try:
        return zlib.decompress(base64.b64decode(raw, validate=True)) if raw else None
    except (ValueError, zlib.error):
        return None


def _configmaps() -> Resource:
    res = resource_for("v1", "ConfigMap")
    assert res is not None  # ConfigMaps are a managed kind (the edge bundle)
    return res


class KubeLive:
    """KubeSink plus its live reader, so every sink answers ``read_live``."""

    capabilities = Capabilities(
        reports_outcomes=True,
        stages=True,
        keeps_history=True,
        exclusive=False,
        parallel=False,
        records=True,
    )
    """The cluster reports nodes and run outcomes; its API takes concurrent writers. A run
    is staged as write lists (:meth:`KubeSink.stage`) in one process, against one
    snapshot: the live state is one round of lists, not something each worker re-reads.
    The record of the last ``apply`` is the ConfigMap :data:`RECORD` (see there)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        force_conflicts: bool = False,
        record_namespace: str | None = None,
    ) -> None:
        # imported here: a run without a cluster must not load the kubernetes client
        from gitops_edge.emit.kubesink import KubeSink

        self.kube = kube
        self.sink = KubeSink(kube, force_conflicts=force_conflicts)
        self.record_namespace = (
            record_namespace or os.environ.get("POD_NAMESPACE") or RECORD_NAMESPACE
        )

    # -- the record of the last apply -------------------------------------------------

    def read_record(self) -> bytes | None:
        """The record ConfigMap's data; None when there is none or it cannot be read."""
        from gitops_edge.live.client import KubeError

        try:
            obj = self.kube.get(_configmaps(), RECORD, namespace=self.record_namespace)
        except KubeError as exc:
            if exc.status in (403, 404):
                return None  # not allowed to read it, or no namespace: a full run
            raise
        return record_data(obj)

    def write_record(self, data: bytes | None) -> str:
        """Keep ``data`` in the record ConfigMap (None: delete it); a note if it cannot be.

        A namespace that does not exist or a credential that may not write there
        leaves no record: the run itself went out, and the next ``apply`` is a full run.
        """
        from gitops_edge.live.client import KubeError

        res = _configmaps()
        guard = self.sink.may_write  # fenced like every write (a paused old leader writes none)
        try:
            if data is None:
                self.kube.delete(res, RECORD, namespace=self.record_namespace, guard=guard)
                return ""
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": RECORD,
                    "namespace": self.record_namespace,
                    "labels": {COMPONENT: RECORD_COMPONENT},
                },
                "binaryData": {RECORD_KEY: base64.b64encode(zlib.compress(data, 9)).decode()},
            }
            self.kube.apply(body, res, force=True, guard=guard)
        except KubeError as exc:
            if exc.status in (403, 404, 413, 422):  # forbidden, no namespace, too large
                where = f"{self.record_namespace}/{RECORD}"
                return f"no record kept ({where}: {exc}): the next apply is a full run"
            raise
        return ""

    def describe(self) -> str:
        return self.sink.describe()

    def emit(self, plan: Plan) -> EmitResult:
        return self.sink.emit(plan)

    def read_live(
        self, *, now: datetime | None = None, sites: Collection[str] | None = None
    ) -> LiveState:
        from gitops_edge.live.snapshot import read_live

        return read_live(self.kube, now=now, sites=sites)

    def recover(self) -> list[str]:
        return self.sink.recover()

    def snapshot(self, *, now: datetime | None = None) -> LiveState:
        return self.read_live(now=now)

    def stage(self, plan: Plan) -> tuple[list[Staged], EmitResult]:
        return self.sink.stage(plan)

    def commit(self, staged: Iterable[Staged], result: EmitResult | None = None) -> EmitResult:
        return self.sink.commit(staged, result)

    def discard(self, staged: Iterable[Staged]) -> None:
        self.sink.discard(staged)


class SinkSpecError(ValueError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-edge"


def parse_git_target(spec: str) -> tuple[str, str]:
    """``git:REPO#BRANCH`` -> (REPO, BRANCH); BRANCH defaults to ``rendered``."""
    body = spec.removeprefix("git:")
    repo, _, branch = body.rpartition("#") if "#" in body else (body, "", "rendered")
    if not repo:
        raise SinkSpecError(f"{spec!r}: expected git:REPO#BRANCH")
    return repo, branch or "rendered"


def is_kube(spec: str) -> bool:
    return spec == "kube"


def open_file_sink(spec: str, *, cache: Path | None = None) -> DirSink | GitSink:
    """A ``dir:`` or ``git:`` sink from its ``--emit`` spelling."""
    if spec.startswith("dir:"):
        path = spec.removeprefix("dir:")
        if not path:
            raise SinkSpecError("dir: needs a path, e.g. dir:rendered")
        return DirSink(Path(path))
    if spec.startswith("git:"):
        repo, branch = parse_git_target(spec)
        return GitSink(repo, branch, cache_dir=cache or cache_dir(), work_tree=DirSink)
    raise SinkSpecError(f"unknown sink {spec!r}: use dir:PATH, kube or git:REPO#BRANCH")
