"""Show a plan: kubectl-diff-like text, JSON for machines, Markdown for a merge request.

The Markdown is read by a reviewer deciding whether to merge, often for a change that
touches thousands of sites, so it is ordered by what can hurt (destructive actions,
invalid and blocked sites) before what is routine, identical changes are shown once
with the number of sites they apply to, gitops-edge's own per-run annotations are
left out of the diffs, and it always fits a GitHub comment (65 536 characters).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from gitops_edge.labels import PREVIOUS_RUN
from gitops_edge.plan.diff import clean_for_display
from gitops_edge.plan.eggo_story import Story, story
from gitops_edge.plan.model import ObjectChange, Plan, SitePlan, gate_counts
from gitops_edge.render.meta import SOURCE_REVISION, SPEC_HASH
from gitops_edge.specs.eggo import DeployConfig

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

SYMBOL = {"create": "+", "update": "~", "delete": "-", "unchanged": " "}


def _eggo_text(site: SitePlan) -> str:
    if site.eggo is None or site.eggo.operation == "none":
        return ""
    detail = f" ({site.eggo.detail})" if site.eggo.detail else ""
    return f"eggo {site.eggo.operation}{detail}"


def _head(site: SitePlan) -> str:
    c = site.counts()
    parts = [f"{c['create']} to create, {c['update']} to update, {c['delete']} to delete"]
    if eggo := _eggo_text(site):
        parts.append(eggo)
    if site.reason:
        parts.append(site.reason)
    return f"site {site.site} [{site.gate}] wave {site.wave}: " + "; ".join(parts)


def to_text(plan: Plan, *, diffs: bool = True) -> str:
    lines = [
        f"Plan for revision {plan.revision}"
        + (f" (wave {plan.current_wave} in progress)" if plan.current_wave is not None else "")
    ]
    if plan.refused:
        lines.append(plan.refused)
    lines.extend(f"repo: {p}" for p in plan.problems)
    lines.extend(f"note: {n}" for n in plan.notes)
    for site in plan.sites:
        if (
            site.gate == "ready"
            and not site.pending()
            and (site.eggo is None or site.eggo.operation == "none")
        ):
            continue
        lines.append(_head(site))
        for change in site.pending():
            why = f" ({change.reason})" if change.reason else ""
            lines.append(f"  {SYMBOL[change.action]} {change.describe()}{why}")
            if diffs and change.action == "update":
                lines.extend("    " + d for d in review_diff(change, width=None))
    counts = ", ".join(f"{n} {k}" for k, n in gate_counts(plan).items())
    lines.append(
        f"{len(plan.sites)} site(s): {counts}; {sum(len(s.pending()) for s in plan.emitting())} object change(s) to emit"
    )
    return "\n".join(lines) + "\n"


def to_json(plan: Plan) -> dict[str, Any]:
    """The ``plan -o json`` contract. Keys are snake_case, like ``status -o json``."""
    return {
        "revision": plan.revision,
        "refused": plan.refused or None,
        "current_wave": plan.current_wave,
        "problems": list(plan.problems),
        "notes": list(plan.notes),
        "summary": gate_counts(plan),
        "sites": [
            {
                "site": s.site,
                "wave": s.wave,
                "gate": s.gate,
                "reason": s.reason,
                "done": s.done,
                "failed": s.failed,
                "eggo": None
                if s.eggo is None
                else {"operation": s.eggo.operation, "detail": s.eggo.detail, "job": s.eggo.job},
                "counts": s.counts(),
                "changes": [
                    {
                        "action": c.action,
                        "api_version": c.key[0],
                        "kind": c.kind,
                        "namespace": c.namespace,
                        "name": c.name,
                        "reason": c.reason,
                    }
                    for c in s.pending()
                ],
            }
            for s in plan.sites
        ],
    }


# ---------------------------------------------------------------------------
# Markdown for a merge request

LIMIT = 60_000
"""GitHub refuses comments over 65 536 characters; GitLab notes are cut near 1 MB."""
_NAMES = 20
"""Site ids named per group; the rest are counted (the JSON plan lists every one)."""
_LINE = 240
"""Characters of one diff line shown (a long ConfigMap value is not worth a comment)."""
_NOISE_ANNOTATIONS = (SOURCE_REVISION, SPEC_HASH, PREVIOUS_RUN)
"""Change on every run (the commit, the content hash, the run chain): not review material."""
_GATE_ORDER = ("invalid", "blocked", "failed", "removed", "ready", "waiting", "deferred")
_QUIET_GATES = ("suspended",)
_TABLE_SITES = 10
"""Up to this many changed sites the comment starts with one table row per site."""


def _count(n: int) -> str:
    """``2 987``: thousands grouped by a space, as the fleet's operators write them."""
    return f"{n:,}".replace(",", " ")


