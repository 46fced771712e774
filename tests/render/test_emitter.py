"""The YAML emitter: what it writes reads back as exactly what was given, every time.

Rendered files are reviewed by people and applied by kubectl (go-yaml, YAML 1.1 rules)
and newer tools (YAML 1.2), so a string is left plain only when it is a string under
both; everything else is a JSON-style double-quoted string, which both read alike.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_edge.render.output import dump_site, dump_yaml, emit_yaml
from gitops_edge.specs.yamlsafe import load_document, parse_text


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(
        [
            "yes", "No", "on", "OFF", "y", "n", "~", "null", "Null", "true", "=", "<<",
            "1e3", "1E3", "0o17", "0x1F", "0b101", "1_000", "1:20", "3.2", ".5", "-1",
            "+1", ".inf", "-.inf", ".nan", "2024-06-01", "2001-12-14t21:59:43.10-05:00",
            "--id", "-d", "-", "---", "...", "a: b", "a #b", "a:", " a", "a ", "",
            "@x", "`x", "|", ">", "!x", "&x", "*x", "%x", "{x}", "[x]", "x,y", "?x",
            "10.64.40.11", "10.32.0.0/16", "host:8443", "unix:///var/run/isulad.sock",
            "a\nb\n", "a\nb", "a\n\nb\n", "a\n", "a\n\n", "\na", " a\nb", "a \nb",
            "a\tb\nc", "a\r\nb", "\x85", "\u2028", "\ufeff", "é", "😀", "\x00\x7f",
        ]
    )
)  # fmt: skip
keys = st.text() | st.integers() | st.booleans() | st.none()
plain_data = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(plain_data)
def test_round_trip_through_pyyaml(value: Any) -> None:
    text = emit_yaml(value)
    assert same(yaml.safe_load(text), value), text


@settings(max_examples=300, deadline=None)
@given(plain_data)
def test_round_trip_through_our_loaders(value: Any) -> None:
    """parse_text's one-pass path and load_document read it as PyYAML does."""
    text = emit_yaml(value)
    assert same(load_document(text), value)
    if len(text.encode()) < 1024 * 1024:
        assert same(parse_text(text), value)


@settings(max_examples=200, deadline=None)
@given(plain_data)
def test_byte_identical_run_to_run(value: Any) -> None:
    assert dump_yaml(value) == dump_yaml(value)
    assert dump_yaml(value) == emit_yaml(value).encode("utf-8")


@pytest.mark.parametrize(
    "word",
    [
        # YAML 1.1 (PyYAML, go-yaml v2 as used by kubectl and eggo)
        "yes", "no", "on", "off", "y", "n", "Y", "N", "~", "null", "1_000", "1:20",
        "0b101", "2024-06-01", "=", "<<",
        # YAML 1.2 core schema
        "1e3", "1E3", "0o17", "0x1F", ".inf", ".nan", "True", "FALSE",
        # a spec hash that is all digits and one "e"
        "37015501359686e3",
    ],
)  # fmt: skip
def test_strings_that_read_as_something_else_are_quoted(word: str) -> None:
    assert emit_yaml({"k": word}) == f'k: "{word}"\n'


@pytest.mark.parametrize(
    "word",
    [
        "registry.ops.example/eggo/eggo:1.0.0-alpha-arm64",
        "10.64.40.11",
        "10.32.0.0/16",
        "unix:///var/run/isulad.sock",
        "--id",
        "-f",
        "CreateNamespace=true",
        "app.kubernetes.io/managed-by",
        "eggo deploy in progress",
    ],
)
def test_everyday_values_stay_plain(word: str) -> None:
    assert emit_yaml({"k": word}) == f"k: {word}\n"


def test_block_layout_matches_kubectl_style() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"a": "b"}, "annotations": {}},
        "data": {"deploy.yaml": "cluster-id: x\nmasters: []\n", "count": "1", "n": "n"},
        "list": [{"name": "a", "ports": [1, 2]}, [3, []], {}],
        "empty": [],
    }
    assert emit_yaml(obj) == (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: x\n"
        "  labels:\n"
        "    a: b\n"
        "  annotations: {}\n"
        "data:\n"
        "  deploy.yaml: |\n"
        "    cluster-id: x\n"
        "    masters: []\n"
        '  count: "1"\n'
        '  "n": "n"\n'  # go-yaml v2 reads a plain n as false, as a key too
        "list:\n"
        "- name: a\n"
        "  ports:\n"
        "  - 1\n"
        "  - 2\n"
        "- - 3\n"
        "  - []\n"
        "- {}\n"
        "empty: []\n"
    )


def test_multi_line_strings_are_literal_blocks_when_exact() -> None:
    assert emit_yaml({"k": "a\nb"}) == "k: |-\n  a\n  b\n"
    assert emit_yaml(["a\n\nb\n"]) == "- |\n  a\n\n  b\n"
    # trailing spaces, tabs, a leading space, extra final newlines: not exact as a block
    for text in ("a \nb\n", "a\tb\nc\n", " a\nb\n", "a\n\n"):
        assert emit_yaml({"k": text}).startswith('k: "'), text


def test_floats_read_back_as_floats_in_yaml_1_1() -> None:
    for value in (1.0, 1e16, 1e-5, -0.0, 5e-324, float("inf"), float("-inf")):
        assert same(yaml.safe_load(emit_yaml(value)), value)
    assert emit_yaml(1e16) == "1.0e+16\n"
    assert math.isnan(yaml.safe_load(emit_yaml(float("nan"))))


def test_other_types_fall_back_to_pyyaml() -> None:
    value = {"when": datetime.date(2024, 6, 1), "blob": b"\x00\x01", "k" * 1200: 1}
    assert yaml.safe_load(emit_yaml(value)) == value


def test_dump_site_is_deterministic_and_readable() -> None:
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge-gd"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}},
    ]
    files = dump_site(objs)
    assert files == dump_site(objs)
    assert files["000-namespace-edge-gd.yaml"] == (
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: edge-gd\n"
    )
