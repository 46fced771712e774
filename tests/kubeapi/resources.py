"""The kinds the test API server knows about.

A real API server learns its kinds from compiled-in types and CRDs; here a small
registry plays that part so a test can add a kind in one line instead of teaching
the server a new URL layout.  Everything the server does (routing, discovery,
status subresource handling, name validation) is driven by these entries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
SUBRESOURCE_VERBS: tuple[str, ...] = ("get", "patch", "update")

#: How object names are validated: DNS-1123 subdomain (most kinds), DNS-1123
#: label (namespaces), or any path segment (RBAC names such as ``system:foo``).
NAME_SUBDOMAIN = "subdomain"
NAME_LABEL = "label"
NAME_PATH_SEGMENT = "path"


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives in the URL space and how it behaves."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    status_subresource: bool = False
    short_names: tuple[str, ...] = ()
    name_rule: str = NAME_SUBDOMAIN
    verbs: tuple[str, ...] = ALL_VERBS
    singular: str = field(default="")

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` objects of this kind carry (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def prefix(self) -> str:
        """URL prefix of the group version: ``/api/v1`` or ``/apis/<group>/<version>``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """Identity used by the store: (apiVersion, kind)."""
        return (self.api_version, self.kind)

    def collection_path(self, namespace: str | None = None) -> str:
        if self.namespaced and namespace:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"


def _core(kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceType:
    return ResourceType("", "v1", kind, plural, namespaced, **kw)  # type: ignore[arg-type]


def _rt(
    group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw: object
) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, **kw)  # type: ignore[arg-type]


DEFAULT_RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    _core("Namespace", "namespaces", False, status_subresource=True, short_names=("ns",),
          name_rule=NAME_LABEL),
    _core("Node", "nodes", False, status_subresource=True, short_names=("no",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("Pod", "pods", status_subresource=True, short_names=("po",)),
    _core("Service", "services", status_subresource=True, short_names=("svc",)),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", status_subresource=True,
          short_names=("pvc",)),
    _core("Event", "events", short_names=("ev",)),
    # batch / coordination
    _rt("batch", "v1", "Job", "jobs", status_subresource=True),
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    # Argo CD
    _rt("argoproj.io", "v1alpha1", "Application", "applications", status_subresource=True,
        short_names=("app", "apps")),
    _rt("argoproj.io", "v1alpha1", "AppProject", "appprojects", status_subresource=True,
        short_names=("appproj", "appprojs")),
    # eggo
    _rt("eggo.isula.org", "v1", "Cluster", "clusters", status_subresource=True),
    _rt("eggo.isula.org", "v1", "Machine", "machines", status_subresource=True),
    _rt("eggo.isula.org", "v1", "Infrastructure", "infrastructures", status_subresource=True),
    _rt("eggo.isula.org", "v1", "MachineBinding", "machinebindings", status_subresource=True),
    # KubeEdge
    _rt("reliablesyncs.kubeedge.io", "v1alpha1", "ObjectSync", "objectsyncs",
        status_subresource=True),
    _rt("reliablesyncs.kubeedge.io", "v1alpha1", "ClusterObjectSync", "clusterobjectsyncs",
        False, status_subresource=True),
    _rt("apps.kubeedge.io", "v1alpha1", "NodeGroup", "nodegroups", False,
        status_subresource=True),
    _rt("apps.kubeedge.io", "v1alpha1", "EdgeApplication", "edgeapplications",
        status_subresource=True),
    # apps/v1
    _rt("apps", "v1", "Deployment", "deployments", status_subresource=True,
        short_names=("deploy",)),
    _rt("apps", "v1", "DaemonSet", "daemonsets", status_subresource=True, short_names=("ds",)),
    _rt("apps", "v1", "StatefulSet", "statefulsets", status_subresource=True, short_names=("sts",)),
    _rt("batch", "v1", "CronJob", "cronjobs", status_subresource=True, short_names=("cj",)),
    # RBAC (names such as "system:aggregate-to-view" are legal)
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", name_rule=NAME_PATH_SEGMENT),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings",
        name_rule=NAME_PATH_SEGMENT),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False,
        name_rule=NAME_PATH_SEGMENT),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False,
        name_rule=NAME_PATH_SEGMENT),
    # networking / policy
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", status_subresource=True,
        short_names=("pdb",)),
)


class ResourceRegistry:
    """Lookup of resource types by URL (group, version, plural) and by (apiVersion, kind).

    Registration may happen while the server runs, so a test can add a CRD-like
    kind mid-test just as a CRD install would.
    """

    def __init__(self, resources: Iterable[ResourceType] = DEFAULT_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._by_plural: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for rt in resources:
            self.register(rt)

    def register(self, rt: ResourceType) -> ResourceType:
        with self._lock:
            self._by_plural[(rt.group, rt.version, rt.plural)] = rt
            self._by_kind[rt.key] = rt
        return rt

    def add(
        self,
        api_version: str,
        kind: str,
        plural: str | None = None,
        *,
        namespaced: bool = True,
        status_subresource: bool = True,
        **kw: object,
    ) -> ResourceType:
        """Register a kind the way a CRD would (status subresource on by default)."""
        group, _, version = api_version.rpartition("/")
        rt = ResourceType(
            group,
            version,
            kind,
            plural or kind.lower() + "s",
            namespaced,
            status_subresource,
            **kw,  # type: ignore[arg-type]
        )
        return self.register(rt)

    def by_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_plural.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def require(self, api_version: str, kind: str) -> ResourceType:
        rt = self.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"unknown kind {kind!r} in {api_version!r}")
        return rt

    def has_group_version(self, group: str, version: str) -> bool:
        return any(rt.group == group and rt.version == version for rt in self)

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self if rt.group == group and rt.version == version]

    def group_versions(self) -> dict[str, list[str]]:
        """Named groups (the core group excluded) to their versions, in registration order."""
        out: dict[str, list[str]] = {}
        for rt in self:
            if rt.group:
                versions = out.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        return out

    def __iter__(self) -> Iterator[ResourceType]:
        with self._lock:
            return iter(list(self._by_plural.values()))
