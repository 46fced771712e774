"""The federation section of ``plan`` and ``status``: one call each from those commands.

``plan`` (:func:`plan_section`): what one federation pass would change, read-only. The
same :func:`~.overview.federation_pass` the daemon runs, with ``apply=False``:
registrations it would start, Cluster labels checked with a server-side dry run, each
object of ``federation/`` through a dry-run apply (to create / to update / a conflict),
what would be removed from karmada-apiserver, per template the clusters its policy
admits and the ones waves hold; plus the eggo cleanups of this plan that wait for an
unregistration.

``status`` (:func:`status_section`): per federated site whether its Cluster exists and
is Ready (or where its registration stands); per template of ``federation/``, from its
ResourceBinding, per cluster applied and health. Only reads.

Both are ``None`` when ``spec.federation.karmada.enabled`` is false, and a section that
says why when karmada-apiserver cannot be read: the central plan or status still
stands on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitops_edge.federation.documents import load_federation
from gitops_edge.federation.karmada import (
    RESOURCE_BINDINGS,
    client_from_kubeconfig,
    kubeconfig_from_secret,
    reconcile_registration,
    registered,
)
from gitops_edge.federation.labels import federated
from gitops_edge.federation.overview import binding_clusters, federation_pass, selects
from gitops_edge.live.client import KubeClient, KubeError, RetryPolicy
from gitops_edge.live.inventory import nodes_for_site
from gitops_edge.live.state import LiveState
from gitops_edge.plan.model import Plan
from gitops_edge.render.context import RenderContext, placement
from gitops_edge.specs.repo import RepoSpec

MAX_LINES = 200
"""Lines a section shows (text and markdown); the JSON is whole."""


@dataclass(frozen=True)
class Section:
    """One federation section: ``data`` for JSON, ``lines`` for text and markdown."""

    data: dict[str, Any]
    lines: list[str]

    def text(self) -> str:
        shown = self.lines[:MAX_LINES]
        more = len(self.lines) - len(shown)
        tail = [f"  ... {more} more line(s): -o json has them all"] if more > 0 else []
        return "\nfederation (karmada-apiserver):\n" + "".join(
            f"  {line}\n" for line in [*shown, *tail]
        )

    def markdown(self) -> list[str]:
        shown = self.lines[:MAX_LINES]
        out = ["#### Federation (karmada-apiserver)", ""]
        out += [f"- {line}" for line in shown]
        if len(self.lines) > len(shown):
            out.append(f"- ... {len(self.lines) - len(shown)} more line(s)")
        return [*out, ""]


def _karmada(
    central: KubeClient, repo: RepoSpec, retry: RetryPolicy | None
) -> tuple[KubeClient, dict[str, Any]]:
    config = kubeconfig_from_secret(central, repo.settings.spec.federation.karmada)
    return client_from_kubeconfig(config, retry=retry), config


def _unreachable(exc: KubeError) -> Section:
    why = f"karmada-apiserver cannot be read: {exc}"
    return Section({"error": why}, [why])


def held_cleanups(plan: Plan, karmada: KubeClient) -> list[str]:
    """Sites of ``plan`` that start an eggo cleanup while their Cluster still exists."""
    return [
        s.site
        for s in plan.sites
        if s.eggo is not None
        and s.eggo.operation == "cleanup"
        and registered(karmada, s.site) is not None
    ]


def plan_section(
    central: KubeClient,
    repo: RepoSpec,
    live: LiveState,
    plan: Plan,
    *,
    now: datetime,
    revision: str,
    retry: RetryPolicy | None = None,
    held: list[str] | None = None,
) -> Section | None:
    """What the federation pass would do (nothing is written); None when federation is off.

    ``held``: the sites whose eggo cleanup the plan already held (``make_plan``'s
    ``hold_cleanup``); without it, the plan's cleanups are checked here.
    """
    if not repo.settings.spec.federation.karmada.enabled:
        return None
    try:
        karmada, config = _karmada(central, repo, retry)
        report = federation_pass(
            central,
            karmada,
            config,
            repo,
            live,
            now=now,
            apply=False,
            revision=revision,
            deleting=plan.deletions(),
        )
        if held is None:
            held = held_cleanups(plan, karmada)
    except KubeError as exc:
        return _unreachable(exc)
    data = report.as_dict()
    data["cleanups_held"] = held
    lines = report.lines() + [
        f"{site}: eggo cleanup waits: still registered with Karmada; gitops-edge "
        "unregisters it first"
        for site in held
    ]
    return Section(data, lines)


def status_section(
    central: KubeClient,
    repo: RepoSpec,
    live: LiveState,
    *,
    now: datetime,
    revision: str = "unversioned",
    retry: RetryPolicy | None = None,
) -> Section | None:
    """Per federated site registered / Ready; per template applied / healthy per cluster."""
    if not repo.settings.spec.federation.karmada.enabled:
        return None
    ctx = RenderContext(settings=repo.settings, revision=revision)
    try:
        karmada, config = _karmada(central, repo, retry)
        sites = []
        for site in repo.valid_sites:
            if not federated(site, repo.settings):
                continue
            where = placement(site)
            nodes = nodes_for_site(
                live.nodes, node_selector=where.node_selector, node_name=where.node_name
            )
            reg = reconcile_registration(
                central,
                karmada,
                config,
                site,
                ctx,
                eggo_objects=live.site_objects(site.id),
                reports=live.run_reports,
                now=now,
                dry_run=True,
                edge_online=any(n.state == "online" for n in nodes),
            )
            sites.append(reg)
        docs = load_federation(repo.root)
        workloads: list[dict[str, Any]] = []
        for template in docs.templates:
            policy = next(
                (
                    p
                    for p in docs.policies
                    if p.kind.endswith("PropagationPolicy") and selects(p.body, template)
                ),
                None,
            )
            if policy is None:
                continue
            binding = _binding(karmada, template.name, template.kind, template.namespace)
            workloads.append(
                {
                    "template": f"{template.kind} {template.namespace or ''}/{template.name}"
                    if template.namespace
                    else f"{template.kind} {template.name}",
                    "policy": f"{policy.kind} {policy.name}",
                    "bound": binding is not None,
                    "clusters": binding_clusters(binding),
                }
            )
    except KubeError as exc:
        return _unreachable(exc)
    lines = [r.line() for r in sites]
    for w in workloads:
        if not w["bound"]:
            lines.append(f"{w['template']} via {w['policy']}: no ResourceBinding yet")
            continue
        per = ", ".join(
            f"{c} {'applied' if st['applied'] else 'not applied'}/{st['health']}"
            for c, st in sorted(w["clusters"].items())
        )
        lines.append(f"{w['template']} via {w['policy']}: {per or 'no cluster scheduled'}")
    data: dict[str, Any] = {
        "sites": [
            {
                "site": r.site,
                "registration": r.state,
                "registered": r.state == "registered",
                "ready": r.ready,
                "detail": r.detail,
            }
            for r in sites
        ],
        "workloads": workloads,
        "problems": [str(p) for p in docs.problems],
    }
    lines += [f"federation problem: {p}" for p in docs.problems]
    return Section(data, lines)


def _binding(
    karmada: KubeClient, name: str, kind: str, namespace: str | None
) -> dict[str, Any] | None:
    """The template's ResourceBinding (``<name>-<kind>``, Karmada's naming), if any."""
    try:
        return karmada.get(RESOURCE_BINDINGS, f"{name}-{kind.lower()}", namespace=namespace)
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise
