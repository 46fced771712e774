"""Packed live objects: deflated against a dictionary learnt per kind, and always readable."""

from __future__ import annotations

import json
import zlib
from typing import Any

from gitops_edge.live.state import Dictionaries, pack, unpack


def _configmap(site: str, n: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"edge-bundle-{n}",
            "namespace": f"site-{site}",
            "labels": {"app.kubernetes.io/managed-by": "gitops-edge", "gitops-edge.io/site": site},
            "annotations": {"gitops-edge.io/spec-hash": f"{n:064x}"},
        },
        "data": {"deploy.yaml": "cluster:\n  name: " + site + "\n  network:\n    podcidr: 10.0.0.0/16\n"},
    }


def test_every_blob_unpacks_to_its_object_whatever_the_dictionary_learnt_since() -> None:
    dicts = Dictionaries()
    first = [_configmap(f"s{i}", i) for i in range(3)]
    blobs = [dicts.pack("ConfigMap", json.dumps(o).encode()) for o in first]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "eggo"}}
    blobs.append(dicts.pack("Job", json.dumps(job).encode()))  # a new version
    assert [json.loads(dicts.unpack(b)) for b in blobs] == [*first, job]
    assert blobs[0][0] == 1 and blobs[-1][0] == 2 and len(dicts.versions) == 3


def test_a_dictionary_packs_the_second_object_of_a_kind_much_smaller() -> None:
    dicts = Dictionaries()  # this process's own has learnt other ConfigMaps already
    data = [json.dumps(_configmap(f"site-{i:05d}", i), separators=(",", ":")).encode() for i in range(50)]
    plain = sum(len(zlib.compress(d, 1)) for d in data[1:])
    packed = [dicts.pack("ConfigMap", d) for d in data]
    assert [dicts.unpack(b) for b in packed] == data
    assert sum(len(b) for b in packed[1:]) * 2 < plain


def test_pack_and_unpack_give_back_the_object() -> None:
    objs = [_configmap(f"site-{i:05d}", i) for i in range(5)]
    assert [unpack(pack(o)) for o in objs] == objs


def test_the_dictionary_stops_growing_at_its_version_limit() -> None:
    dicts = Dictionaries()
    for n in range(dicts.VERSIONS + 10):
        blob = dicts.pack(f"kind-{n}", b'{"kind":"x"}' * 50)
        assert dicts.unpack(blob) == b'{"kind":"x"}' * 50
    assert len(dicts.versions) == dicts.VERSIONS
    assert all(len(v) <= dicts.WINDOW for v in dicts.versions)
