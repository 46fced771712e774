"""The cleanup veto: no eggo cleanup of a site still registered with Karmada.

A cleanup cannot be undone, so it waits while the site's Cluster is registered
(:func:`~gitops_edge.federation.unregistration.cleanup_hold`) and while whether it is
cannot be read. The daemon asks its watched view (:mod:`gitops_edge.federation.loop`);
a one-shot ``apply``, ``plan`` or ``status`` asks karmada-apiserver per site, and
only when the repo enables federation: without it nothing of Karmada is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops_edge.federation.unregistration import cleanup_hold
from gitops_edge.live.client import KubeError
from gitops_edge.specs.repo import load_settings

if TYPE_CHECKING:
    from gitops_edge.federation.view import KarmadaView
    from gitops_edge.live.client import KubeClient


@dataclass
class CleanupHolds:
    """One reconcile's ``hold_cleanup`` veto; remembers the sites it held."""

    reason_unknown: str = ""
    """Non-empty: karmada-apiserver could not be read; every cleanup waits, for this."""
    view: KarmadaView | None = None
    lookup: Callable[[str], dict[str, Any] | None] | None = None
    """Without a view (``gitops-edge apply``): the site's Cluster, read when asked."""
    held: list[str] = field(default_factory=list)

    def __call__(self, site: str) -> str | None:
        reason: str | None = None
        if not self.reason_unknown:
            try:
                if self.view is not None:
                    reason = cleanup_hold(site, self.view.cluster(site))
                elif self.lookup is not None:
                    reason = cleanup_hold(site, self.lookup(site))
            except KubeError as exc:
                self.reason_unknown = f"karmada-apiserver cannot be read ({exc})"
        if self.reason_unknown:
            reason = (
                f"eggo cleanup of site {site} waits: {self.reason_unknown}, so gitops-edge "
                "cannot tell whether it is still registered with Karmada"
            )
        if reason is not None and site not in self.held:
            self.held.append(site)
        return reason


def one_shot_holds(central: KubeClient, root: Path) -> CleanupHolds | None:
    """The cleanup veto for one ``gitops-edge apply`` (no daemon, no view): GETs per site.

    None when the repo's settings do not enable federation (or cannot be read: then
    the run plans nothing destructive anyway). The cleanup of a site still registered
    with Karmada waits; ``gitops-edge federation --apply`` or the daemon unregisters it.
    """
    settings, _problems, _digest = load_settings(root)
    if settings is None or not settings.spec.federation.karmada.enabled:
        return None
    from gitops_edge.federation.karmada import (
        client_from_kubeconfig,
        kubeconfig_from_secret,
        registered,
    )

    try:
        karmada = client_from_kubeconfig(
            kubeconfig_from_secret(central, settings.spec.federation.karmada)
        )
    except KubeError as exc:
        return CleanupHolds(reason_unknown=f"karmada-apiserver cannot be read ({exc})")
    return CleanupHolds(lookup=lambda site: registered(karmada, site))
