"""Which sites are federated, and the labels of each one's Karmada ``Cluster``.

karmada-agent creates its ``Cluster`` itself and may write only ``clusters/status``
(its RBAC from ``karmadactl register``, ``pkg/karmadactl/register/register.go``,
karmada-io/karmada 0533b555), so labels on a Cluster are the centre's to set. They
are computed purely from the site: policies select provinces by ``region``, ``arch``
and so on, and a site edit in Git moves its cluster in or out of a policy.
"""

from __future__ import annotations

from gitops_edge.specs.eggo import K8S_ARCH
from gitops_edge.specs.opsrepo import OpsRepo
from gitops_edge.specs.province import ProvinceSpec
from gitops_edge.specs.sites import PROVINCES, Site


def spec_of(site: Site) -> ProvinceSpec:
    """The valid site's spec (this module is loaded by the repo loader, before render)."""
    if site.spec is None or site.problems:
        raise ValueError(f"site {site.id!r} is not valid")
    return site.spec.spec


def federated(site: Site, settings: OpsRepo) -> bool:
    """The site joins the federation: its own ``enabled``, else the repo's."""
    if not site.valid:
        return False
    own = spec_of(site).federation.karmada.enabled
    return settings.spec.federation.karmada.enabled if own is None else own


def cluster_name(site: Site) -> str:
    """The Karmada Cluster of a site is named after the site id (``--cluster-name``)."""
    return site.id


def site_arch(site: Site) -> str:
    """The province cluster's ``kubernetes.io/arch``: declared edge arch, else first master's."""
    spec = spec_of(site)
    if spec.edge.arch is not None:
        return spec.edge.arch
    first = spec.eggo.masters[0].arch if spec.eggo is not None and spec.eggo.masters else ""
    return K8S_ARCH.get(first, first) or "amd64"


def cluster_labels(site: Site) -> dict[str, str]:
    """site, province, region (from the site's ``region`` label), arch, wave, clusterLabels."""
    spec = spec_of(site)
    assert site.spec is not None  # spec_of checked validity
    province = site.dir.removeprefix(PROVINCES + "/").split("/", 1)[0]
    labels = {
        **spec.federation.karmada.clusterLabels,
        "site": site.id,
        "province": province,
        "arch": site_arch(site),
        "wave": str(spec.rollout.wave),
    }
    region = site.spec.metadata.labels.get("region")
    if region:
        labels["region"] = region
    return dict(sorted(labels.items()))


def cluster_waves(sites: list[Site], settings: OpsRepo) -> dict[str, int]:
    """Cluster name -> rollout wave, for every federated site."""
    return {cluster_name(s): spec_of(s).rollout.wave for s in sites if federated(s, settings)}
