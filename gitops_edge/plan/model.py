"""The values a plan is made of: per-object changes, per-site gates, the run verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update", "delete", "unchanged"]
Gate = Literal[
    "ready", "deferred", "blocked", "failed", "suspended", "invalid", "waiting", "removed"
]
"""``failed``: the latest eggo run failed (or eggo reported failed hosts) or an
Application is Degraded; the site's other changes still go out, eggo is not rerun."""

HISTORY_COMPONENTS = frozenset({"eggo-run", "eggo-config"})
"""eggo runs are records: kept while the site exists, so a past run stays readable."""


def obj_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def describe_key(key: tuple[str, str, str, str]) -> str:
    _api, kind, ns, name = key
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


@dataclass(frozen=True)
class ObjectChange:
    """One object's fate in this run."""

    action: Action
    key: tuple[str, str, str, str]
    desired: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    live: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    reason: str = ""

    @property
    def kind(self) -> str:
        return self.key[1]

    @property
    def name(self) -> str:
        return self.key[3]

    @property
    def namespace(self) -> str:
        return self.key[2]

    def describe(self) -> str:
        return describe_key(self.key)


@dataclass(frozen=True)
class EggoStep:
    """What eggo does (or did) for the site this run."""

    operation: Literal[
        "deploy", "join", "delete", "cleanup", "none", "running", "failed", "rebuild"
    ]
    detail: str = ""
    job: str = ""
    failed_hosts: tuple[str, ...] = ()
    """IPs eggo's own summary reported failed (rolled back, not in the cluster)."""


@dataclass(frozen=True)
class SitePlan:
    site: str
    wave: int
    gate: Gate
    reason: str = ""
    changes: tuple[ObjectChange, ...] = ()
    eggo: EggoStep | None = None
    done: bool = False
    """Nothing pending and the last eggo run and Applications are healthy (wave accounting)."""
    failed: bool = False
    in_repo: bool = True
    """False for a site whose directory is gone (it belongs to no wave)."""
    held: str = ""
    """Non-empty: a ``failed`` site of a wave not released yet; its changes wait, and why."""

    def pending(self) -> tuple[ObjectChange, ...]:
        return tuple(c for c in self.changes if c.action != "unchanged")

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    @property
    def emits(self) -> bool:
        """True when this run writes anything for the site."""
        return self.gate in ("ready", "failed", "removed") and not self.held and bool(self.pending())


@dataclass(frozen=True)
class Plan:
    revision: str
    sites: tuple[SitePlan, ...]
    refused: str = ""
    """Non-empty: the whole run is refused (mass-deletion guard) and nothing is emitted."""
    current_wave: int | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What the report must say about where the plan was made (waves not enforced there)."""

    def emitting(self) -> tuple[SitePlan, ...]:
        return () if self.refused else tuple(s for s in self.sites if s.emits)

    @property
    def has_changes(self) -> bool:
        """Live differs from the repo somewhere it will be (or is waiting to be) reconciled.

        A suspended site is left out: by definition nothing is emitted for it.
        """
        return any(s.pending() for s in self.sites if s.gate != "suspended")

    def deletions(self) -> int:
        return sum(
            1
            for s in self.sites
            if s.gate in ("ready", "failed", "removed") and not s.held
            for c in s.changes
            if c.action == "delete"
        )


def gate_counts(plan: Plan) -> dict[str, int]:
    """The plan's summary: sites per gate, ``ready`` with nothing to do as ``unchanged``.

    ``plan`` prints exactly these counts and ``status`` repeats them.
    """
    out: dict[str, int] = {}
    for s in plan.sites:
        key = summary_key(s.gate, len(s.pending()))
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def summary_key(gate: str, changes: int | None) -> str:
    """Where a site counts in a plan's summary: its gate, ``unchanged`` for ready and in sync."""
    return "unchanged" if gate == "ready" and changes == 0 else gate
