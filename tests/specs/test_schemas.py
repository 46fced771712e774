"""The committed JSON Schemas match the models, and accept what the models accept."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gitops_edge.schemas import all_schemas
from tests.builders import province

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_committed_schema_matches_models(name: str) -> None:
    committed = (SCHEMAS / name).read_text(encoding="utf-8")
    assert committed == all_schemas()[name], (
        f"schemas/{name} is stale: run `gitops-edge schemas --out schemas`"
    )


def test_schema_accepts_a_valid_site_and_rejects_unknown_keys() -> None:
    schema = json.loads(all_schemas()["provincecluster.schema.json"])
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = province("gd")
    jsonschema.validate(doc, schema)
    doc["spec"]["eggo"]["bindport"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_opsrepo_schema_describes_defaults() -> None:
    schema = json.loads(all_schemas()["opsrepo.schema.json"])
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = {
        "apiVersion": "gitops-edge.io/v1alpha1",
        "kind": "OpsRepo",
        "spec": {"defaults": {"eggo": {"runtime": "iSulad"}}},
    }
    jsonschema.validate(doc, schema)
    doc["spec"]["defaults"]["eggo"]["runtimee"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
