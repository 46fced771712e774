"""The command line follows kubectl/flux/argocd habits: -o, completion, plain help, REPO first."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitops_edge.cli import COMMANDS, build_parser
from gitops_edge.commands.completion import script
from tests.builders import province, write_site
from tests.e2e.cli import run_cli

pytestmark = pytest.mark.e2e


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version_and_help_import_no_command() -> None:
    probe = (
        "import sys\n"
        "from gitops_edge.cli import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('kubernetes', 'gitops_edge.commands', 'yaml', 'pydantic')))\n"
        "print(heavy, file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert res.stdout.startswith("gitops-edge 0.1.0\nusage: gitops-edge")
    assert res.stderr.strip() == "[]"


def test_help_has_no_markup_and_every_command_has_o() -> None:
    subs = _subparsers(build_parser(full=True))
    assert sorted(subs) == sorted(COMMANDS)
    for name, sub in subs.items():
        text = sub.format_help()
        assert "``" not in text and ":mod:" not in text and ":class:" not in text, name
    for name in ("validate", "render", "plan", "apply", "status", "run"):
        output = next(a for a in subs[name]._actions if "--output" in a.option_strings)
        assert "-o" in output.option_strings and "json" in (output.choices or ()), name
    assert "markdown" in subs["plan"].format_usage() and "yaml" in subs["status"].format_usage()


def test_bash_completion_completes_commands_and_choices(tmp_path: Path) -> None:
    path = tmp_path / "gitops-edge.bash"
    path.write_text(script("bash"), encoding="utf-8")
    probe = f"""
source {path}
complete -p gitops-edge >/dev/null || exit 3
COMP_WORDS=(gitops-edge st); COMP_CWORD=1; COMP_LINE="gitops-edge st"; COMP_POINT=${{#COMP_LINE}}
_shtab_gitops_edge; echo "1:${{COMPREPLY[*]}}"
COMP_WORDS=(gitops-edge plan -o ''); COMP_CWORD=3; COMP_LINE="gitops-edge plan -o "; COMP_POINT=${{#COMP_LINE}}
_shtab_gitops_edge; echo "2:${{COMPREPLY[*]}}"
COMP_WORDS=(gitops-edge status --st); COMP_CWORD=2; COMP_LINE="gitops-edge status --st"; COMP_POINT=${{#COMP_LINE}}
_shtab_gitops_edge; echo "3:${{COMPREPLY[*]}}"
"""
    res = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(":", 1) for line in res.stdout.splitlines())
    assert lines["1"].split() == ["status"]
    assert lines["2"].split() == ["text", "json", "yaml", "markdown"]
    assert "--state" in lines["3"].split()


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(shell: str, tmp_path: Path) -> None:
    text = script(shell)
    assert "status" in text and "--watch" in text and "markdown" in text
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: only the script's content was checked")
    path = tmp_path / f"gitops-edge.{shell}"
    path.write_text(text, encoding="utf-8")
    res = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def test_completion_is_a_command(tmp_path: Path) -> None:
    res = run_cli("completion", "fish")
    assert res.returncode == 0 and "complete -c gitops-edge" in res.stdout
    bad = run_cli("completion", "tcsh")
    assert bad.returncode == 2 and "invalid choice: 'tcsh'" in bad.stderr


def test_run_takes_repo_first_and_keeps_repo_flag(tmp_path: Path) -> None:
    repo = tmp_path / "ops"
    write_site(repo, "gd", province("gd"))
    res = run_cli("run", repo, "--once", "--emit", f"dir:{tmp_path / 'a'}", "-o", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["sites"][0]["site"] == "gd"
    old = run_cli("run", "--repo", repo, "--once", "--emit", f"dir:{tmp_path / 'b'}")
    assert old.returncode == 0, old.stderr  # deprecated in --help, still accepted
    none = run_cli("run", "--once")
    assert none.returncode == 2 and "the ops repo is missing" in none.stderr


def test_plan_against_and_yaml(tmp_path: Path) -> None:
    repo, out = tmp_path / "ops", tmp_path / "rendered"
    write_site(repo, "gd", province("gd"))
    res = run_cli("plan", repo, "--against", out, "-o", "yaml")
    assert res.returncode == 0, res.stderr
    data = yaml.safe_load(res.stdout)
    assert data["current_wave"] is None and data["sites"][0]["changes"][0]["api_version"] == "v1"
    assert run_cli("plan", repo, "--out", out, "-o", "json").returncode == 0  # deprecated alias
