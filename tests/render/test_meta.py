"""Labels, annotations and the spec hash."""

from __future__ import annotations

import copy

from gitops_edge.render import meta


def sample() -> dict[str, object]:
    return meta.k8s_object(
        "v1",
        "ConfigMap",
        meta.metadata("x", "edge-gd", meta.site_labels("gd", "edge-bundle"), {"a": "b"}),
        data={"k": "v"},
    )


def test_key_order_is_apiversion_kind_metadata_then_rest() -> None:
    assert list(sample()) == ["apiVersion", "kind", "metadata", "data"]
    assert list(sample()["metadata"]) == ["name", "namespace", "labels", "annotations"]  # type: ignore[call-overload]


def test_spec_hash_ignores_revision_and_itself() -> None:
    a = meta.finish(sample(), "1" * 40)
    b = meta.finish(sample(), "2" * 40)
    ann_a = a["metadata"]["annotations"]
    ann_b = b["metadata"]["annotations"]
    assert ann_a[meta.SPEC_HASH] == ann_b[meta.SPEC_HASH]
    assert len(ann_a[meta.SPEC_HASH]) == 16
    assert int(ann_a[meta.SPEC_HASH], 16) >= 0
    assert ann_a[meta.SOURCE_REVISION] == "1" * 40
    assert meta.spec_hash(a) == ann_a[meta.SPEC_HASH]


def test_spec_hash_follows_content_and_other_annotations() -> None:
    base = meta.finish(sample(), "r")
    changed = sample()
    changed["data"] = {"k": "w"}
    other = sample()
    other["metadata"]["annotations"]["a"] = "c"  # type: ignore[index]
    hashes = {meta.spec_hash(o) for o in (base, meta.finish(changed, "r"), meta.finish(other, "r"))}
    assert len(hashes) == 3


def test_finish_is_idempotent() -> None:
    once = meta.finish(sample(), "r")
    twice = meta.finish(copy.deepcopy(once), "r")
    assert once == twice


def test_spec_hash_without_annotations_equals_empty_annotations() -> None:
    obj = meta.k8s_object("v1", "Namespace", meta.metadata("n", None, {}))
    with_empty = copy.deepcopy(obj)
    with_empty["metadata"]["annotations"] = {}
    assert meta.spec_hash(obj) == meta.spec_hash(with_empty)


def test_label_value_stays_valid_for_long_values() -> None:
    long = "a" * 40 + "." + "b" * 40
    value = meta.label_value(long)
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
    assert meta.label_value(long) == value
    assert meta.label_value("short") == "short"
