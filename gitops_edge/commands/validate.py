"""``gitops-edge validate``: check every site; exit 0 all valid, 1 any invalid, 2 usage/IO.

Output formats: ``text`` (``file:line:col: field: message``, one per problem),
``json`` (the report), ``github`` (workflow commands GitHub turns into annotations on
the pull request's diff) and ``codequality`` (the JSON array GitLab reads as a Code
Quality report and shows on the merge request). File paths are relative to the
repo root, with the REPO argument in front when it is not ``.``, so they match the
checkout of a CI job run from the workspace root.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitops_edge.commands.common import add_output_arg, add_repo_arg, print_json, repo_root_or_exit
from gitops_edge.problems import Problem
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.specs.repo import RepoSpec, load_repo

CONSEQUENCES = ("not checked: ", "not rendered: ", "not valid: ")
"""Site lines that only repeat a repo-level problem (settings, defaults, shared bundle)."""


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate", help="check every site of the ops repo", description=__doc__
    )
    add_repo_arg(p)
    add_output_arg(p, "json", "github", "codequality")
    add_quiet_arg(p)
    p.set_defaults(func=run)


def report(repo: RepoSpec) -> dict[str, Any]:
    """The machine-readable report (the ``--output json`` contract)."""
    return {
        "sites": [
            {
                "site": s.id,
                "path": s.dir,
                "valid": s.valid,
                "errors": [p.as_dict() for p in s.problems],
            }
            for s in repo.sites
        ],
        "errors": [p.as_dict() for p in repo.problems],
    }


def is_consequence(p: Problem) -> bool:
    """A site problem that says "see the repo-level problem" rather than one of its own."""
    return not p.field and p.message.startswith(CONSEQUENCES)


def causes(repo: RepoSpec) -> Iterator[Problem]:
    """Every problem to fix, once: repo-level first, then each site's own."""
    yield from repo.problems
    for site in repo.sites:
        yield from (p for p in site.problems if not is_consequence(p))


def consequences(repo: RepoSpec) -> list[str]:
    """One line per repo-level cause: how many sites it made invalid."""
    by_message: dict[str, list[str]] = {}
    for site in repo.sites:
        for p in site.problems:
            if is_consequence(p):
                by_message.setdefault(p.message, []).append(p.file)
    lines = []
    for message, files in by_message.items():
        more = f" and {len(files) - 1} other site(s)" if len(files) > 1 else ""
        lines.append(f"{files[0]}{more}: {message}")
    return lines


def _escape_data(text: str) -> str:
    """GitHub workflow command data: ``%``, CR and LF are escaped, nothing else."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(p: Problem, prefix: str = "") -> str:
    """``::error file=F,line=L,col=C,title=T::message`` for one problem.

    https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions#setting-an-error-message
    """
    props = [f"file={_escape_property(prefix + p.file)}"]
    if p.line:
        props.append(f"line={p.line}")
        if p.column:
            props.append(f"col={p.column}")
    title = f"gitops-edge: {p.field}" if p.field else "gitops-edge"
    props.append(f"title={_escape_property(title)}")
    text = f"{p.field}: {p.message}" if p.field else p.message
    return f"::error {','.join(props)}::{_escape_data(text)}"


def code_quality(problems: list[Problem], prefix: str = "") -> list[dict[str, Any]]:
    """GitLab Code Quality issues (``artifacts:reports:codequality``).

    https://docs.gitlab.com/ee/ci/testing/code_quality.html#code-quality-report-format:
    description, check_name, fingerprint (stable across runs, so GitLab can tell new
    issues from fixed ones), severity, location.path and location.lines.begin.
    """
    issues = []
    for p in problems:
        rule = re.sub(r"\[[0-9]+\]", "", p.field) if p.field else "file"
        key = "\0".join((p.file, p.field, p.message)).encode()
        issues.append(
            {
                "description": f"{p.field}: {p.message}" if p.field else p.message,
                "check_name": f"gitops-edge/{rule}",
                "fingerprint": hashlib.sha256(key).hexdigest(),
                "severity": "major",
                "location": {"path": prefix + p.file, "lines": {"begin": p.line or 1}},
            }
        )
    return issues


def _prefix(repo_arg: Path) -> str:
    """What goes before repo-relative paths so they are relative to the working directory."""
    if repo_arg.is_absolute():
        try:
            repo_arg = repo_arg.relative_to(Path.cwd())
        except ValueError:
            return ""
    text = os.path.normpath(os.fspath(repo_arg))
    return "" if text == "." else text + "/"


def summary(repo: RepoSpec) -> str:
    bad = len(repo.invalid_sites)
    total = len(repo.sites)
    return f"{total} site(s): {total - bad} valid, {bad} invalid" + (
        f"; {len(repo.problems)} repo-level problem(s)" if repo.problems else ""
    )


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    with Progress("validate", quiet=args.quiet) as progress:
        repo = load_repo(root, progress=progress.sites("loading"))
    ok = not repo.problems and all(s.valid for s in repo.sites)
    rc = 0 if ok else 1
    if args.output == "json":
        print_json(report(repo))
        return rc
    if args.output == "codequality":
        print_json(code_quality(list(causes(repo)), _prefix(args.repo)))
        return rc
    if args.output == "github":
        prefix = _prefix(args.repo)
        for p in causes(repo):
            print(github_annotation(p, prefix))
    else:
        for p in causes(repo):
            print(p)
    for line in consequences(repo):
        print(line)
    print(summary(repo), file=sys.stdout)
    if not repo.sites and not repo.problems:
        print("no sites found: expected provinces/<site>/cluster.yaml", file=sys.stderr)
    return rc