def _sites(ids: Sequence[str]) -> str:
    shown = ", ".join(f"`{i}`" for i in ids[:_NAMES])
    return shown + (f" and {_count(len(ids) - _NAMES)} more" if len(ids) > _NAMES else "")


def _placeholder(site: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(site)}(?![A-Za-z0-9])")


def _quiet(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """``obj`` without server fields and gitops-edge's per-run annotations."""
    if obj is None:
        return None
    shown = clean_for_display(obj)
    meta = dict(shown["metadata"])
    notes = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _NOISE_ANNOTATIONS
    }
    if notes:
        meta["annotations"] = notes
    else:
        meta.pop("annotations", None)
    return {**shown, "metadata": meta}


def _dump(obj: dict[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False).splitlines()


def review_diff(change: ObjectChange, *, width: int | None = _LINE) -> list[str]:
    """The change as a reviewer needs it: declared fields only, no annotation churn.

    ``width``: longer lines are cut (a comment); None keeps them whole (the terminal).
    """
    desired = _quiet(change.desired)
    live = _quiet(change.live)
    if live is not None and desired is not None:
        live = _trim(desired, live)
    before = _dump(live) if change.action != "create" else []
    after = _dump(desired) if change.action != "delete" else []
    label = change.describe()
    lines = list(
        difflib.unified_diff(before, after, f"live/{label}", f"desired/{label}", lineterm="", n=2)
    )
    if change.action == "update" and not lines:
        return ["(only gitops-edge's revision and hash annotations differ)"]
    if width is None:
        return lines
    return [line if len(line) <= width else line[:width] + " …" for line in lines]


def _trim(desired: Any, live: Any) -> Any:
    """Live cut to the fields desired declares, so server defaults do not clutter diffs."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: _trim(desired[k], live[k]) for k in desired if k in live}
    return live


@dataclass(frozen=True)
class _Body:
    """One site's change, with its own id replaced by ``<site>`` so identical ones group."""

    heading: str
    lines: tuple[str, ...]
    diff: tuple[str, ...]


@dataclass
class _Group:
    body: _Body
    gate: str
    sites: list[SitePlan]

    @property
    def waves(self) -> str:
        waves = sorted({s.wave for s in self.sites})
        return ("wave " if len(waves) == 1 else "waves ") + ", ".join(map(str, waves))


def _eggo_lines(site: SitePlan, story: Story) -> list[str]:
    out: list[str] = []
    if story.runs:
        steps = " → ".join(f"{i}. {r.operation}: {r.detail}" for i, r in enumerate(story.runs, 1))
        out.append(f"- eggo runs, in order: {steps}")
        if len(story.runs) > 1:
            out.append(
                "  (one run per reconcile: each next run starts after the previous one succeeded)"
            )
    elif eggo := _eggo_text(site):
        out.append(f"- {eggo}")
    if story.new_cluster:
        out.append(f"- new {story.new_cluster}")
    return out


def _body(site: SitePlan, story: Story, max_diff_lines: int) -> _Body:
    lines = _eggo_lines(site, story)
    if site.gate == "blocked" and story.changed:
        lines += [f"- `{k}`: {_value(old)} → {_value(new)}" for k, old, new in story.changed]
    diff: list[str] = []
    pending = sorted(site.pending(), key=lambda c: ("update", "create", "delete").index(c.action))
    for change in pending:
        why = f" ({change.reason})" if change.reason else ""
        lines.append(f"- `{SYMBOL[change.action]}` {change.describe()}{why}")
        if change.action != "delete" and len(diff) < max_diff_lines:
            diff += review_diff(change)
    if len(diff) > max_diff_lines:
        diff = [*diff[:max_diff_lines], f"... {len(diff) - max_diff_lines} more line(s)"]
    c = site.counts()
    heading = f"{c['create']} to create, {c['update']} to update, {c['delete']} to delete"
    sub = _placeholder(site.site)

    def norm(text: str) -> str:
        return sub.sub("<site>", text)

    return _Body(norm(heading), tuple(map(norm, lines)), tuple(map(norm, diff)))


def _value(v: Any) -> str:
    if v is None:
        return "(unset)"
    text = v if isinstance(v, str) else yaml.safe_dump(v, default_flow_style=True).strip()
    return f"`{text}`"


def _destructive(site: SitePlan, story: Story) -> list[str]:
    """Sentences for what this site's change destroys (with its id replaced by ``<site>``)."""
    out: list[str] = []
    runs = [r for r in story.runs if r.destructive and r.operation != "rebuild"]
    for run in runs:
        if run.operation == "cleanup":
            out.append(f"**eggo cleanup** (rebuild): {run.detail}, then deploy it anew")
        else:
            out.append(f"**eggo {run.operation}** (host deletion): {run.detail}")
    if not runs and site.eggo is not None and site.eggo.operation in ("cleanup", "delete"):
        what = "the province cluster" if site.gate == "removed" else site.eggo.detail
        kind = "host deletion" if site.eggo.operation == "delete" else "destroys the cluster"
        out.append(f"**eggo {site.eggo.operation}** ({kind}): {what}")
    for change in site.pending():
        if change.action == "delete" and change.kind == "Namespace":
            out.append(f"**Namespace deletion**: {change.name} ({change.reason or 'deleted'})")
    deletes = sum(1 for c in site.pending() if c.action == "delete" and c.kind != "Namespace")
    if out and deletes:
        out.append(f"{deletes} other object(s) deleted")
    sub = _placeholder(site.site)
    return [sub.sub("<site>", line) for line in out]


class _Budget:
    """Blocks of markdown appended while they fit under ``limit`` (footer space kept)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit - 700
        self.parts: list[str] = []
        self.size = 0
        self.left_out = 0

    def add(self, *candidates: list[str]) -> bool:
        """Append the first candidate that fits; False (and counted) when none does."""
        if self.left_out:
            self.left_out += 1
            return False
        for lines in candidates:
            text = "\n".join(lines) + "\n"
            if self.size + len(text) <= self.limit:
                self.parts.append(text)
                self.size += len(text)
                return True
        self.left_out += 1
        return False


def _grouped(items: list[tuple[str, str]]) -> list[str]:
    """``(site, sentence)`` pairs as one bullet per distinct sentence naming its sites."""
    by_text: dict[str, list[str]] = {}
    for site, text in items:
        by_text.setdefault(text, []).append(site)
    out = []
    for text, ids in sorted(by_text.items(), key=lambda kv: (-len(kv[1]), kv[1][0])):
        if len(ids) == 1:
            out.append(f"- `{ids[0]}`: {_placeholder('<site>').sub(ids[0], text)}")
        else:
            out.append(f"- on {_count(len(ids))} sites ({_sites(ids)}): {text}")
    return out


def to_markdown(
    plan: Plan,
    *,
    desired: Mapping[str, DeployConfig] | None = None,
    allow_rebuild: Mapping[str, bool] | None = None,
    limit: int = LIMIT,
    full_report: str = "",
    max_diff_lines: int = 60,
    sections: Sequence[list[str]] = (),
) -> str:
    """A merge-request comment: destructive actions first, identical changes grouped.

    ``desired``: the repo's eggo spec per site, so the comment shows every eggo run a
    change implies, what a new cluster will be and old -> new values of a blocked
    change (without it only this run's step is shown). The result is always shorter
    than ``limit`` characters; when something had to be left out, the last line says
    how much and points at ``full_report`` (the JSON or text plan kept elsewhere).
    ``sections``: more markdown (the federation section), inside the same budget.
    """
    desired = desired or {}
    allow_rebuild = allow_rebuild or {}
    head = [f"### gitops-edge plan for `{plan.revision[:12]}`", ""]
    if plan.refused:
        head += [f"> :no_entry: **{plan.refused}**", ""]
    head += [f"- :warning: {p[:_LINE]}" for p in plan.problems[:20]]
    if len(plan.problems) > 20:
        head.append(f"- ... {_count(len(plan.problems) - 20)} more repo-level problem(s)")
    head += [f"> [!NOTE]\n> {n[:_LINE]}\n" for n in plan.notes]
    summary = gate_counts(plan)
    emitting = sum(len(s.pending()) for s in plan.emitting())
    counts = ", ".join(f"{_count(n)} {k}" for k, n in summary.items())
    head += [
        f"**{_count(len(plan.sites))} site(s)**: {counts}; "
        f"{_count(emitting)} object change(s) to emit in this run.",
        "",
    ]
    budget = _Budget(limit)
    budget.add(head)
    changed = [
        s
        for s in plan.sites
        if s.pending() or (s.gate != "ready" and s.gate not in _QUIET_GATES) or _eggo_text(s)
    ]
    if not changed:
        budget.add(["No changes."])
        return "".join(budget.parts)
    stories = {s.site: _story(s, desired, allow_rebuild) for s in changed}

    destroy = [(s.site, line) for s in changed for line in _destructive(s, stories[s.site])]
    if destroy:
        budget.add(
            [
                f"#### :warning: Destructive actions ({_count(len(destroy))})",
                "",
                "> [!WARNING]",
                "> Merging this change destroys what is listed here. Review it before anything else.",
                "",
            ]
        )
        for line in _grouped(destroy):
            budget.add([line])
        budget.add([""])

    if len(changed) <= _TABLE_SITES:
        table = [
            "| Site | Wave | Gate | Create | Update | Delete | eggo |",
            "|---|---:|---|---:|---:|---:|---|",
        ]
        for s in changed:
            c = s.counts()
            op = s.eggo.operation if s.eggo and s.eggo.operation != "none" else ""
            table.append(
                f"| `{s.site}` | {s.wave} | {s.gate} | {c['create']} | {c['update']} "
                f"| {c['delete']} | {op} |"
            )
        budget.add([*table, ""])
    listed = ("ready", "removed", "waiting", "deferred", *_QUIET_GATES)
    extra_gates = sorted({s.gate for s in changed} - {"invalid", "blocked", *listed})
    for gate in ("invalid", "blocked", *extra_gates):
        members = [s for s in changed if s.gate == gate]
        if not members:
            continue
        icon = {"invalid": ":x:", "blocked": ":no_entry_sign:"}.get(gate, ":grey_question:")
        budget.add([f"#### {icon} {gate.capitalize()} ({_count(len(members))})", ""])
        items: list[tuple[str, str]] = []
        for s in members:
            sub = _placeholder(s.site)
            text = sub.sub("<site>", s.reason or _eggo_text(s) or gate)
            story = stories[s.site]
            if gate == "blocked" and story.changed:
                text += "; " + ", ".join(
                    f"`{k}` {_value(old)} → {_value(new)}" for k, old, new in story.changed
                )
            items.append((s.site, text[: _LINE * 2]))
        for line in _grouped(items):
            budget.add([line])
        budget.add([""])

    groups: dict[tuple[str, _Body], _Group] = {}
    for s in changed:
        if not s.pending() and s.gate not in ("ready", "removed") and not _eggo_text(s):
            continue
        if s.gate in ("invalid",):
            continue
        body = _body(s, stories[s.site], max_diff_lines)
        groups.setdefault((s.gate, body), _Group(body, s.gate, [])).sites.append(s)
    order = {g: i for i, g in enumerate(_GATE_ORDER)}
    ranked = sorted(
        groups.values(),
        key=lambda g: (order.get(g.gate, len(order)), -len(g.sites), g.sites[0].site),
    )
    if ranked:
        budget.add(["#### Changes", ""])
    for group in ranked:
        budget.add(_group_md(group, diff=True), _group_md(group, diff=False))

    for section in sections:
        budget.add(section)
    if budget.left_out:
        where = full_report[:300] or "`gitops-edge plan -o json` (or `-o text`)"
        budget.limit += 700
        budget.parts.append(
            f"\n_This comment is cut to stay under {_count(limit)} characters: "
            f"{_count(budget.left_out)} more section(s) not shown. The full plan: {where}._\n"
        )
    return "".join(budget.parts)


def _story(
    site: SitePlan, desired: Mapping[str, DeployConfig], allow_rebuild: Mapping[str, bool]
) -> Story:
    if site.eggo is None or (
        site.eggo.operation in ("none", "running", "failed") and site.gate != "blocked"
    ):
        return Story()
    return story(site, desired, allow_rebuild)


def _group_md(group: _Group, *, diff: bool) -> list[str]:
    ids = [s.site for s in group.sites]
    body = group.body
    if len(ids) == 1:
        sub = _placeholder("<site>")

        def real(text: str) -> str:
            return sub.sub(ids[0], text)

        title = f"##### `{ids[0]}` — {group.gate}, {group.waves}: {real(body.heading)}"
        lines, diff_lines = list(map(real, body.lines)), list(map(real, body.diff))
    else:
        title = (
            f"##### Same change on {_count(len(ids))} sites — {group.gate}, "
            f"{group.waves}: {body.heading} each"
        )
        lines, diff_lines = [f"- sites: {_sites(ids)}", *body.lines], list(body.diff)
    reasons = sorted({s.reason for s in group.sites if s.reason})
    if reasons and group.gate != "ready":
        shown = [f"  - {r[:_LINE]}" for r in reasons[:5]]
        extra = [f"  - ... {_count(len(reasons) - 5)} more"] if len(reasons) > 5 else []
        lines += ["- why:", *shown, *extra]
    out = [title, "", *lines, ""]
    if diff and diff_lines:
        out += [
            "<details><summary>diff</summary>",
            "",
            "```diff",
            *diff_lines,
            "```",
            "</details>",
            "",
        ]
    return out
