"""Show a plan: kubectl-diff-like text, JSON for machines, Markdown for a pull-request comment."""

from __future__ import annotations

from typing import Any

from gitops_edge.plan.diff import unified
from gitops_edge.plan.model import Plan, SitePlan

SYMBOL = {"create": "+", "update": "~", "delete": "-", "unchanged": " "}


def _summary(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in plan.sites:
        key = "unchanged" if s.gate == "ready" and not s.pending() else s.gate
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


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
                lines.extend(
                    "    " + d for d in unified(change.desired, change.live, change.describe())
                )
    counts = ", ".join(f"{n} {k}" for k, n in _summary(plan).items())
    lines.append(
        f"{len(plan.sites)} site(s): {counts}; {sum(len(s.pending()) for s in plan.emitting())} object change(s) to emit"
    )
    return "\n".join(lines) + "\n"


def to_json(plan: Plan) -> dict[str, Any]:
    return {
        "revision": plan.revision,
        "refused": plan.refused or None,
        "currentWave": plan.current_wave,
        "problems": list(plan.problems),
        "summary": _summary(plan),
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
                        "apiVersion": c.key[0],
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


def to_markdown(plan: Plan, *, max_diff_lines: int = 60) -> str:
    """A pull-request comment: verdict, summary table, then per-site details."""
    out = [f"### gitops-edge plan for `{plan.revision[:12]}`", ""]
    if plan.refused:
        out += [f"> :no_entry: **{plan.refused}**", ""]
    for p in plan.problems:
        out.append(f"- :warning: {p}")
    changed = [s for s in plan.sites if s.pending() or s.gate not in ("ready",)]
    counts = ", ".join(f"{n} {k}" for k, n in _summary(plan).items())
    out += [f"**{len(plan.sites)} site(s)**: {counts}.", ""]
    if not changed:
        out.append("No changes.")
        return "\n".join(out) + "\n"
    out += [
        "| Site | Wave | Gate | Create | Update | Delete | eggo |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for s in changed:
        c = s.counts()
        op = s.eggo.operation if s.eggo and s.eggo.operation != "none" else ""
        out.append(
            f"| `{s.site}` | {s.wave} | {s.gate} | {c['create']} | {c['update']} | {c['delete']} | {op} |"
        )
    out.append("")
    for s in changed:
        out += [
            "<details>",
            f"<summary><code>{s.site}</code> — {s.gate}{': ' + s.reason if s.reason else ''}</summary>",
            "",
        ]
        if eggo_line := _eggo_text(s):
            out += [f"- {eggo_line}"]
        body: list[str] = []
        for change in s.pending():
            body.append(
                f"{SYMBOL[change.action]} {change.describe()}"
                + (f" ({change.reason})" if change.reason else "")
            )
            if change.action == "update":
                body.extend(unified(change.desired, change.live, change.describe()))
        if body:
            if len(body) > max_diff_lines:
                body = [*body[:max_diff_lines], f"... {len(body) - max_diff_lines} more line(s)"]
            out += ["```diff", *body, "```"]
        out += ["</details>", ""]
    return "\n".join(out) + "\n"
