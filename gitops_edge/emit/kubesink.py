"""``kube`` — server-side apply into the central API, as field manager ``gitops-edge``.

Objects are applied in the plan's order (the namespace first) and deleted in reverse
order. A conflict with another field manager is reported, not forced, unless the
operator asked for ``--force-conflicts``; one site's failure never stops the others.
Server-side apply is idempotent, so a run repeated after a crash converges without
duplicates.
"""

from __future__ import annotations

from gitops_edge.emit.result import EmitResult
from gitops_edge.live.client import KubeClient, KubeError
from gitops_edge.live.resources import resource_for
from gitops_edge.plan.model import Plan


class KubeSink:
    def __init__(self, kube: KubeClient, *, force_conflicts: bool = False) -> None:
        self.kube = kube
        self.force = force_conflicts

    def describe(self) -> str:
        return f"kube:{self.kube.host}"

    def emit(self, plan: Plan) -> EmitResult:
        result = EmitResult(self.describe())
        if plan.refused:
            result.refused = plan.refused
            return result
        for site in plan.emitting():
            res = result.site(site.site)
            pending = site.pending()
            for change in [c for c in pending if c.action in ("create", "update")]:
                api_version, kind, namespace, name = change.key
                resource = resource_for(api_version, kind)
                if resource is None or change.desired is None:
                    res.errors.append(
                        f"{change.describe()}: gitops-edge cannot apply kind {api_version}/{kind}"
                    )
                    continue
                try:
                    self.kube.apply(change.desired, resource, force=self.force)
                    res.written += 1
                except KubeError as exc:
                    hint = (
                        " (another field manager owns a field; fix the conflict or apply with --force-conflicts)"
                        if exc.status == 409
                        else ""
                    )
                    res.errors.append(f"{change.describe()}: {exc}{hint}")
            for change in reversed([c for c in pending if c.action == "delete"]):
                api_version, kind, namespace, name = change.key
                resource = resource_for(api_version, kind)
                if resource is None:
                    res.errors.append(
                        f"{change.describe()}: gitops-edge cannot delete kind {api_version}/{kind}"
                    )
                    continue
                try:
                    self.kube.delete(resource, name, namespace=namespace or None)
                    res.deleted += 1
                except KubeError as exc:
                    res.errors.append(f"{change.describe()}: {exc}")
        return result
