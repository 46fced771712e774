"""JSON Schemas of the two document kinds, generated from the models.

Editors (yaml-language-server) use them to complete and check ``cluster.yaml`` and
``gitops-edge.yaml`` as they are typed; the committed copies under ``schemas/`` are
regenerated with ``gitops-edge schemas --out schemas`` and a test fails when they
drift from the models.

Value rules (DNS-1123 names, IPs, CIDRs, Go durations, absolute paths, ``host:port``,
ports 1-65535, arch and package-type enums) come from the same pattern strings the
checker compiles (:mod:`gitops_edge.specs.eggo`, :mod:`gitops_edge.specs.k8s`), so an
editor flags a value where ``validate`` would. A string eggo reads as "unset" (``""``)
is accepted wherever the checker accepts it.

Every schema has a stable ``$id``, ``https://gitops-edge.io/schemas/<apiVersion
version>/<file>``: the URL names the document kind's API version, so it changes only
when the kind does. Editors are pointed at a copy inside the ops repo (``gitops-edge
init`` writes one, ``schemas/``), which works offline and pins the rules to the
gitops-edge version the repo is checked with.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gitops_edge.specs.opsrepo import OpsRepo
from gitops_edge.specs.province import ProvinceCluster, ProvinceSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = "https://gitops-edge.io/schemas/v1alpha1"
"""Where the schemas of ``gitops-edge.io/v1alpha1`` are named (``$id``)."""
FILES = {
    "provincecluster.schema.json": "ProvinceCluster",
    "opsrepo.schema.json": "OpsRepo",
}


def province_cluster_schema() -> dict[str, Any]:
    schema = ProvinceCluster.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, **schema}


def ops_repo_schema() -> dict[str, Any]:
    """OpsRepo, with ``spec.defaults`` described as a ProvinceCluster spec (all optional)."""
    schema = OpsRepo.model_json_schema(by_alias=True)
    spec = ProvinceSpec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    for name, sub in spec.pop("$defs", {}).items():
        defs.setdefault(name, sub)
    partial = copy.deepcopy(spec)
    partial.pop("required", None)
    partial["title"] = "Defaults"
    partial["description"] = (
        "A partial ProvinceCluster spec deep-merged under every site (the site wins, "
        "lists are replaced)."
    )
    defs["OpsRepoSpec"]["properties"]["defaults"] = partial
    return {"$schema": SCHEMA_DIALECT, **schema}


def _plain(node: Any) -> Any:
    """Descriptions without the docstrings' reST literals: editors show them as typed."""
    if isinstance(node, dict):
        return {
            k: v.replace("``", "`") if k == "description" and isinstance(v, str) else _plain(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def all_schemas() -> dict[str, str]:
    """File name -> exact file text (sorted keys, trailing newline) for ``schemas/``."""
    built = {
        "provincecluster.schema.json": province_cluster_schema(),
        "opsrepo.schema.json": ops_repo_schema(),
    }
    return {
        name: json.dumps(_plain({"$id": schema_url(name), **s}), indent=2, sort_keys=True) + "\n"
        for name, s in built.items()
    }


def schema_url(name: str) -> str:
    """The stable ``$id`` of schema file ``name``."""
    return f"{SCHEMA_BASE_URL}/{name}"
