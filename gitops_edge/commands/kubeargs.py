"""The connection flags shared by ``plan``, ``apply``, ``status`` and ``run``.

The client itself is imported only by :func:`kube_from_args`: ``plan`` and ``apply``
against a directory must start without the ``kubernetes`` package (about a second).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_edge.live.retry import RetryPolicy

if TYPE_CHECKING:
    from gitops_edge.live.client import KubeClient

CLI_RETRY = RetryPolicy(attempts=4, base=0.25, cap=5.0)
"""An operator at a terminal wants an answer in a second or two, not the daemon's patience."""


def add_kube_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster connection")
    g.add_argument(
        "--kubeconfig", type=Path, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    g.add_argument("--context", help="kubeconfig context")
    g.add_argument("--in-cluster", action="store_true", help="use the pod's ServiceAccount")


def wants_cluster(args: argparse.Namespace) -> bool:
    """A cluster was asked for explicitly, or we run inside one."""
    return bool(
        args.kubeconfig
        or args.context
        or args.in_cluster
        or "KUBERNETES_SERVICE_HOST" in os.environ
    )


def kube_from_args(args: argparse.Namespace, *, retry: RetryPolicy | None = None) -> KubeClient:
    """The client the connection flags name (``retry``: the client's default when None)."""
    from gitops_edge.live.connect import connect

    return connect(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=True if args.in_cluster else None,
        retry=retry,
    )
