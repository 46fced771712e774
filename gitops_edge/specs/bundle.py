"""The edge bundle: manifests from ``edge-bundle/`` and ``provinces/<site>/edge/``.

These are how the site's Argo CD instance and any other agent get onto an edge node.
They are stamped once per site (namespace, labels, placement), so anything that
cannot be stamped is refused here, at review time: cluster-scoped kinds (forty sites
would fight over one object), a ``metadata.namespace`` (the site namespace is chosen
by gitops-edge), Secrets with data (credentials never live in Git) and values that
are not plain JSON (a YAML timestamp would hash and apply differently).

Every object is also checked against the Kubernetes schema of its kind
(:mod:`gitops_edge.specs.kubeschema`): a ConfigMap value that is a number, an unknown
field, a missing required one, each reported with its field and line.

A problem in the shared ``edge-bundle/`` concerns every site; a problem in a site's
own ``edge/`` concerns that site. Either way, nothing of a broken bundle is emitted:
half an Argo CD install on an edge node is worse than the old one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.kinds import managed_kinds, resource_for
from gitops_edge.problems import Problem, field_path
from gitops_edge.specs import k8s, yamlsafe
from gitops_edge.specs.kubeschema import schema_findings
from gitops_edge.specs.sites import EDGE_DIR, iter_yaml_files
from gitops_edge.specs.yamlsafe import DEFAULT_LIMITS, Limits, YamlRefused

SHARED_DIR = "edge-bundle"

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
"""Kinds that exist once per cluster: stamping them per site would make sites collide."""

SERVER_SET = (
    "uid",
    "resourceVersion",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
"""Metadata a live object carries that would make every apply fail or point elsewhere."""


@dataclass(frozen=True)
class BundleDoc:
    """One manifest of the bundle, as written in Git (not yet stamped for a site)."""

    file: str
    index: int
    body: dict[str, Any] = field(compare=False)

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def where(self) -> str:
        """``file`` or ``file#2`` (document index, 1-based) for messages."""
        return self.file if self.index == 0 else f"{self.file}#{self.index + 1}"


@dataclass(frozen=True)
class EdgeBundle:
    """The shared bundle and each site's own ``edge/`` documents, with their problems."""

    shared: tuple[BundleDoc, ...] = ()
    per_site: Mapping[str, tuple[BundleDoc, ...]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    site_problems: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)

    def for_site(self, site_id: str) -> tuple[BundleDoc, ...]:
        """Shared documents first, then the site's own, in file order."""
        return self.shared + tuple(self.per_site.get(site_id, ()))


EMPTY_BUNDLE = EdgeBundle()


