"""Argument helpers and output shared by the subcommands."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import Plan
from gitops_edge.plan.report import to_json, to_text
from gitops_edge.problems import Problem
from gitops_edge.specs.sites import PROVINCES

DIRECTORY_COMPLETION = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "tcsh": "d"}
"""shtab's ``DIRECTORY``: the shell completes directory names for the argument."""


def add_repo_arg(p: argparse.ArgumentParser) -> None:
    """REPO, positional and optional: every command names the ops repo the same way."""
    action = p.add_argument(
        "repo", nargs="?", default=".", type=Path, metavar="REPO", help="ops repo path (default: .)"
    )
    action.complete = DIRECTORY_COMPLETION  # type: ignore[attr-defined]


def add_output_arg(p: argparse.ArgumentParser, *choices: str) -> None:
    p.add_argument(
        "-o",
        "--output",
        choices=("text", *choices),
        default="text",
        help="output format (default: text)",
    )


def repo_root_or_exit(path: Path) -> Path | None:
    """The repo root, or None after printing a usage error (exit status 2).

    A directory without ``provinces/`` is not an ops repo (a wrong path, a wrong branch):
    reading it as "no sites" would tell CI everything is fine.
    """
    if not path.is_dir():
        print(f"gitops-edge: {path}: not a directory (pass the ops repo path)", file=sys.stderr)
        return None
    provinces = path / PROVINCES
    if provinces.is_symlink() or not provinces.is_dir():
        what = "is a symlink, which is not followed" if provinces.is_symlink() else "is missing"
        print(
            f"gitops-edge: {path}: {PROVINCES}/ {what}: not an ops repo "
            f"(expected {PROVINCES}/<site>/cluster.yaml; pass the ops repo path)",
            file=sys.stderr,
        )
        return None
    return path


def unknown_sites(requested: list[str] | None, known: Iterable[str]) -> bool:
    """True after printing a usage error when a ``--site`` names no site (exit status 2).

    Known: the repo's sites and the removed sites that still have live objects.
    """
    if not requested:
        return False
    known = set(known)
    missing = [s for s in requested if s not in known]
    if not missing:
        return False
    for site in missing:
        near = difflib.get_close_matches(site, sorted(known), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        print(f"gitops-edge: --site {site}: no such site in the repo or the cluster{hint}", file=sys.stderr)
    return True


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def print_data(data: Any, output: str) -> None:
    """``-o json`` or ``-o yaml``: the same document, keys in the same order."""
    if output == "yaml":
        import yaml  # only here: text output does not pay for it

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    else:
        print_json(data)


def print_problems(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for p in problems:
        print(p, file=sys.stderr)


def print_reconcile(plan: Plan, result: EmitResult, *, output: str) -> bool:
    """Report one reconcile (``apply``, ``run --once``); True when it fully succeeded."""
    if output in ("json", "yaml"):
        report = to_json(plan)
        report["emit"] = {
            "sink": result.sink,
            "written": result.written,
            "deleted": result.deleted,
            "errors": result.errors(),
            "note": result.note,
        }
        print_data(report, output)
    else:
        sys.stdout.write(to_text(plan, diffs=False))
        for err in result.errors():
            print(f"error: {err}", file=sys.stderr)
        print(
            f"{result.sink}: {result.written} object(s) written, {result.deleted} deleted"
            + (f"; {result.note}" if result.note else "")
        )
    if plan.refused:
        print(plan.refused, file=sys.stderr)
    invalid = any(s.gate == "invalid" for s in plan.sites)
    return result.ok and not invalid and not plan.problems
