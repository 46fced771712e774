"""Removing from karmada-apiserver what left ``federation/``, under the central safety rules.

Only objects gitops-edge applied there are candidates: they carry
``app.kubernetes.io/managed-by: gitops-edge`` and ``gitops-edge.io/federation: resource``
(:data:`~gitops_edge.federation.karmada.APPLIED_SELECTOR`, set by
:func:`~gitops_edge.federation.karmada.apply_federation`); a policy or workload someone
created by hand in karmada-apiserver is never listed, so never removed. And only after a
load of ``federation/`` without any problem (:attr:`FederationDocs.complete`): a file
that failed to parse, or a typo in a kind, must never read as "these objects were
removed". The removals count against ``spec.prune.maxDeletions`` like the central
plan's (:func:`gitops_edge.plan.planner.guard_deletions`): more than that and none
goes out.

Templates are deleted before policies, so a policy that is going too never gets the
chance to claim a template again in between. Each deletion is Karmada's to carry out:
a deleted template takes its ResourceBinding and Works with it, and the member clusters
drop the workload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitops_edge.federation.documents import FederationDocs
from gitops_edge.federation.karmada import (
    APPLIED_SELECTOR,
    POLICY_RESOURCES,
    describe_doc,
    resource_of,
)
from gitops_edge.kinds import MANAGED, Resource
from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import list_if_served

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Removal:
    """What removing stale federation objects did (or, with ``dry_run``, would do)."""

    stale: list[str] = field(default_factory=list)
    """Objects gitops-edge applied that are no longer in ``federation/``."""
    removed: list[str] = field(default_factory=list)
    held: str = ""
    """Non-empty: nothing was removed, and why (problems in federation/, the guard)."""

    def lines(self, *, dry_run: bool) -> list[str]:
        if self.held:
            return [f"federation: {self.held}"] if self.stale or "problems" in self.held else []
        verb = "would remove" if dry_run else "removed"
        return [f"{verb} {s}" for s in (self.stale if dry_run else self.removed)]


def _key(obj: dict[str, Any]) -> Key:
    md = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(md.get("namespace") or ""),
        str(md.get("name", "")),
    )


def applied_objects(karmada: KubeClient) -> list[dict[str, Any]]:
    """Every object gitops-edge applied to karmada-apiserver (templates first, then policies)."""
    kinds: Iterable[Resource] = (*MANAGED, *POLICY_RESOURCES.values())
    out: list[dict[str, Any]] = []
    for res in kinds:
        for obj in list_if_served(karmada, res, label_selector=APPLIED_SELECTOR):
            obj.setdefault("apiVersion", res.api_version)
            obj.setdefault("kind", res.kind)
            out.append(obj)
    return out


def stale_objects(docs: FederationDocs, live: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applied objects with no document in ``federation/`` any more (pure)."""
    wanted = {d.key for d in (*docs.templates, *docs.policies)}
    return [o for o in live if _key(o) not in wanted]


def remove_stale(
    karmada: KubeClient,
    docs: FederationDocs,
    *,
    max_deletions: int,
    already: int = 0,
    dry_run: bool = False,
) -> Removal:
    """Delete what left ``federation/`` (templates, then policies), or say why not.

    ``already``: deletions the central plan of the same run makes; together they must
    stay within ``max_deletions``.
    """
    if not docs.complete:
        return Removal(
            held=f"federation/ has {len(docs.problems)} problem(s): nothing is removed from "
            "karmada-apiserver until they are fixed"
        )
    stale = stale_objects(docs, applied_objects(karmada))
    names = [describe_doc(_key(o)[1], _key(o)[2] or None, _key(o)[3]) for o in stale]
    total = len(stale) + already
    if stale and total > max_deletions:
        central = f" (with {already} in the central plan)" if already else ""
        return Removal(
            names,
            held=f"refused: removing {len(stale)} object(s) from karmada-apiserver{central} "
            f"would delete {total}, more than prune.maxDeletions={max_deletions} in "
            "gitops-edge.yaml; raise the limit for this change or split it",
        )
    if dry_run:
        return Removal(names)
    removed = []
    for obj, name in zip(stale, names, strict=True):
        _api, _kind, namespace, obj_name = _key(obj)
        karmada.delete(resource_of(obj), obj_name, namespace=namespace or None)
        removed.append(name)
    return Removal(names, removed)
