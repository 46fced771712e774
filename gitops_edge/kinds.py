"""The API kinds gitops-edge reads or writes: plain data shared by the core and the I/O kits.

The edge-bundle loader (pure) refuses kinds that are not here, so a manifest that the
kube sink could not apply, or the planner could never read back and prune, fails at
review time; the live client (I/O) uses the same table to address the API.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One API resource: enough to list, watch, get, apply and delete it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    snake: str = ""
    """Core resources only: the generated client's method suffix (``config_map``), for
    callers that use the typed API classes directly."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def core(self) -> bool:
        return self.group == ""

    def describe(self) -> str:
        """``nodes`` / ``jobs.batch``: how RBAC and kubectl name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{name}" if name else ""
        return f"{base}{ns}/{self.plural}{tail}"


NODES = Resource("", "v1", "nodes", "Node", False, "node")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False, "namespace")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True, "config_map")
SECRETS = Resource("", "v1", "secrets", "Secret", True, "secret")
SERVICES = Resource("", "v1", "services", "Service", True, "service")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", True, "service_account")
PODS = Resource("", "v1", "pods", "Pod", True, "pod")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True)
JOBS = Resource("batch", "v1", "jobs", "Job", True)
CRONJOBS = Resource("batch", "v1", "cronjobs", "CronJob", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet", True)
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet", True)
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True)
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True)
APPLICATIONS = Resource("argoproj.io", "v1alpha1", "applications", "Application", True)
APPPROJECTS = Resource("argoproj.io", "v1alpha1", "appprojects", "AppProject", True)
EGGO_CLUSTERS = Resource("eggo.isula.org", "v1", "clusters", "Cluster", True)
EGGO_MACHINES = Resource("eggo.isula.org", "v1", "machines", "Machine", True)
EGGO_INFRASTRUCTURES = Resource("eggo.isula.org", "v1", "infrastructures", "Infrastructure", True)
PVCS = Resource(
    "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "persistent_volume_claim"
)
NETWORKPOLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True)
PDBS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True)
OBJECTSYNCS = Resource("reliablesyncs.kubeedge.io", "v1alpha1", "objectsyncs", "ObjectSync", True)

MANAGED = (
    NAMESPACES,
    CONFIGMAPS,
    SERVICES,
    SERVICEACCOUNTS,
    PVCS,
    JOBS,
    CRONJOBS,
    DEPLOYMENTS,
    STATEFULSETS,
    DAEMONSETS,
    ROLES,
    ROLEBINDINGS,
    NETWORKPOLICIES,
    PDBS,
    APPLICATIONS,
    APPPROJECTS,
    EGGO_CLUSTERS,
    EGGO_MACHINES,
    EGGO_INFRASTRUCTURES,
)
"""Kinds gitops-edge may emit, listed by its managed-by label to find what it owns."""

BY_KIND: dict[tuple[str, str], Resource] = {(r.api_version, r.kind): r for r in MANAGED}


def resource_for(api_version: str, kind: str) -> Resource | None:
    """The resource of a manifest gitops-edge may emit (``apps/v1``, ``Deployment``), or None.

    Secrets, Pods and other kinds it never reads back are not here: what cannot be
    listed by label cannot be pruned, so it must not be emitted either.
    """
    return BY_KIND.get((api_version, kind))


def managed_kinds() -> list[str]:
    """``apiVersion/Kind`` of every kind that may be emitted, for messages."""
    return sorted(f"{r.api_version}/{r.kind}" for r in MANAGED)
