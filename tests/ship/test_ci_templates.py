"""The pull-request templates in ``deploy/ci/``: they parse, and what they run exists.

Every ``gitops-edge`` command line in the GitLab and GitHub templates is checked
against ``gitops-edge <cmd> --help`` (subcommand and every flag; the CLI's ``main``
in-process, which is what ``python -m gitops_edge`` runs), every
script block passes ``bash -n``, and the scripts themselves are run end to end on a
real git repository with ``gitops-edge`` on PATH and fakes for ``curl`` and ``gh``:
validate fails on an invalid site, plan renders the target branch, diffs against it
and posts (then updates) one comment. The read-only CI identity
(``deploy/ci/plan-rbac.yaml``) is checked like the daemon's RBAC: it allows every call
``plan`` and ``status`` make, and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from gitops_edge.cli import main
from tests.builders import git, province, write_site

from .rbac import allowed, grants_for
from .scenarios import Observed, api_server, cli, job_mode_repo, seed_edge_nodes

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "deploy" / "ci"
GITLAB = CI / "gitlab-ci.yml"
GITHUB = CI / "github-actions.yml"
PLAN_RBAC = CI / "plan-rbac.yaml"
MARKER = "<!-- gitops-edge-plan -->"


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def gitlab_jobs() -> dict[str, dict[str, Any]]:
    """Job name -> job, with ``extends`` resolved one level (what the templates use)."""
    data = _load(GITLAB)
    jobs = {}
    for name, job in data.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        merged = dict(data[job["extends"]]) if "extends" in job else {}
        merged.update(job)
        jobs[name] = merged
    return jobs


def gitlab_script(job: dict[str, Any]) -> str:
    return "\n".join([*job.get("before_script", []), *job["script"]])


def github_steps(job: str) -> list[dict[str, Any]]:
    return list(_load(GITHUB)["jobs"][job]["steps"])


def scripts() -> dict[str, str]:
    """Every shell script of both templates, by where it comes from."""
    out = {f"gitlab {name}": gitlab_script(job) for name, job in gitlab_jobs().items()}
    for job in _load(GITHUB)["jobs"]:
        for i, step in enumerate(github_steps(job)):
            if "run" in step:
                out[f"github {job} step {i} ({step.get('name', '')})"] = step["run"]
    return out


# -- structure ------------------------------------------------------------------------


def test_gitlab_template_runs_on_merge_requests() -> None:
    jobs = gitlab_jobs()
    assert {"gitops-edge-validate", "gitops-edge-plan"} <= set(jobs)
    for name, job in jobs.items():
        rules = " ".join(str(r.get("if", "")) for r in job.get("rules") or [])
        assert "merge_request_event" in rules, f"{name} must run in merge request pipelines"
    plan = gitlab_script(jobs["gitops-edge-plan"])
    assert "/merge_requests/$CI_MERGE_REQUEST_IID/notes" in plan
    assert "PRIVATE-TOKEN: $GITOPS_EDGE_GITLAB_TOKEN" in plan


def test_github_template_runs_on_pull_requests() -> None:
    data = _load(GITHUB)
    on = data.get("on", data.get(True)) or {}  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on
    # least privilege per job: nothing by default, the comment right only where it is used
    assert data["permissions"] == {}
    assert data["jobs"]["validate"]["permissions"] == {"contents": "read"}
    assert data["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = " ".join(s.get("run", "") for s in github_steps("plan"))
    assert "gh pr comment" in runs and "--edit-last" in runs


def test_github_actions_are_pinned_by_commit() -> None:
    text = GITHUB.read_text(encoding="utf-8")
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)(.*)$", text, flags=re.MULTILINE)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{ref}: pin a full commit"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), f"{ref}: name its tag in a comment"


def test_no_placeholder_install_source() -> None:
    for path in (GITHUB, GITLAB):
        text = path.read_text(encoding="utf-8")
        assert "git.example" not in text and "example/ops/gitops-edge.git" not in text, path.name


PINNED = (
    "gitops-edge==0.1.0",
    "gitops-edge @ git+https://git.ops.internal/ops/gitops-edge.git@" + "a" * 40,
)
UNPINNED = (
    "",
    "gitops-edge",
    "gitops-edge>=0.1",
    "gitops-edge @ git+https://git.ops.internal/ops/gitops-edge.git@v0.1.0",
    "gitops-edge @ git+https://git.ops.internal/ops/gitops-edge.git",
    "gitops-edge==0.1.0; rm -rf /",
)


def _install_scripts() -> dict[str, str]:
    github = next(
        s["run"] for s in github_steps("validate") if s.get("name") == "Install gitops-edge"
    )
    gitlab = "\n".join(gitlab_jobs()["gitops-edge-validate"]["before_script"])
    return {"github": github, "gitlab": gitlab}


@pytest.mark.parametrize("spec", [*PINNED, *UNPINNED])
@pytest.mark.parametrize("template", ["github", "gitlab"])
def test_install_takes_only_a_pinned_spec(
    template: str, spec: str, tmp_path: Path, ci_env: dict[str, str]
) -> None:
    bin_dir = Path(ci_env["PATH"].split(os.pathsep)[0])
    _executable(bin_dir / "python", f'#!/bin/sh\necho "python $*" >> {tmp_path / "pip.log"}\n')
    proc = subprocess.run(
        ["bash", "-e", "-c", _install_scripts()[template]],
        env={**ci_env, "GITOPS_EDGE_PIP_SPEC": spec},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    installed = (tmp_path / "pip.log").read_text() if (tmp_path / "pip.log").exists() else ""
    if spec in PINNED:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "-m pip install --quiet " + spec in installed
    else:
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert (
            "GITOPS_EDGE_PIP_SPEC" in proc.stdout + proc.stderr
            and "pinned" in proc.stdout + proc.stderr
        )
        assert not installed


@pytest.mark.parametrize("where", sorted(scripts()))
def test_scripts_are_valid_bash(where: str) -> None:
    text = re.sub(r"\$\{\{[^}]*\}\}", "x", scripts()[where])
    proc = subprocess.run(
        ["bash", "-n"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, f"{where}: {proc.stderr}"


@functools.cache
def _help(command: str) -> str:
    """``gitops-edge [COMMAND] --help``, run in-process (a subprocess per command costs
    seconds of imports; the parser and the text are the same)."""
    out = io.StringIO()
    argv = [*([command] if command else []), "--help"]
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0, f"gitops-edge {' '.join(argv)} exited {exit_.value.code}"
    return out.getvalue()


def invocations() -> list[tuple[str, list[str]]]:
    """(where, argv after ``gitops-edge``) for each command line in the templates."""
    out = []
    for where, text in scripts().items():
        joined = text.replace("\\\n", " ")
        for match in re.finditer(r"(?:^|[\s;&|(])gitops-edge\s+([^\n;&|>)]*)", joined):
            args = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "x", match.group(1)))
            out.append((where, args))
    return out


def test_template_commands_exist() -> None:
    found = invocations()
    commands = {args[0] for _where, args in found if args and not args[0].startswith("-")}
    assert {"validate", "plan", "render"} <= commands, commands
    for where, args in found:
        if not args or args[0].startswith("-"):
            assert set(args) <= set(re.findall(r"--[a-z][a-z-]*", _help(""))), where
            continue
        command, rest = args[0], args[1:]
        listed = re.findall(r"^ {4}(\w+)\s", _help(""), flags=re.MULTILINE)
        assert command in listed, f"{where}: no subcommand {command}"
        known = set(re.findall(r"--[a-z][a-z-]*", _help(command)))
        for arg in rest:
            if arg.startswith("--"):
                assert arg.split("=", 1)[0] in known, f"{where}: `{command}` has no {arg}"
    validate = [a for _w, a in found if a[:1] == ["validate"]]
    assert any("--output" in a and "json" in a for a in validate), "validate --output json"
    plan = [a for _w, a in found if a[:1] == ["plan"]]
    assert all("markdown" in a for a in plan), "every plan posts markdown"
    assert any("--kubeconfig" in a for a in plan) and any("--against" in a for a in plan)
    assert not any("--out" in a for a in plan), "plan --out is the deprecated alias of --against"
    assert all("--save" in a and "--full-plan" in a for a in plan), "the full plan is kept"


# -- the scripts, run -----------------------------------------------------------------


def _executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def ci_env(tmp_path: Path) -> dict[str, str]:
    """PATH with ``gitops-edge`` (this tree) and fakes of ``curl`` and ``gh`` that log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(
        bin_dir / "gitops-edge",
        f'#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} -m gitops_edge "$@"\n',
    )
    log = tmp_path / "calls.log"
    # curl logs its argv (and the note it uploads); a GET of the notes answers $FAKE_NOTES
    _executable(
        bin_dir / "curl",
        f"""#!/bin/sh
echo "curl $*" >> {log}
case "$*" in *body@note.md*) echo "--- note" >> {log}; cat note.md >> {log};; esac
case "$*" in *--request*) ;; *) printf '%s' "${{FAKE_NOTES:-[]}}";; esac
""",
    )
    # gh logs its argv; --edit-last fails as it does when the bot has not commented yet
    _executable(
        bin_dir / "gh",
        f"""#!/bin/sh
echo "gh $*" >> {log}
case "$*" in *--edit-last*) exit 1;; esac
""",
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITOPS_EDGE_", "CI_", "GITHUB_")) and k != "KUBERNETES_SERVICE_HOST"
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["CALLS_LOG"] = str(log)
    env["HOME"] = str(tmp_path)
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        env[key] = "ops"
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        env[key] = "ops@example.org"
    return env


def _ops_checkout(tmp: Path) -> Path:
    """An ops repo checked out on a merge request branch whose target is ``main``."""
    origin = tmp / "origin.git"
    seed = tmp / "seed"
    seed.mkdir()
    write_site(seed, "gd", province("gd"))
    write_site(seed, "zj", province("zj"))
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "fleet")
    git(tmp, "clone", "-q", "--bare", str(seed), str(origin))
    work = tmp / "work"
    git(tmp, "clone", "-q", str(origin), str(work))
    git(work, "checkout", "-q", "-b", "add-fj")
    write_site(work, "fj", province("fj"))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "add fj")
    return work


