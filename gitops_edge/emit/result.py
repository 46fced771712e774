"""What a sink did, per site, for reports, metrics and exit statuses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SiteResult:
    site: str
    written: int = 0
    deleted: int = 0
    errors: list[str] = field(default_factory=list)
    superseded: int = 0
    """Objects left alone because the live copy comes from a newer commit than the plan's."""
    unchanged: int = 0
    """Updates skipped because this process already wrote that content (the cache lagged)."""


@dataclass
class EmitResult:
    sink: str
    sites: dict[str, SiteResult] = field(default_factory=dict)
    refused: str = ""
    note: str = ""

    def site(self, site_id: str) -> SiteResult:
        return self.sites.setdefault(site_id, SiteResult(site_id))

    @property
    def ok(self) -> bool:
        return not self.refused and all(not s.errors for s in self.sites.values())

    @property
    def written(self) -> int:
        return sum(s.written for s in self.sites.values())

    @property
    def deleted(self) -> int:
        return sum(s.deleted for s in self.sites.values())

    @property
    def superseded(self) -> int:
        return sum(s.superseded for s in self.sites.values())

    def errors(self) -> list[str]:
        return [f"{s.site}: {e}" for s in self.sites.values() for e in s.errors]
