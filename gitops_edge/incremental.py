"""Which sites a one-shot ``apply`` must plan, from the sink's record and git history.

When the sink keeps a :class:`~gitops_edge.record.Record` of the commit it was brought
to, and that commit is an ancestor of the ops repo's HEAD, only the sites whose files
changed in between (``git diff --name-status`` mapped to site ids by
:func:`gitops_edge.daemon.affected.affected_sites`, the daemon's own rule: a changed
``gitops-edge.yaml`` or ``edge-bundle/`` means every site) are planned, plus the
sites the last run did not bring to that commit (``pending``), plus removed sites
(a deleted ``cluster.yaml`` is a changed path). Everything else is the same bytes as
when the sink was written, so planning it would find nothing to do.

Any doubt is a full run, and the report says which and why: no record (or a sink
that keeps none, or one changed since by something else), a work tree with
uncommitted changes, a recorded commit this clone lacks (a shallow clone) or that is
not an ancestor of HEAD (history rewritten, another branch), a changed
``gitops-edge.yaml``, the shared bundle or ``federation/``, repo problems in the last
run, or so many changed sites that a chunked full run is the cheaper way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from gitops_edge.daemon.affected import affected_sites, parse_name_status, site_of, strip_prefix
from gitops_edge.daemon.queue import ALL
from gitops_edge.plan.standing import Standing
from gitops_edge.record import Record, is_commit
from gitops_edge.source.gitsafe import git_call
from gitops_edge.source.revision import DIRTY_SUFFIX
from gitops_edge.specs.fleet import Identity
from gitops_edge.specs.repo import RepoIndex

FEDERATION_DIR = "federation"
"""Read for repo problems that hold removals back: a change there is a full run."""
MAX_SHARE = 0.25
"""More sites to plan than this share of the fleet (and than :data:`MIN_FULL`): a full
run is cheaper (chunked, in parallel, where an incremental run holds its sites at once)."""
MIN_FULL = 100


@dataclass(frozen=True)
class Scope:
    """What to plan: ``sites`` (None: every site) and the line that tells the operator."""

    sites: frozenset[str] | None
    line: str
    known: Mapping[str, Identity] = field(default_factory=dict)
    """Identities of the sites not planned, for the fleet-wide uniqueness check."""
    standing: Mapping[str, Standing] = field(default_factory=dict)
    """What waves read of the sites not planned (:mod:`gitops_edge.plan.standing`)."""

    @property
    def full(self) -> bool:
        return self.sites is None


def full_run(why: str) -> Scope:
    return Scope(None, f"full run: {why}")


def plan_scope(root: Path, revision: str, record: Record | None, index: RepoIndex) -> Scope:
    """The sites ``apply`` plans for ``revision`` (HEAD of the repo at ``root``); see the module doc."""
    if record is None:
        return full_run("no record of an earlier apply in this sink")
    if revision.endswith(DIRTY_SUFFIX):
        return full_run("the ops repo has uncommitted changes")
    if not is_commit(revision):
        return full_run("the ops repo is not a git work tree")
    old = record.revision
    if record.problems:
        return full_run(f"the last run (at {old[:12]}) reported {record.problems} repo problem(s)")
    if record.settings != index.settings_digest:
        return full_run("gitops-edge.yaml changed since the last run")
    changes = _changes(root, old, revision)
    if isinstance(changes, str):
        return full_run(changes)
    for path in changes:
        if site_of(path) == ALL or path.split("/", 1)[0] == FEDERATION_DIR:
            return full_run(f"{path} changed since {old[:12]} (it is read for every site)")
    changed = affected_sites(changes)
    ids = index.ids
    # sites the record does not know and no diff names (a repo copied beside the sink)
    unknown = ids - set(record.identities) - record.pending - changed
    wanted = frozenset(changed | record.pending | unknown)
    total = len(ids)
    if len(wanted) > max(MIN_FULL, int(total * MAX_SHARE)):
        return full_run(f"{len(wanted)} of {total} sites to plan since {old[:12]}")
    known = {sid: i for sid, i in record.identities.items() if sid in ids and sid not in wanted}
    standing = {sid: st for sid, st in record.standing.items() if sid in known}
    extra = [f"{len(record.pending)} not in sync before"] if record.pending else []
    if unknown:
        extra.append(f"{len(unknown)} unknown to the record")
    more = f" (+ {', '.join(extra)})" if extra else ""
    line = f"incremental: {len(changed)} of {total} sites changed since {old[:12]}{more}"
    return Scope(wanted, line, known, standing)


def _changes(root: Path, old: str, new: str) -> list[str] | str:
    """Paths below ``root`` (relative to it) changed from ``old`` to ``new``; a str says why not."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.GitError, OSError, ValueError):
        return "the ops repo is not a git work tree"
    try:
        top = Path(str(repo.working_tree_dir)).resolve()
        rel = root.resolve().relative_to(top).as_posix()
        try:
            git_call(repo, "cat_file", "-e", f"{old}^{{commit}}")
        except git.GitCommandError:
            shallow = git_call(repo, "rev_parse", "--is-shallow-repository").strip() == "true"
            where = "this shallow clone" if shallow else "this clone"
            return f"the last run's commit {old[:12]} is not in {where} (fetch it, or use --full)"
        try:
            git_call(repo, "merge_base", "--is-ancestor", old, new)
        except git.GitCommandError as exc:
            if exc.status == 1:
                return f"the last run's commit {old[:12]} is not an ancestor of HEAD (history rewritten?)"
            raise
        out = git_call(
            repo, "diff", "--name-status", "-M", "-z", "--no-ext-diff", old, new, "--", rel or "."
        )
        paths: list[str] = []
        for change in strip_prefix(parse_name_status(out), "" if rel == "." else rel):
            paths.extend(change.paths())
        return paths
    except (git.GitError, OSError, ValueError) as exc:
        return f"git cannot compare {old[:12]} with HEAD ({type(exc).__name__})"
    finally:
        repo.close()
