"""``federation/`` in the ops repo: resource templates and Karmada policies, checked at review time.

Every ``.yaml`` file below ``federation/`` may hold several documents. A document is
either one of the four Karmada policy kinds (checked against
:mod:`gitops_edge.federation.schema`, so nothing the API server would prune gets
through) or a resource template, a Kubernetes object of a kind gitops-edge manages
(checked against the Kubernetes schema like an edge-bundle manifest). Loading never
decides a deletion: :attr:`FederationDocs.complete` is False whenever any problem was
found, and the caller then must not remove anything from karmada-apiserver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.federation.schema import API_VERSION, POLICY_KINDS, policy_schema, unknown_fields
from gitops_edge.kinds import resource_for
from gitops_edge.problems import Problem
from gitops_edge.specs import k8s, yamlsafe
from gitops_edge.specs.bundle import BundleDoc, parse_documents, symlinked_dirs
from gitops_edge.specs.kubeschema import schema_findings
from gitops_edge.specs.sites import iter_yaml_files
from gitops_edge.specs.yamlsafe import DEFAULT_LIMITS, Limits, YamlRefused

FEDERATION_DIR = "federation"
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


@dataclass(frozen=True)
class FederatedDoc(BundleDoc):
    """One object of ``federation/`` as written in Git (a bundle document's shape)."""

    @property
    def namespace(self) -> str | None:
        ns = self.body["metadata"].get("namespace")
        return str(ns) if ns else None

    @property
    def is_policy(self) -> bool:
        return self.body.get("apiVersion") == API_VERSION and self.kind in POLICY_KINDS

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (str(self.body["apiVersion"]), self.kind, self.namespace or "", self.name)


@dataclass(frozen=True)
class FederationDocs:
    templates: tuple[FederatedDoc, ...] = ()
    policies: tuple[FederatedDoc, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def complete(self) -> bool:
        """Every file loaded cleanly: only then may a missing object mean "delete it"."""
        return not self.problems


def load_federation(root: Path, limits: Limits = DEFAULT_LIMITS) -> FederationDocs:
    """Read and check ``federation/``; an absent directory is an empty federation."""
    templates: list[FederatedDoc] = []
    policies: list[FederatedDoc] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    problems.extend(
        Problem(
            rel, "", "is a symlinked directory, which is not followed; make it a real directory"
        )
        for rel in symlinked_dirs(root, FEDERATION_DIR)
    )
    for path in iter_yaml_files(root, FEDERATION_DIR):
        rel = yamlsafe.relpath(root, path)
        try:
            text = yamlsafe.read_text(root, path, limits)
            parsed = parse_documents(text, limits)
        except YamlRefused as exc:
            problems.append(Problem(rel, exc.field, exc.message, exc.line, exc.column))
            continue
        nodes: list[yaml.Node] | None = None
        for index, body in enumerate(parsed):
            found = list(document_problems(body))
            prefix = f"document {index + 1}: " if len(parsed) > 1 else ""
            if found:
                if nodes is None:
                    nodes = [
                        n
                        for n in yamlsafe.compose_all(text)
                        if not (
                            isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:null"
                        )
                    ]
                for loc, msg in found:
                    line, col = yamlsafe.node_mark(nodes[index], loc) if loc else (0, 0)
                    problems.append(Problem(rel, loc, prefix + msg, line, col))
                continue
            doc = FederatedDoc(rel, index, body)
            if doc.key in seen:
                problems.append(
                    Problem(
                        rel,
                        "metadata.name",
                        f"{prefix}{doc.kind} {doc.name!r} is also defined in {seen[doc.key]}; "
                        "keep one",
                    )
                )
                continue
            seen[doc.key] = doc.where
            (policies if doc.is_policy else templates).append(doc)
    return FederationDocs(tuple(templates), tuple(policies), tuple(sorted(problems)))


def document_problems(body: Any) -> Iterator[tuple[str, str]]:
    """``(field, message)`` for one document of ``federation/``."""
    if not isinstance(body, dict):
        yield "", "must be a Kubernetes object (a mapping with apiVersion, kind and metadata)"
        return
    api_version, kind = body.get("apiVersion"), body.get("kind")
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str) or not body[key]:
            yield key, "is required (a non-empty string)"
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        yield "metadata", "is required (a mapping with a name)"
        return
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return
    name = meta.get("name")
    if not isinstance(name, str) or not k8s.is_dns1123_subdomain(name):
        yield "metadata.name", f"{name!r} must be a DNS-1123 name (lower-case, digits, '-', '.')"
    for key in SERVER_SET:
        if key in meta:
            yield f"metadata.{key}", "is set by the API server (is this `kubectl get` output?)"
    if "status" in body:
        yield "status", "is written by controllers, not in Git; remove it"
    namespace = meta.get("namespace")
    if api_version.startswith("policy.karmada.io/"):
        yield from _policy_problems(body, api_version, kind, namespace)
        return
    res = resource_for(api_version, kind)
    if kind == "Secret":
        yield "kind", "Secrets do not belong in Git; create them in karmada-apiserver out of band"
    elif res is None:
        yield (
            "kind",
            (
                f"{api_version} {kind} is not a kind gitops-edge federates (it could not be "
                "read back and pruned); use a workload, ConfigMap, Service or another managed kind"
            ),
        )
    elif res.namespaced and not namespace:
        yield (
            "metadata.namespace",
            (
                f"is required: {kind} is namespaced and karmada-apiserver has no site namespace; "
                "name the namespace the workload lives in"
            ),
        )
    else:
        yield from schema_findings(body)


def _policy_problems(
    body: dict[str, Any], api_version: str, kind: str, namespace: Any
) -> Iterator[tuple[str, str]]:
    if api_version != API_VERSION or kind not in POLICY_KINDS:
        yield (
            "kind",
            (
                f"{api_version} {kind} is not a Karmada policy gitops-edge supports; use "
                f"{API_VERSION} {', '.join(POLICY_KINDS)}"
            ),
        )
        return
    _plural, namespaced, _spec = POLICY_KINDS[kind]
    if namespaced and not namespace:
        yield "metadata.namespace", f"is required: {kind} is namespaced"
    if not namespaced and namespace:
        yield "metadata.namespace", f"must not be set: {kind} is cluster-scoped"
    spec = body.get("spec")
    if not isinstance(spec, dict):
        yield "spec", "is required (a mapping)"
        return
    yield from unknown_fields(body, policy_schema(kind))
    if kind.endswith("PropagationPolicy") and not spec.get("resourceSelectors"):
        yield "spec.resourceSelectors", "is required: name the templates this policy propagates"
