"""``gitops-edge init DIR``: start an ops repository that validates as it is.

Writes gitops-edge.yaml (settings and the defaults under every site), one province
site, the JSON Schemas (schemas/, what the editor modelines of both files point at,
so completion and value checks work offline and match this gitops-edge version) and
a CI job that checks the schemas are current and annotates validate errors on the
pull or merge request. Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitops_edge import __version__
from gitops_edge.schemas import all_schemas
from gitops_edge.specs import k8s

PIP_SPEC = f"gitops-edge @ git+https://git.example/ops/gitops-edge.git@v{__version__}"
"""What the CI job installs unless GITOPS_EDGE_PIP_SPEC says otherwise."""

SETTINGS = """\
# yaml-language-server: $schema=schemas/opsrepo.schema.json
# Repo-wide settings. spec.defaults is laid under every provinces/**/cluster.yaml (the
# site wins; lists are replaced, not merged), so a site file says what is its own.
apiVersion: gitops-edge.io/v1alpha1
kind: OpsRepo
spec:
  namespacePrefix: edge-            # site namespace = edge-<site id>
  eggo:
    mode: job                       # eggo runs as a Job on each site's edge node
  argocd:
    project: default
  rollout:
    maxFailures: 1                  # failed sites a wave tolerates (a second one holds the next waves)
  prune:
    maxDeletions: 50                # a run that would delete more is refused whole
  defaults:
    sshKeySecret: eggo-ssh          # Secret (key ssh-privatekey) in each site namespace
    eggo:
      runtime: iSulad
      service: {cidr: 10.32.0.0/16, dnsaddr: 10.32.0.10, gateway: 10.32.0.1}
      network: {podcidr: 10.244.0.0/16, plugin: calico}
"""

SITE = """\
# yaml-language-server: $schema=../../schemas/provincecluster.schema.json
# One site: the {name} province cluster, built by eggo from the site's edge node.
# Its id is the directory path below provinces/ ({name}); replace the addresses.
apiVersion: gitops-edge.io/v1alpha1
kind: ProvinceCluster
metadata:
  labels: {{region: {name}}}
spec:
  edge:
    nodeName: {name}-edge-01        # the KubeEdge edge node that runs eggo and Argo CD
    arch: arm64
  eggo:                             # eggo's deploy -f config, keys exactly as eggo reads them
    cluster-id: {name}-paas-01
    masters:
    - {{name: {name}-master-01, ip: 192.0.2.11, port: 22, arch: arm64}}
    workers:
    - {{name: {name}-worker-01, ip: 192.0.2.21, port: 22, arch: arm64}}
  applications:
  - name: base
    source: {{repoURL: https://git.example/ops/ops.git, path: apps/base, targetRevision: main}}
    destination: {{namespace: base}}
  rollout:
    wave: 1                         # lower waves go first
"""

GITHUB = f"""\
# gitops-edge checks on every pull request: the schemas match the installed
# gitops-edge (refresh them with `gitops-edge schemas --out schemas`) and every site
# validates; each error is annotated on its line of the diff.
name: gitops-edge

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read

env:
  GITOPS_EDGE_PIP_SPEC: ${{{{ vars.GITOPS_EDGE_PIP_SPEC || '{PIP_SPEC}' }}}}
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install gitops-edge
        run: python -m pip install --quiet "$GITOPS_EDGE_PIP_SPEC"
      - name: Schemas are current
        run: gitops-edge schemas --check --out schemas
      - name: Validate
        run: gitops-edge validate . --output github
"""

GITLAB = f"""\
# gitops-edge checks on every merge request: the schemas match the installed
# gitops-edge (refresh them with `gitops-edge schemas --out schemas`) and every site
# validates; errors show in the merge request's Code Quality widget.
variables:
  GITOPS_EDGE_PIP_SPEC: "{PIP_SPEC}"

gitops-edge-validate:
  image: python:3.11
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  variables:
    PIP_DISABLE_PIP_VERSION_CHECK: "1"
  script:
    - python -m pip install --quiet "$GITOPS_EDGE_PIP_SPEC"
    - gitops-edge schemas --check --out schemas
    - |
      rc=0
      gitops-edge validate . --output codequality > gl-code-quality-report.json || rc=$?
      gitops-edge validate . || true
      exit "$rc"
  artifacts:
    when: always
    reports:
      codequality: gl-code-quality-report.json
"""

CI_FILES = {"github": ".github/workflows/gitops-edge.yml", "gitlab": ".gitlab-ci.yml"}
CI_TEXT = {"github": GITHUB, "gitlab": GITLAB}


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "init", help="create a new ops repository that validates", description=__doc__
    )
    p.add_argument(
        "dir", type=Path, help="directory to create (may exist, if empty of these files)"
    )
    p.add_argument(
        "--province",
        default="example",
        help="directory name of the first site under provinces/ (default: example)",
    )
    p.add_argument(
        "--ci",
        choices=("github", "gitlab", "none"),
        default="github",
        help="CI job to write (default: github)",
    )
    p.set_defaults(func=run)


def files(province: str, ci: str) -> dict[str, str]:
    """Repo-relative path -> text of every file ``init`` writes."""
    out = {
        "gitops-edge.yaml": SETTINGS,
        f"provinces/{province}/cluster.yaml": SITE.format(name=province),
    }
    out.update({f"schemas/{name}": text for name, text in all_schemas().items()})
    if ci in CI_FILES:
        out[CI_FILES[ci]] = CI_TEXT[ci]
    return out


def run(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if not k8s.is_dns1123_label(args.province, 40):
        print(
            f"gitops-edge: --province {args.province!r}: use a DNS-1123 label of at most 40 "
            "characters (lower-case letters, digits, '-')",
            file=sys.stderr,
        )
        return 2
    if root.exists() and not root.is_dir():
        print(f"gitops-edge: {root}: exists and is not a directory", file=sys.stderr)
        return 2
    wanted = files(args.province, args.ci)
    present = sorted(rel for rel in wanted if (root / rel).exists() or (root / rel).is_symlink())
    if present:
        print(
            f"gitops-edge: {root} already has {', '.join(present)}; nothing written "
            "(init never overwrites: remove them or choose another directory)",
            file=sys.stderr,
        )
        return 2
    for rel, text in wanted.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    print(
        f"next: edit provinces/{args.province}/cluster.yaml (addresses, edge node), then "
        f"`gitops-edge validate {root}` and `gitops-edge render {root} --out rendered`"
    )
    return 0
