"""kind OpsRepo (``gitops-edge.yaml``): repo-wide settings and the defaults under every site.

``spec.defaults`` stays a plain mapping here: it is a *partial* ProvinceCluster spec,
meaningful only once deep-merged under a site (see :mod:`gitops_edge.specs.merge`),
and it is validated as part of each merged site so an error is reported with the
field path the operator will look for.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gitops_edge.specs import k8s


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Resources(_Settings):
    requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    limits: dict[str, str] = Field(default_factory=lambda: {"memory": "1Gi"})


class EggoRunner(_Settings):
    """How eggo runs on each edge node."""

    mode: Literal["job", "operator"] = "job"
    image: str | dict[Literal["amd64", "arm64"], str] = Field(
        "hub.oepkgs.net/openeuler/eggo:1.0.0",
        description="one multi-arch reference, or one image per kubernetes.io/arch",
    )
    imagePullPolicy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    activeDeadlineSeconds: int = Field(7200, ge=60)
    backoffLimit: int = Field(2, ge=0, le=10)
    ttlSecondsAfterFinished: int | None = Field(None, ge=0)
    resources: Resources = Resources()

    @model_validator(mode="after")
    def _images(self) -> EggoRunner:
        images = [self.image] if isinstance(self.image, str) else list(self.image.values())
        if not images or any(not i or any(c.isspace() for c in i) for i in images):
            raise ValueError("image must be a non-empty image reference without spaces")
        return self


class ArgoCD(_Settings):
    """Applications go to the site namespace, watched by the site's own Argo CD instance."""

    project: str = Field("default", description="Argo CD project of Applications that set none")


class RolloutSettings(_Settings):
    maxFailures: int = Field(
        1,
        ge=0,
        description=(
            "failed sites a wave tolerates before the next waves are held "
            "(0: one failed site holds them; 1: two do)"
        ),
    )


class PruneSettings(_Settings):
    maxDeletions: int = Field(
        50, ge=0, description="a run that would delete more objects than this is refused"
    )


class KubeconfigSecret(_Settings):
    """Where the daemon's kubeconfig for karmada-apiserver lives (never in Git)."""

    namespace: str = Field(
        description="namespace of the Secret (usually the daemon's own)",
        json_schema_extra={"pattern": k8s.DNS1123_LABEL, "maxLength": 63},
    )
    name: str = Field(
        description="Secret name", json_schema_extra={"pattern": k8s.DNS1123_SUBDOMAIN}
    )
    key: str = Field("kubeconfig", description="data key holding the kubeconfig file")

    @model_validator(mode="after")
    def _names(self) -> KubeconfigSecret:
        if not k8s.is_dns1123_label(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a valid namespace name")
        if not k8s.is_dns1123_subdomain(self.name):
            raise ValueError(f"name {self.name!r} is not a valid Secret name")
        if not self.key or not all(c.isalnum() or c in "-._" for c in self.key):
            raise ValueError(f"key {self.key!r} is not a valid Secret data key")
        return self


class KarmadaSettings(_Settings):
    """Bring each built province cluster into one Karmada federation (pull mode).

    Off by default: registration needs an egress flow (or an HTTP CONNECT proxy)
    from every province to karmada-apiserver, which KubeEdge does not carry.
    """

    enabled: bool = Field(False, description="register, label and federate province clusters")
    apiServer: str | None = Field(
        None,
        description="karmada-apiserver address as the provinces reach it (https://host:port)",
    )
    kubeconfigSecret: KubeconfigSecret | None = Field(
        None, description="the Secret holding the daemon's kubeconfig for karmada-apiserver"
    )
    registrationImage: str | dict[Literal["amd64", "arm64"], str] | None = Field(
        None,
        description="image carrying karmadactl: one multi-arch reference, or one per arch",
    )
    proxy: str | None = Field(
        None,
        description="HTTPS_PROXY for the registration Job only (never for eggo): http://host:port",
    )

    @model_validator(mode="after")
    def _complete(self) -> KarmadaSettings:
        if self.apiServer is not None and not self.apiServer.startswith("https://"):
            raise ValueError(
                f"apiServer {self.apiServer!r} must be an https:// URL (karmada-apiserver "
                "serves TLS), e.g. https://karmada.example:5443"
            )
        if self.proxy is not None and not self.proxy.startswith(("http://", "https://")):
            raise ValueError(f"proxy {self.proxy!r} must be an http:// or https:// URL")
        if self.proxy is not None and "@" in self.proxy.partition("://")[2].split("/", 1)[0]:
            raise ValueError("proxy carries credentials; credentials never live in Git")
        images = (
            []
            if self.registrationImage is None
            else [self.registrationImage]
            if isinstance(self.registrationImage, str)
            else list(self.registrationImage.values())
        )
        if any(not i or any(c.isspace() for c in i) for i in images):
            raise ValueError("registrationImage must be image references without spaces")
        if self.enabled:
            missing = [
                f
                for f, v in (
                    ("apiServer", self.apiServer),
                    ("kubeconfigSecret", self.kubeconfigSecret),
                    ("registrationImage", self.registrationImage or None),
                )
                if v is None
            ]
            if missing:
                raise ValueError(
                    f"enabled federation needs {', '.join(missing)}: set them under "
                    "spec.federation.karmada, or set enabled: false"
                )
        return self


class FederationSettings(_Settings):
    karmada: KarmadaSettings = KarmadaSettings()


class OpsRepoSpec(_Settings):
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="partial ProvinceCluster spec merged under every site"
    )
    namespacePrefix: str = Field(
        "edge-",
        description="site namespace = prefix + site id",
        json_schema_extra={"pattern": "^([a-z0-9][-a-z0-9]*)?$", "maxLength": 19},
    )
    eggo: EggoRunner = EggoRunner()
    argocd: ArgoCD = ArgoCD()
    rollout: RolloutSettings = RolloutSettings()
    prune: PruneSettings = PruneSettings()
    federation: FederationSettings = FederationSettings()

    @model_validator(mode="after")
    def _prefix(self) -> OpsRepoSpec:
        if self.namespacePrefix and not k8s.is_dns1123_label(self.namespacePrefix + "x", 20):
            raise ValueError("namespacePrefix must be a short DNS-1123 prefix such as 'edge-'")
        return self


class OpsRepoMetadata(_Settings):
    name: str | None = None


class OpsRepo(_Settings):
    """``gitops-edge.yaml`` at the repo root (optional)."""

    apiVersion: Literal["gitops-edge.io/v1alpha1"]
    kind: Literal["OpsRepo"]
    metadata: OpsRepoMetadata = OpsRepoMetadata()
    spec: OpsRepoSpec = OpsRepoSpec()


DEFAULT_SETTINGS = OpsRepo(apiVersion="gitops-edge.io/v1alpha1", kind="OpsRepo")
