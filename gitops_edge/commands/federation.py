"""gitops-edge federation: the Karmada side of the fleet, per site and per federated workload.

For each site with federation enabled: its registration (registered and Ready, to
register, registering, deferred while its edge node is offline, waiting for eggo,
half-done with what to clean up) and whether its Cluster's labels are applied; for each
template of federation/: the policy that propagates it, the clusters its affinity
admits from those labels, the clusters still held by waves and, from its
ResourceBinding, per cluster scheduled / applied / health.

Without --apply nothing is written (labels and federation/ are checked with a
server-side dry run, and what would be removed is listed). With --apply one federation
step runs: registrations are started (bootstrap token minted, handed to the site,
registration Job emitted), labels applied, federation/ applied when it has no problem,
and what gitops-edge applied that left federation/ is removed (within
spec.prune.maxDeletions). Applies are never forced: a conflict with another field
manager is reported, not overwritten.

The central cluster comes from --kubeconfig/--context/--in-cluster; karmada-apiserver
from the kubeconfig in the Secret named by spec.federation.karmada.kubeconfigSecret.
Exit 0; 1 when an API server cannot be read or federation is not enabled; 2 on usage
errors.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gitops_edge.commands.common import add_output_arg, add_repo_arg, print_data, repo_root_or_exit
from gitops_edge.commands.kubeargs import CLI_RETRY, add_kube_args, kube_from_args
from gitops_edge.live.errors import KubeError
from gitops_edge.live.inventory import now_utc
from gitops_edge.source.revision import describe_revision
from gitops_edge.specs.repo import load_repo


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "federation",
        help="Karmada federation: registration, cluster labels, placement per site",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_repo_arg(p)
    add_kube_args(p)
    add_output_arg(p, "json", "yaml")
    p.add_argument(
        "--apply", action="store_true", help="run one federation step instead of only showing it"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # the Karmada and cluster clients are loaded here, not when the CLI starts
    from gitops_edge.federation.karmada import client_from_kubeconfig, kubeconfig_from_secret
    from gitops_edge.federation.overview import federation_pass
    from gitops_edge.live.snapshot import read_live

    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    repo = load_repo(root)
    settings = repo.settings.spec.federation.karmada
    if not settings.enabled:
        print(
            "gitops-edge federation: spec.federation.karmada.enabled is false in gitops-edge.yaml",
            file=sys.stderr,
        )
        return 1
    try:
        central = kube_from_args(args, retry=CLI_RETRY)
        kubeconfig = kubeconfig_from_secret(central, settings)
        karmada = client_from_kubeconfig(kubeconfig, retry=CLI_RETRY)
        live = read_live(central)
        report = federation_pass(
            central,
            karmada,
            kubeconfig,
            repo,
            live,
            now=now_utc(),
            apply=args.apply,
            revision=describe_revision(root),
        )
    except KubeError as exc:
        print(f"gitops-edge federation: {exc}", file=sys.stderr)
        return 1
    if args.output == "text":
        for line in report.lines():
            print(line)
    else:
        print_data(report.as_dict(), args.output)
    return 0
