"""``gitops-edge init``: a new ops repo that validates, with working modelines and CI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def test_init_writes_a_repo_that_validates_renders_and_checks_in_the_editor(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "ops"
    res = run_cli("init", repo, "--province", "guangdong")
    assert res.returncode == 0, res.stderr
    assert run_cli("validate", repo).stdout.strip() == "1 site(s): 1 valid, 0 invalid"
    assert run_cli("schemas", "--check", "--out", repo / "schemas").returncode == 0
    assert run_cli("render", repo, "--out", tmp_path / "out").returncode == 0
    for path in (repo / "gitops-edge.yaml", repo / "provinces/guangdong/cluster.yaml"):
        text = path.read_text(encoding="utf-8")
        found = MODELINE.match(text)
        assert found, f"{path}: the first line must be the modeline"
        target = (path.parent / found.group(1)).resolve()
        assert target.parent == (repo / "schemas").resolve()
        schema = json.loads(target.read_text(encoding="utf-8"))
        jsonschema.validate(yaml.safe_load(text), schema)
        assert schema["$id"].startswith("https://gitops-edge.io/schemas/v1alpha1/")
    workflow = yaml.safe_load((repo / ".github/workflows/gitops-edge.yml").read_text())
    runs = [s.get("run", "") for s in workflow["jobs"]["validate"]["steps"]]
    assert "gitops-edge validate . --output github" in runs
    assert "gitops-edge schemas --check --out schemas" in runs


def test_init_gitlab_job_uploads_a_code_quality_report(tmp_path: Path) -> None:
    repo = tmp_path / "ops"
    assert run_cli("init", repo, "--ci", "gitlab").returncode == 0
    ci = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())
    job = ci["gitops-edge-validate"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    assert any("--output codequality > gl-code-quality-report.json" in s for s in job["script"])
    assert (repo / "provinces/example/cluster.yaml").is_file()
    assert not (repo / ".github").exists()


def test_init_never_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "ops"
    repo.mkdir()
    (repo / "gitops-edge.yaml").write_text("mine\n")
    res = run_cli("init", repo)
    assert res.returncode == 2
    assert "gitops-edge.yaml" in res.stderr
    assert (repo / "gitops-edge.yaml").read_text() == "mine\n"
    assert not (repo / "provinces").exists()


def test_init_refuses_a_province_that_is_no_site_id(tmp_path: Path) -> None:
    res = run_cli("init", tmp_path / "ops", "--province", "Guang_Dong")
    assert res.returncode == 2
    assert "DNS-1123" in res.stderr
    assert not (tmp_path / "ops").exists()
