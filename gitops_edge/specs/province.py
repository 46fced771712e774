"""kind ProvinceCluster: one site of the fleet, as operators write it in Git.

The model is the user-facing API of ``provinces/**/cluster.yaml`` (SPEC.md). It is
strict: an unknown key is an error with a suggestion, because a misspelt
``deletionPolicy`` that silently means ``Retain`` is exactly the 3 a.m. surprise the
ops repo exists to prevent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from gitops_edge.labels import SITE
from gitops_edge.specs import k8s
from gitops_edge.specs.eggo import DeployConfig, exact

API_VERSION = "gitops-edge.io/v1alpha1"
SITE_LABEL = SITE
CLUSTER_LABEL_KEYS = ("site", "province", "region", "arch", "wave")
"""Karmada Cluster labels computed from the site (so policies select ``region=south``);
``clusterLabels`` may not set them."""
MAX_SITE_ID = 48
"""Leaves room for the namespace prefix and the longest derived object name."""

_NAME_SCHEMA: JsonDict = {"pattern": k8s.DNS1123_SUBDOMAIN, "maxLength": 253}
_RELATIVE_PATH: JsonDict = {"pattern": exact(r"(?!/)(?!(.*/)?\.\.(/|$)).*")}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        err = k8s.label_key_error(key) or k8s.label_value_error(value)
        if err:
            raise ValueError(err)
    return labels


class Metadata(_Spec):
    name: str | None = Field(
        None,
        description="optional; when present it must equal the site id",
        json_schema_extra={"pattern": k8s.DNS1123_LABEL, "maxLength": MAX_SITE_ID},
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="free labels, used to select rollout waves",
        json_schema_extra=k8s.label_schema(),
    )
    annotations: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels")(_check_labels)


class Toleration(_Spec):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None


class Edge(_Spec):
    """Which KubeEdge edge node(s) of this site run eggo and the site's Argo CD."""

    nodeSelector: dict[str, str] | None = Field(
        None,
        description="default: {gitops-edge.io/site: <site id>}",
        json_schema_extra=k8s.label_schema(),
    )
    nodeName: str | None = Field(
        None, description="alternative to nodeSelector", json_schema_extra=_NAME_SCHEMA
    )
    arch: Literal["amd64", "arm64"] | None = Field(
        None, description="the edge node's kubernetes.io/arch; a mismatch with the live node blocks"
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="added to the unreachable/not-ready tolerations"
    )

    _selector = field_validator("nodeSelector")(lambda v: v if v is None else _check_labels(v))

    @model_validator(mode="after")
    def _one_way(self) -> Edge:
        if self.nodeName is not None and self.nodeSelector is not None:
            raise ValueError("set nodeName or nodeSelector, not both")
        if self.nodeName is not None and not k8s.is_dns1123_subdomain(self.nodeName):
            raise ValueError(f"nodeName {self.nodeName!r} is not a valid node name")
        return self


class AppSource(_Spec):
    """The subset of Argo CD's ApplicationSource operators use; passed through verbatim."""

    repoURL: str = Field(min_length=1)
    path: str | None = Field(None, json_schema_extra=_RELATIVE_PATH)
    chart: str | None = None
    targetRevision: str | None = None
    ref: str | None = None
    helm: dict[str, Any] | None = None
    kustomize: dict[str, Any] | None = None
    directory: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None

    @field_validator("repoURL")
    @classmethod
    def _no_credentials(cls, v: str) -> str:
        scheme, sep, rest = v.partition("://")
        userinfo = rest.split("/", 1)[0].rpartition("@")[0] if sep else ""
        if ":" in userinfo:
            raise ValueError(
                f"repoURL carries credentials ({scheme}://{userinfo.split(':')[0]}:***@...); "
                "credentials never live in Git: register the repository with the site's Argo CD"
            )
        return v

    @model_validator(mode="after")
    def _path_or_chart(self) -> AppSource:
        if self.path is None and self.chart is None and self.ref is None:
            raise ValueError("set path (a directory in the repo) or chart (a Helm chart)")
        if self.path is not None and (self.path.startswith("/") or ".." in self.path.split("/")):
            raise ValueError(f"path {self.path!r} must be relative to the repo, without '..'")
        return self


class AppDestination(_Spec):
    server: str | None = Field(
        None, description="default: https://<site cluster API endpoint from spec.eggo>"
    )
    name: str | None = None
    namespace: str | None = None


