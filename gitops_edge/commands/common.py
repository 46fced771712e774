"""Argument helpers and output shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import Plan
from gitops_edge.plan.report import to_json, to_text
from gitops_edge.problems import Problem

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
    """The repo root, or None after printing a usage error (exit status 2)."""
    if not path.is_dir():
        print(f"gitops-edge: {path}: not a directory (pass the ops repo path)", file=sys.stderr)
        return None
    return path


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
