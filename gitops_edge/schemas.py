"""JSON Schemas of the two document kinds, generated from the models.

Editors (yaml-language-server) use them to complete and check ``cluster.yaml`` and
``gitops-edge.yaml`` as they are typed; the committed copies under ``schemas/`` are
regenerated with ``gitops-edge schemas --out schemas`` and a test fails when they
drift from the models.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gitops_edge.specs.opsrepo import OpsRepo
from gitops_edge.specs.province import ProvinceCluster, ProvinceSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
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


def all_schemas() -> dict[str, str]:
    """File name -> exact file text (sorted keys, trailing newline) for ``schemas/``."""
    built = {
        "provincecluster.schema.json": province_cluster_schema(),
        "opsrepo.schema.json": ops_repo_schema(),
    }
    return {name: json.dumps(s, indent=2, sort_keys=True) + "\n" for name, s in built.items()}
