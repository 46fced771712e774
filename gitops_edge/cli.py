"""The ``gitops-edge`` command line: argument parsing and dispatch, nothing else.

Each subcommand lives in :mod:`gitops_edge.commands` as ``add_parser(sub)`` plus
``run(args) -> int``; exit statuses follow SPEC.md (2 is a usage or I/O error).
Only the chosen subcommand is imported: ``--version`` and ``--help`` import none, so
they answer at once (the kubernetes client alone costs about a second).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

from gitops_edge import __version__

SUMMARIES = {
    "validate": "check every site of the ops repo",
    "render": "write each valid site's manifests under DIR/<site id>/",
    "plan": "diff desired against live state",
    "apply": "one reconcile: plan, then emit",
    "run": "the daemon: watch the repo and the fleet, reconcile on every event",
    "status": "per-site state: edge node online, eggo and Argo CD progress, delivery",
    "federation": "Karmada federation: registration, cluster labels, placement per site",
    "schemas": "write the JSON Schemas of ProvinceCluster and OpsRepo",
    "init": "scaffold an ops repo: settings, one province, the schemas, a CI job",
    "completion": "print a shell completion script (bash, zsh or fish)",
}
"""One line per command for ``gitops-edge --help``, without importing the commands."""
COMMANDS = tuple(SUMMARIES)
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain(text: str) -> str:
    """Help text without reStructuredText markup (docstrings double as ``--help``)."""
    return _ROLE.sub(r"\1", text).replace("``", "")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def format_help(self) -> str:
        return plain(super().format_help())

    def format_usage(self) -> str:
        return plain(super().format_usage())


def _chosen(argv: Sequence[str]) -> tuple[str, ...]:
    """The subcommand named on the command line, alone; none for help, --version or errors.

    Importing a subcommand imports what it needs (the kubernetes client alone costs
    about a second), so ``validate`` in CI must not pay for ``run``, and ``--help`` or
    ``--version`` pay for none.
    """
    first = next((a for a in argv if not a.startswith("-")), None)
    return (first,) if first in COMMANDS else ()


def build_parser(
    argv: Sequence[str] | None = None, *, full: bool = False
) -> argparse.ArgumentParser:
    """The parser with the chosen subcommand complete and the others as one-line stubs.

    ``full``: every subcommand complete (shell completion needs all their options).
    """
    parser = _Parser(
        prog="gitops-edge",
        description="GitOps for a 1 centre + 31 provinces + N edge sites fleet: "
        "ops repo -> eggo cluster specs and Argo CD Applications on each edge node.",
    )
    parser.add_argument("--version", action="version", version=f"gitops-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = COMMANDS if full else _chosen(sys.argv[1:] if argv is None else argv)
    for name in COMMANDS:
        if name not in chosen:
            sub.add_parser(name, help=SUMMARIES[name], add_help=False)
            continue
        try:
            module = importlib.import_module(f"gitops_edge.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gitops_edge.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
