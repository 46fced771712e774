"""Review-time federation problems of a repo load: ``federation/`` and settings vs sites.

One entry point for the repo loader, so ``validate`` (and every plan) reports them:
the documents of ``federation/`` (:func:`load_federation`) and, when federation is on,
each federated site the settings cannot serve (no registration image for its arch).
None of these makes a site invalid, and none can cause a deletion.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gitops_edge.federation.documents import load_federation
from gitops_edge.federation.labels import federated, site_arch
from gitops_edge.problems import Problem
from gitops_edge.specs.opsrepo import OpsRepo
from gitops_edge.specs.sites import Site
from gitops_edge.specs.yamlsafe import DEFAULT_LIMITS, Limits

SETTINGS_FILE = "gitops-edge.yaml"


def federation_problems(
    root: Path, settings: OpsRepo | None, sites: Iterable[Site], limits: Limits = DEFAULT_LIMITS
) -> list[Problem]:
    problems = list(load_federation(root, limits).problems)
    if settings is None:
        return problems
    image = settings.spec.federation.karmada.registrationImage
    if not isinstance(image, dict):
        return problems
    missing: dict[str, list[str]] = {}
    for site in sites:
        if federated(site, settings):
            arch = site_arch(site)
            if arch not in image:
                missing.setdefault(arch, []).append(site.id)
    for arch, ids in sorted(missing.items()):
        more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        problems.append(
            Problem(
                SETTINGS_FILE,
                "spec.federation.karmada.registrationImage",
                f"no registration image for arch {arch!r}, which federated site(s) "
                f"{', '.join(ids[:3])}{more} run on; add registrationImage.{arch}",
            )
        )
    return problems
