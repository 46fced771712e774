"""Argument helpers and output shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gitops_edge.problems import Problem


def add_repo_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("repo", nargs="?", default=".", type=Path, help="ops repo path (default: .)")


def add_output_arg(p: argparse.ArgumentParser, *choices: str) -> None:
    p.add_argument("--output", "-o", choices=("text", *choices), default="text")


def repo_root_or_exit(path: Path) -> Path | None:
    """The repo root, or None after printing a usage error (exit status 2)."""
    if not path.is_dir():
        print(f"gitops-edge: {path}: not a directory (pass the ops repo path)", file=sys.stderr)
        return None
    return path


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def print_problems(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for p in problems:
        print(p, file=sys.stderr)
