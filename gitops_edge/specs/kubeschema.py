"""Edge-bundle objects checked against the Kubernetes OpenAPI schema of their kind.

``kubectl apply`` and server-side apply refuse ``data: {a: 1}`` in a ConfigMap, an
unknown field in a Deployment (field validation is Strict by default since 1.27) or
a port given as a list; without this check the refusal comes at apply time, on one
site after another. The schemas are those of the ``kubernetes-validate`` package
(generated from each Kubernetes release's OpenAPI document, strict variant: unknown
fields are errors), read straight from its data files so that each kind's validator
is built once per process rather than once per object as its ``validate()`` does.
Kinds it has no schema for (Argo CD's and other CRDs) are not checked here.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from gitops_edge.problems import field_path

KUBERNETES_VERSION = "1.30"
"""The API version the bundle is checked against: the oldest central cluster supported.
Newer servers accept what 1.30 accepts for the kinds gitops-edge manages."""

_PACKAGE = "kubernetes_validate"
_DIR = f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local-strict"

Finding = tuple[str, str]


def _file_name(api_version: str, kind: str) -> str:
    """``apps/v1`` ``Deployment`` -> ``deployment-apps-v1.json`` (the package's naming)."""
    group, _, version = api_version.rpartition("/")
    group = group.split(".", 1)[0]
    return f"{kind.lower()}-{group}-{version}.json" if group else f"{kind.lower()}-{version}.json"


def _read(name: str) -> Any:
    return json.loads(resources.files(_PACKAGE).joinpath(f"{_DIR}/{name}").read_text("utf-8"))


@functools.cache
def _registry() -> Any:
    from referencing import Registry, Resource

    return Resource.from_contents(_read("_definitions.json")) @ Registry()


@functools.cache
def validator_for(api_version: str, kind: str) -> Any | None:
    """A jsonschema validator for the kind, or None when the package has no schema for it."""
    try:
        schema = _read(_file_name(api_version, kind))
    except (FileNotFoundError, IsADirectoryError, ValueError):
        return None
    import jsonschema

    return jsonschema.Draft202012Validator(schema, registry=_registry())


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "a list", dict: "a mapping", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _leaves(error: Any) -> list[Any]:
    """The most specific errors under a ``oneOf``/``anyOf`` (``int-or-string`` and such)."""
    inner = list(error.context or ())
    if not inner:
        return [error]
    deepest = max(len(e.absolute_path) for e in inner)
    if deepest <= len(error.absolute_path):
        return [error]  # no branch got further: the value fits none of them
    return [leaf for e in inner if len(e.absolute_path) == deepest for leaf in _leaves(e)]


def _describe(error: Any, where: str) -> Iterator[Finding]:
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "type":
        expected = [t for t in (error.validator_value or []) if t != "null"] or ["?"]
        if isinstance(error.validator_value, str):
            expected = [error.validator_value]
        names = {"object": "a mapping", "array": "a list", "integer": "an integer"}
        want = " or ".join(names.get(t, f"a {t}") for t in expected)
        quote = "; quote it" if "string" in expected else ""
        yield (
            field_path(path),
            f"must be {want}, got {_type_name(error.instance)} {error.instance!r}{quote} {where}",
        )
    elif kind == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        for key in error.instance:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            yield field_path((*path, str(key))), f"unknown field {key!r}{hint} {where}"
    elif kind == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        for key in missing:
            yield field_path((*path, key)), f"is required {where}"
    elif kind in ("oneOf", "anyOf"):
        yield (
            field_path(path),
            f"{error.instance!r} fits none of the forms the field takes {where}",
        )
    else:
        yield field_path(path), f"{error.message} {where}"


def schema_findings(body: dict[str, Any]) -> list[Finding]:
    """(field, message) for every place ``body`` breaks its kind's Kubernetes schema."""
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return []
    validator = validator_for(api_version, kind)
    if validator is None:
        return []
    where = f"(Kubernetes {KUBERNETES_VERSION} schema of {api_version} {kind})"
    found: list[Finding] = []
    for error in validator.iter_errors(body):
        for leaf in _leaves(error):
            found.extend(_describe(leaf, where))
    return sorted(set(found))
