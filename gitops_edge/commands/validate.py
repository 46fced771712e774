"""``gitops-edge validate``: check every site; exit 0 all valid, 1 any invalid, 2 usage/IO."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gitops_edge.commands.common import add_output_arg, add_repo_arg, print_json, repo_root_or_exit
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.specs.repo import RepoSpec, load_repo


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate", help="check every site of the ops repo", description=__doc__
    )
    add_repo_arg(p)
    add_output_arg(p, "json")
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


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    with Progress("validate", quiet=args.quiet) as progress:
        repo = load_repo(root, progress=progress.sites("loading"))
    ok = not repo.problems and all(s.valid for s in repo.sites)
    if args.output == "json":
        print_json(report(repo))
        return 0 if ok else 1
    for p in repo.problems:
        print(p)
    for site in repo.sites:
        for p in site.problems:
            print(p)
    bad = len(repo.invalid_sites)
    total = len(repo.sites)
    print(
        f"{total} site(s): {total - bad} valid, {bad} invalid"
        + (f"; {len(repo.problems)} repo-level problem(s)" if repo.problems else ""),
        file=sys.stdout,
    )
    if total == 0 and not repo.problems:
        print("no sites found: expected provinces/<site>/cluster.yaml", file=sys.stderr)
    return 0 if ok else 1
