"""Safe loading: every hazard is a per-file problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_edge.specs.repo import load_repo
from gitops_edge.specs.yamlsafe import Limits, YamlRefused, load_file, parse_text
from tests.builders import province, write_site

BOMB = "\n".join(
    ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("spec:\n  x: 1\n  y: 2\n  x: 3\n", "duplicate key 'x'"),
        (BOMB, "alias bomb"),
        ("x: " + "[" * 100 + "]" * 100, "nesting deeper"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("a: [1, 2\n", "invalid YAML: line"),
        ("a: !!python/object:os.system x\n", "invalid YAML"),
    ],
)
def test_parse_refusals(text: str, fragment: str) -> None:
    with pytest.raises(YamlRefused) as exc:
        parse_text(text)
    assert fragment in exc.value.message


def test_merge_keys_and_aliases_within_limits_are_fine() -> None:
    data = parse_text("base: &b {x: 1}\nsite:\n  <<: *b\n  y: 2\n")
    assert data["site"] == {"x": 1, "y": 2}


def test_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000)
    with pytest.raises(YamlRefused, match="over the 1000-byte limit"):
        load_file(tmp_path, big, Limits(max_bytes=1000))


def test_non_utf8(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(b"a: 1\nb: \xff\xfe\n")
    with pytest.raises(YamlRefused, match=r"not valid UTF-8 \(byte 0xff at line 2\)"):
        load_file(tmp_path, f)


def test_symlink_escaping_repo(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("secret: 1\n")
    repo = tmp_path / "repo"
    (repo / "provinces" / "gd").mkdir(parents=True)
    (repo / "provinces" / "gd" / "cluster.yaml").symlink_to(outside)
    spec = load_repo(repo)
    (site,) = spec.sites
    assert not site.valid
    assert "outside the repository" in site.problems[0].message


def test_symlink_inside_repo_is_followed(tmp_path: Path) -> None:
    source = write_site(tmp_path / "templates", "gd", province("gd"))
    (tmp_path / "provinces" / "gd").mkdir(parents=True)
    (tmp_path / "provinces" / "gd" / "cluster.yaml").symlink_to(source)
    by_id = {s.id: s for s in load_repo(tmp_path).sites}
    assert by_id["gd"].valid


def test_symlinked_directory_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write_site(outside, "x", province("x"))
    repo = tmp_path / "repo"
    write_site(repo, "gd", province("gd"))
    (repo / "provinces" / "x").symlink_to(outside / "provinces" / "x")
    spec = load_repo(repo)
    assert [s.id for s in spec.sites] == ["gd"]
    assert any("symlinked directory" in p.message for p in spec.problems)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "file is empty"),
        (b"- a\n- b\n", "file is a list"),
        (b"just text\n", "file is a str"),
    ],
)
def test_wrong_top_level(tmp_path: Path, content: bytes, fragment: str) -> None:
    write_site(tmp_path, "gd", content)
    (site,) = load_repo(tmp_path).sites
    assert fragment in site.problems[0].message
