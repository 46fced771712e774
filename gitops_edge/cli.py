"""The ``gitops-edge`` command line: argument parsing and dispatch, nothing else.

Each subcommand lives in :mod:`gitops_edge.commands` as ``add_parser(sub)`` plus
``run(args) -> int``; exit statuses follow SPEC.md (2 is a usage or I/O error).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gitops_edge import __version__

COMMANDS = ("validate", "render", "plan", "apply", "run", "status", "schemas", "init")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _chosen(argv: Sequence[str]) -> tuple[str, ...]:
    """The subcommand named on the command line, alone; every command for help or errors.

    Importing a subcommand imports what it needs (the kubernetes client alone costs
    about a second), so ``validate`` in CI must not pay for ``run``.
    """
    first = next((a for a in argv if not a.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gitops-edge",
        description="GitOps for a 1 centre + 31 provinces + N edge sites fleet: "
        "ops repo -> eggo cluster specs and Argo CD Applications on each edge node.",
    )
    parser.add_argument("--version", action="version", version=f"gitops-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _chosen(sys.argv[1:] if argv is None else argv):
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