class Automated(_Spec):
    prune: bool | None = None
    selfHeal: bool | None = None
    allowEmpty: bool | None = None
    enabled: bool | None = None


class SyncPolicy(_Spec):
    automated: Automated | None = None
    syncOptions: list[str] = Field(default_factory=list)
    retry: dict[str, Any] | None = None
    managedNamespaceMetadata: dict[str, Any] | None = None


class Application(_Spec):
    """One Argo CD Application delivered by this site's Argo CD instance."""

    name: str = Field(json_schema_extra=_NAME_SCHEMA)
    project: str | None = Field(
        None, description="default: spec.argocd.project in gitops-edge.yaml"
    )
    source: AppSource | None = None
    sources: list[AppSource] | None = None
    destination: AppDestination = AppDestination()
    syncPolicy: SyncPolicy | None = None
    ignoreDifferences: list[dict[str, Any]] | None = None
    revisionHistoryLimit: int | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not k8s.is_dns1123_subdomain(v):
            raise ValueError(f"{v!r} is not a DNS-1123 name (lower-case, digits, '-', '.')")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Application:
        if (self.source is None) == (self.sources is None):
            raise ValueError("set exactly one of source or sources")
        return self


class Rollout(_Spec):
    wave: int = Field(0, ge=0, le=1000, description="lower waves go first")


class SiteKarmada(_Spec):
    """This site's membership of the Karmada federation."""

    enabled: bool | None = Field(
        None, description="default: spec.federation.karmada.enabled in gitops-edge.yaml"
    )
    clusterLabels: dict[str, str] = Field(
        default_factory=dict,
        description="extra labels on the site's Karmada Cluster, for policies to select",
        json_schema_extra=k8s.label_schema(),
    )

    _labels = field_validator("clusterLabels")(_check_labels)

    @field_validator("clusterLabels")
    @classmethod
    def _not_reserved(cls, v: dict[str, str]) -> dict[str, str]:
        taken = sorted(k for k in v if k in CLUSTER_LABEL_KEYS)
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: gitops-edge sets the {', '.join(CLUSTER_LABEL_KEYS)} "
                "labels from the site itself; use another key"
            )
        return v


class SiteFederation(_Spec):
    karmada: SiteKarmada = SiteKarmada()


class ProvinceSpec(_Spec):
    edge: Edge = Edge()
    eggo: DeployConfig | None = Field(
        None, description="eggo's deploy -f config, keys exactly as eggo reads them"
    )
    sshKeySecret: str | None = Field(
        None,
        description="Secret (key ssh-privatekey) in the site namespace that eggo logs in with",
        json_schema_extra=_NAME_SCHEMA,
    )
    allowRebuild: bool = Field(
        False, description="allow eggo changes that need a cluster rebuild (cleanup + deploy)"
    )
    applications: list[Application] = Field(default_factory=list)
    rollout: Rollout = Rollout()
    suspend: bool = False
    deletionPolicy: Literal["Retain", "Cleanup"] = "Retain"
    federation: SiteFederation = SiteFederation()


class ProvinceCluster(_Spec):
    """``provinces/<site>/cluster.yaml``."""

    apiVersion: Literal["gitops-edge.io/v1alpha1"]
    kind: Literal["ProvinceCluster"]
    metadata: Metadata = Metadata()
    spec: ProvinceSpec


def spec_findings(spec: ProvinceSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules that span several fields of a site spec, each with its own location."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    if spec.eggo is not None and not spec.sshKeySecret:
        out.append(
            (
                ("sshKeySecret",),
                "required with eggo: name the Secret (key ssh-privatekey) eggo logs in with, "
                "here or in gitops-edge.yaml spec.defaults",
            )
        )
    if spec.sshKeySecret is not None and not k8s.is_dns1123_subdomain(spec.sshKeySecret):
        out.append((("sshKeySecret",), f"{spec.sshKeySecret!r} is not a valid Secret name"))
    seen: dict[str, int] = {}
    for i, app in enumerate(spec.applications):
        if app.name in seen:
            out.append(
                (
                    ("applications", i, "name"),
                    f"duplicate application name {app.name!r} (also applications[{seen[app.name]}])",
                )
            )
        seen.setdefault(app.name, i)
    return out
