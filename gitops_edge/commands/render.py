"""gitops-edge render: write each valid site's manifests under DIR/<site id>/.

Exit 0 when every site rendered, 1 when any site (or the repo) has problems (the
valid sites are still written), 2 on a usage or I/O error. Invalid sites are
reported like validate reports them and their earlier output is left as it was:
nothing is removed because a file failed to parse.

Each site is written like ``apply --emit dir:DIR`` writes it (same file names, same
bytes, swapped in whole), so ``apply`` over a render has nothing to change; a site
whose files already hold the render is not touched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitops_edge.commands.common import add_output_arg, add_repo_arg, print_data, repo_root_or_exit
from gitops_edge.emit.dirsink import DirSink
from gitops_edge.progress import Progress, add_quiet_arg
from gitops_edge.render.site import RenderResult, render_repo
from gitops_edge.source.revision import describe_revision
from gitops_edge.specs.repo import RepoSpec, load_repo


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "render",
        help="write each valid site's manifests under DIR/<site id>/",
        description=__doc__,
    )
    add_repo_arg(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    add_output_arg(p, "json", "yaml")
    add_quiet_arg(p)
    p.set_defaults(func=run)


def report(
    repo: RepoSpec, result: RenderResult, out: Path, written: dict[str, list[str]]
) -> dict[str, Any]:
    """The machine-readable report (the ``-o json`` contract)."""
    return {
        "revision": result.revision,
        "out": str(out),
        "sites": [
            {
                "site": s.id,
                "path": s.dir,
                "rendered": s.id in written,
                "suspended": s.id in result.suspended,
                "files": written.get(s.id, []),
                "errors": [p.as_dict() for p in result.problems.get(s.id, ())],
            }
            for s in sorted(repo.sites, key=lambda s: s.id)
        ],
        "errors": [p.as_dict() for p in result.repo_problems],
    }


def run(args: argparse.Namespace) -> int:
    root = repo_root_or_exit(args.repo)
    if root is None:
        return 2
    out: Path = args.out
    with Progress("render", quiet=args.quiet) as progress:
        repo = load_repo(root, progress=progress.sites("loading"))
        result = render_repo(
            repo,
            revision=describe_revision(root, ignore=[out]),
            progress=progress.counter("rendering", len(repo.sites)),
        )
        written: dict[str, list[str]] = {}
        tick = progress.counter("writing", len(result.objects))
        sink = DirSink(out)  # the layout and the swap of apply --emit dir: the same tree
        try:
            sink.recover()
            for site_id, objects in result.objects.items():
                written[site_id], _ = sink.write_site(site_id, objects)
                tick()
            sink.write_index()
        except OSError as exc:
            progress.close()
            print(
                f"gitops-edge: cannot write {exc.filename or out}: {exc.strerror}", file=sys.stderr
            )
            return 2
    if args.output in ("json", "yaml"):
        print_data(report(repo, result, out, written), args.output)
        return 0 if result.ok else 1
    for p in result.repo_problems:
        print(p)
    for problems in result.problems.values():
        for p in problems:
            print(p)
    for site_id in sorted(result.suspended):
        print(f"{site_id}: suspended: rendered for review, nothing new is emitted for it")
    total = len(repo.sites)
    print(
        f"{len(written)} of {total} site(s) rendered into {out} at {result.revision}"
        + (f"; {len(result.problems)} not rendered" if result.problems else "")
        + (f"; {len(result.repo_problems)} repo-level problem(s)" if result.repo_problems else "")
    )
    if total == 0 and not result.repo_problems:
        print("no sites found: expected provinces/<site>/cluster.yaml", file=sys.stderr)
    return 0 if result.ok else 1