def _bash(
    script: str, cwd: Path, env: dict[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *flags, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_gitlab_validate_job_fails_on_an_invalid_site(
    tmp_path: Path, ci_env: dict[str, str]
) -> None:
    job = gitlab_jobs()["gitops-edge-validate"]
    script = "\n".join(job["script"])  # before_script pip-installs: gitops-edge is on PATH
    repo = tmp_path / "ops"
    write_site(repo, "gd", province("gd"))
    invalid = {
        "apiVersion": "gitops-edge.io/v1alpha1",
        "kind": "ProvinceCluster",
        "spec": {"bogus": 1},
    }
    write_site(repo, "zj", invalid)
    bad = _bash(script, repo, ci_env, "-eo", "pipefail")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "zj" in bad.stdout and "gitops-edge validate failed (exit 1)" in bad.stderr
    report = json.loads((repo / "gitops-edge-validate.json").read_text())
    assert {s["site"]: s["valid"] for s in report["sites"]} == {"gd": True, "zj": False}


def test_gitlab_plan_job_updates_its_note(tmp_path: Path, ci_env: dict[str, str]) -> None:
    """Plan against the rendered target branch, then PUT over the earlier plan note."""
    script = "\n".join(gitlab_jobs()["gitops-edge-plan"]["script"])
    work = _ops_checkout(tmp_path)
    env = {
        **ci_env,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "GITOPS_EDGE_GITLAB_TOKEN": "glpat-test",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",  # a Kubernetes runner: must not be used
        "FAKE_NOTES": f'[{{"id": 3, "body": "lgtm"}}, {{"id": 99, "body": "{MARKER}\\nold"}}]',
    }
    run = _bash(script, work, env, "-eo", "pipefail")
    assert run.returncode == 0, run.stdout + run.stderr
    log = Path(ci_env["CALLS_LOG"]).read_text()
    notes = "https://gitlab.example/api/v4/projects/42/merge_requests/7/notes"
    assert f"--header PRIVATE-TOKEN: glpat-test {notes}?per_page=100&sort=desc" in log
    put = "--request PUT --header PRIVATE-TOKEN: glpat-test --data-urlencode body@note.md"
    assert f"{put} {notes}/99" in log, log
    assert "--request POST" not in log
    note = log.split("--- note\n", 1)[1]
    assert note.startswith(MARKER)
    assert re.search(r"\| `fj` \| 0 \| ready \| [1-9]\d* \| 0 \| 0 \|", note), note
    assert "`gd`" not in note, "gd is unchanged against the target branch"
    full = json.loads((work / "plan.json").read_text())
    assert {s["site"] for s in full["sites"]} >= {"fj", "gd"}, "the full plan keeps every site"


def test_gitlab_plan_note_is_created_when_none_exists(
    tmp_path: Path, ci_env: dict[str, str]
) -> None:
    """The note lookup and POST alone (the plan part is the test above)."""
    script = "\n".join(gitlab_jobs()["gitops-edge-plan"]["script"])
    tail = script[script.index('      { echo "<!-- gitops-edge-plan -->"'.strip()) :]
    (tmp_path / "plan.md").write_text("### gitops-edge plan\n", encoding="utf-8")
    env = {
        **ci_env,
        "CI_API_V4_URL": "https://gl/api/v4",
        "CI_PROJECT_ID": "1",
        "CI_MERGE_REQUEST_IID": "2",
        "GITOPS_EDGE_GITLAB_TOKEN": "t",
    }
    run = _bash("rc=0\n" + tail, tmp_path, env, "-eo", "pipefail")
    assert run.returncode == 0, run.stderr
    log = Path(ci_env["CALLS_LOG"]).read_text()
    assert (
        "--request POST --header PRIVATE-TOKEN: t --data-urlencode body@note.md https://gl/api/v4/projects/1/merge_requests/2/notes"
        in log
    )


def test_github_plan_job_comments_and_reports(tmp_path: Path, ci_env: dict[str, str]) -> None:
    steps = {s.get("name"): s for s in github_steps("plan")}
    work = _ops_checkout(tmp_path)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary"
    env = {
        **ci_env,
        "BASE_REF": "main",
        "KUBECONFIG_DATA": "",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "PR": "12",
        "GH_TOKEN": "ghs-test",
    }
    Path(env["RUNNER_TEMP"]).mkdir()
    plan = _bash(steps["Plan"]["run"], work, env, "-e")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert outputs.read_text().strip() == "rc=0"
    assert "`fj`" in summary.read_text()
    comment = _bash(steps["Comment on the pull request"]["run"], work, env, "-e")
    assert comment.returncode == 0, comment.stderr
    assert Path(ci_env["CALLS_LOG"]).read_text().splitlines() == [
        "gh pr comment 12 --edit-last --body-file plan.md",
        "gh pr comment 12 --body-file plan.md",
    ]


# -- the read-only CI identity --------------------------------------------------------


def test_plan_rbac_is_valid_and_exact(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(PLAN_RBAC.read_text(encoding="utf-8")) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, latest_version(), strict=True)
    grants = grants_for(docs, sa_namespace="gitops-edge", sa_name="gitops-edge-plan")
    observed = Observed()
    with api_server() as api:
        repo = job_mode_repo(tmp_path / "ops")
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        seed_edge_nodes(api, "gd", "zj")
        for command in ("plan", "status"):
            rc = cli(observed, command, command, repo, "--kubeconfig", kubeconfig)
            assert rc == 0, observed.outputs[command]
        observed.add(api)
    assert observed.calls
    denied = sorted(c.describe() for c in observed.calls if not allowed(c, grants))
    assert not denied, f"plan-rbac.yaml does not allow: {denied}"
    unused = sorted(g.describe() for g in grants if not any(g.allows(c) for c in observed.calls))
    assert not unused, f"plan-rbac.yaml grants what plan and status never use: {unused}"
    assert {g.verb for g in grants} == {"list"}, "CI only reads"


# -- the docs -------------------------------------------------------------------------

DOCS = (ROOT / "docs" / "operations.md", ROOT / "docs" / "pull-requests.md")
FOREIGN_FLAGS = {"--entrypoint"}
"""Flags the docs mention for other tools (docker/podman), not gitops-edge."""


def documented_command_lines(text: str) -> list[str]:
    """``gitops-edge ...`` in inline code and at the start of lines of shell blocks."""
    lines = re.findall(r"`(gitops-edge [^`]+)`", text)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        joined = block.replace("\\\n", " ")
        lines += [ln.strip() for ln in joined.splitlines() if ln.strip().startswith("gitops-edge ")]
    return lines


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_and_flags_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    listed = re.findall(r"^ {4}(\w+)\s", _help(""), flags=re.MULTILINE)
    every_flag = set(re.findall(r"--[a-z][a-z-]*", _help("")))
    for command in listed:
        every_flag |= set(re.findall(r"--[a-z][a-z-]*", _help(command)))
    checked = 0
    for line in documented_command_lines(text):
        words = shlex.split(line.split("#", 1)[0].split("|", 1)[0], posix=True)
        command = words[1]
        if not re.fullmatch(r"[a-z]+", command):
            continue  # `gitops-edge @ git+https://...`: a pip requirement, not a command
        assert command in listed, f"{doc.name}: `{line}`: no subcommand {command}"
        known = set(re.findall(r"--[a-z][a-z-]*", _help(command)))
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in known, f"{doc.name}: `{line}`: no flag {word}"
        checked += 1
    assert checked >= 3, f"{doc.name}: expected gitops-edge command lines to check"
    for flag in re.findall(r"`(--[a-z][a-z-]*)[^`]*`", text):
        assert flag in every_flag | FOREIGN_FLAGS, f"{doc.name}: gitops-edge has no flag {flag}"