def parse_documents(text: str, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Every document of a multi-document YAML text, empty ones skipped.

    Each document gets the same duplicate-key, depth and alias-expansion checks as
    :func:`gitops_edge.specs.yamlsafe.parse_text`; raises :class:`YamlRefused`.
    """
    loader = yamlsafe.SafeLoader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yamlsafe.check_tree(node, limits)
            docs.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        raise YamlRefused(yamlsafe.yaml_message(exc)) from None
    except RecursionError:
        raise YamlRefused(f"nesting deeper than {limits.max_depth} levels") from None
    except (ValueError, KeyError, AttributeError):
        # PyYAML's constructors raise these, not YAMLError, for an explicit tag whose
        # value does not fit it: `!!int twenty`, `!!bool maybe`, `!!timestamp soon`.
        raise YamlRefused(yamlsafe.TAG_MISMATCH) from None
    finally:
        loader.dispose()
    return [d for d in docs if d is not None]


def load_bundle(
    root: Path, site_dirs: Iterable[tuple[str, str]], limits: Limits = DEFAULT_LIMITS
) -> EdgeBundle:
    """Read ``edge-bundle/`` and, for each ``(site id, site dir)``, ``<site dir>/edge/``."""
    shared, problems = _load_dir(root, SHARED_DIR, limits)
    problems.extend(_clashes(shared))
    per_site: dict[str, tuple[BundleDoc, ...]] = {}
    site_problems: dict[str, tuple[Problem, ...]] = {}
    for site_id, site_dir in site_dirs:
        docs, own = _load_dir(root, f"{site_dir}/{EDGE_DIR}", limits)
        own.extend(_clashes(docs, shared))
        if docs:
            per_site[site_id] = tuple(docs)
        if own:
            site_problems[site_id] = tuple(own)
    return EdgeBundle(tuple(shared), per_site, tuple(problems), site_problems)


def _load_dir(root: Path, rel_dir: str, limits: Limits) -> tuple[list[BundleDoc], list[Problem]]:
    docs: list[BundleDoc] = []
    problems = [
        Problem(
            rel, "", "is a symlinked directory, which is not followed; make it a real directory"
        )
        for rel in symlinked_dirs(root, rel_dir)
    ]
    for path in iter_yaml_files(root, rel_dir):
        rel = yamlsafe.relpath(root, path)
        try:
            text = yamlsafe.read_text(root, path, limits)
            parsed = parse_documents(text, limits)
        except YamlRefused as exc:
            problems.append(Problem(rel, exc.field, exc.message, exc.line, exc.column))
            continue
        nodes: list[yaml.Node] | None = None
        for index, body in enumerate(parsed):
            found = _with_schema(body, list(_doc_problems(body)))
            if found and nodes is None:
                nodes = [  # the documents parse_documents kept (empty ones are skipped)
                    n
                    for n in yamlsafe.compose_all(text)
                    if not (isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:null")
                ]
            prefix = f"document {index + 1}: " if len(parsed) > 1 else ""
            for loc, msg in found:
                line, column = yamlsafe.node_mark(nodes[index], loc) if nodes else (0, 0)
                problems.append(Problem(rel, loc, prefix + msg, line, column))
            if not found:
                docs.append(BundleDoc(rel, index, body))
    return docs, problems


def _with_schema(body: Any, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``found`` plus what the kind's Kubernetes schema says about fields not yet reported."""
    if not isinstance(body, dict) or any(f in ("", "apiVersion", "kind") for f, _ in found):
        return found
    reported = [f for f, _ in found]
    extra = [
        (f, msg)
        for f, msg in schema_findings(body)
        if not any(f == r or f.startswith((r + ".", r + "[")) for r in reported)
    ]
    return found + extra


def symlinked_dirs(root: Path, rel_dir: str) -> Iterator[str]:
    """Directories under ``rel_dir`` that are symlinks: never read, so never silently left out.

    Shared by the edge bundle and ``federation/``."""
    base = root / rel_dir
    if base.is_symlink():
        yield rel_dir
        return
    for dirpath, dirnames, _files in os.walk(base, followlinks=False):
        for name in sorted(dirnames):
            if Path(dirpath, name).is_symlink():
                yield yamlsafe.relpath(root, Path(dirpath, name))


def _doc_problems(body: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(body, dict):
        yield "", "must be a Kubernetes object (a mapping with apiVersion, kind and metadata)"
        return
    for key in ("apiVersion", "kind"):
        if not isinstance(body.get(key), str) or not body[key]:
            yield key, "is required (a non-empty string)"
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        yield "metadata", "is required (a mapping with a name)"
        return
    name = meta.get("name")
    if name is None:
        yield "metadata.name", "is required: a DNS-1123 name (lower-case, digits, '-', '.')"
    elif not isinstance(name, str) or not k8s.is_dns1123_subdomain(name):
        yield "metadata.name", f"{name!r} must be a DNS-1123 name (lower-case, digits, '-', '.')"
    if "namespace" in meta:
        yield (
            "metadata.namespace",
            "must not be set: every bundle object goes to the site's own namespace",
        )
    if "generateName" in meta:
        yield "metadata.generateName", "is not supported: give the object a fixed name"
    for what in ("labels", "annotations"):
        yield from _meta_map_problems(what, meta.get(what))
    for key in SERVER_SET:
        if key in meta:
            yield (
                f"metadata.{key}",
                "is set by the API server of one cluster (is this `kubectl get -o yaml` "
                "output?); remove it",
            )
    kind = body.get("kind")
    if kind in CLUSTER_SCOPED:
        yield (
            "kind",
            f"{kind} is cluster-scoped: stamped once per site it would collide between sites; "
            "install it once in the central cluster instead",
        )
    elif kind == "Secret":
        if "data" not in body and "stringData" not in body:
            yield (
                "kind",
                "Secrets do not belong in Git; create them out of band (kubectl create secret)",
            )
    elif (
        isinstance(body.get("apiVersion"), str)
        and isinstance(kind, str)
        and resource_for(body["apiVersion"], kind) is None
    ):
        yield (
            "kind",
            f"{body.get('apiVersion')}/{kind} is not a kind gitops-edge manages (it could not "
            f"be pruned again); use one of: {', '.join(managed_kinds())}",
        )
    for key in ("data", "stringData"):
        if kind == "Secret" and key in body:
            yield key, "Secrets with data do not belong in Git; create them out of band"
    yield from _non_json(body, ())


def _meta_map_problems(what: str, found: Any) -> Iterator[tuple[str, str]]:
    """``metadata.labels``/``annotations``: string keys and values the API server accepts."""
    if found is None:
        return
    if not isinstance(found, dict):
        yield f"metadata.{what}", "must be a mapping of strings"
        return
    for key, value in found.items():
        if not isinstance(key, str) or not isinstance(value, str):
            yield (
                f"metadata.{what}",
                f"{key!r}: {value!r}: keys and values must be strings; quote them",
            )
            continue
        err = k8s.label_key_error(key)
        if err is None and what == "labels":
            err = k8s.label_value_error(value)
        if err is not None:
            yield f"metadata.{what}", err


def _non_json(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
    """Values the Kubernetes API would read differently from what the file seems to say."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                yield field_path(loc), f"key {key!r} must be a string; quote it"
            else:
                yield from _non_json(child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _non_json(child, (*loc, i))
    elif isinstance(value, float) and not math.isfinite(value):
        yield field_path(loc), f"{value!r} is not a JSON number; quote it if it is text"
    elif value is not None and not isinstance(value, str | int | float | bool):
        yield (
            field_path(loc),
            f"is a YAML {type(value).__name__}, which Kubernetes reads as text; quote it",
        )


def _key(doc: BundleDoc) -> tuple[str, str, str]:
    api = str(doc.body["apiVersion"])
    return (api.split("/")[0] if "/" in api else "", doc.kind, doc.name)


def _clashes(docs: list[BundleDoc], earlier: Iterable[BundleDoc] = ()) -> Iterator[Problem]:
    """Two documents that would be one object in the site namespace."""
    seen = {_key(d): d for d in earlier}
    for doc in docs:
        first = seen.get(_key(doc))
        if first is not None and first is not doc:
            yield Problem(
                doc.file,
                "metadata.name",
                f"{doc.kind} {doc.name!r} is also defined in {first.where}; keep one",
            )
        seen.setdefault(_key(doc), doc)
