"""gitops-edge completion bash|zsh|fish: print a shell completion script.

    gitops-edge completion bash > /etc/bash_completion.d/gitops-edge
    gitops-edge completion zsh > "${fpath[1]}/_gitops-edge"
    gitops-edge completion fish > ~/.config/fish/completions/gitops-edge.fish

or, for the current shell only: source <(gitops-edge completion bash).
The script is static: pressing TAB runs no Python, so it costs nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=run)


def script(shell: str) -> str:
    """The completion script for ``shell``, generated from the full parser.

    shtab writes it from argparse's own description of every subcommand, option and
    choice (files for path arguments), so completion cannot drift from the parser.
    """
    import shtab

    from gitops_edge.cli import build_parser

    return str(shtab.complete(build_parser(full=True), shell=shell))


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return 0
