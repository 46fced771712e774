"""Problems get the line and column of their field, found in the file's YAML nodes."""

from __future__ import annotations

from pathlib import Path

from gitops_edge.problems import Problem
from gitops_edge.specs.bundle import load_bundle
from gitops_edge.specs.yamlsafe import compose_all, locate, node_mark

TEXT = """\
metadata:
  labels:
    gitops-edge.io/site: gd
spec:
  eggo:
    masters:
    - {name: m1, ip: 10.0.0.1}
    - name: m2
      ip: 10.0.0.2
"""


def test_paths_walk_mappings_lists_and_dotted_keys() -> None:
    (root,) = compose_all(TEXT)
    assert node_mark(root, "metadata.labels.gitops-edge.io/site") == (3, 5)
    assert node_mark(root, "spec.eggo.masters[0].ip") == (7, 18)
    assert node_mark(root, "spec.eggo.masters[1].ip") == (9, 7)
    assert node_mark(root, "spec.eggo.masters[1]") == (8, 7)


def test_a_missing_field_points_at_its_parent() -> None:
    (root,) = compose_all(TEXT)
    assert node_mark(root, "spec.eggo.masters[1].port") == (8, 7)
    assert node_mark(root, "spec.eggo.masters[5].port") == (6, 5)
    assert node_mark(root, "spec.sshKeySecret") == (4, 1)


def test_locate_fills_lines_and_leaves_whole_file_problems(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(TEXT)
    (tmp_path / "b.yaml").write_text("a: 1\na: 2\n")
    problems = [
        Problem("a.yaml", "spec.eggo.masters[1].ip", "bad"),
        Problem("a.yaml", "", "not checked: something else"),
        Problem("b.yaml", "", "duplicate key 'a' at line 2 (first at line 1); keep one"),
        Problem("gone.yaml", "x", "no such file"),
    ]
    got = {(p.file, p.field): (p.line, p.column) for p in locate(tmp_path, problems)}
    assert got == {
        ("a.yaml", "spec.eggo.masters[1].ip"): (9, 7),
        ("a.yaml", ""): (0, 0),
        ("b.yaml", ""): (2, 1),
        ("gone.yaml", "x"): (0, 0),
    }
    assert str(locate(tmp_path, problems[:1])[0]) == "a.yaml:9:7: spec.eggo.masters[1].ip: bad"


def test_bundle_problems_are_located_in_their_own_document(tmp_path: Path) -> None:
    (tmp_path / "edge-bundle").mkdir()
    (tmp_path / "edge-bundle" / "all.yaml").write_text(
        "---\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  n: 3\n"
    )
    (problem,) = load_bundle(tmp_path, ()).problems
    assert (problem.field, problem.line, problem.column) == ("data.n", 12, 3)
    assert problem.message.startswith("document 2: ")
