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
