"""Load a whole ops repository: settings, then every site, each independently.

The result is a value (:class:`RepoSpec`) the renderer and planner take as input.
A problem in ``gitops-edge.yaml`` makes every site unusable (their defaults are
unknown), so every site is reported invalid, which in turn means nothing is deleted.
The edge bundle (``edge-bundle/``, ``provinces/<site>/edge/``) is loaded here too, so
``validate`` reports its problems; a broken shared bundle makes every site invalid for
the same reason. A :class:`SiteCache` keyed by content hash lets a daemon skip
re-validating the files that did not change between commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops_edge.problems import Problem, field_path, sorted_unique
from gitops_edge.specs.bundle import EMPTY_BUNDLE, SHARED_DIR, EdgeBundle, load_bundle
from gitops_edge.specs.messages import describe
from gitops_edge.specs.opsrepo import DEFAULT_SETTINGS, OpsRepo
from gitops_edge.specs.sites import (
    Site,
    SiteDir,
    collisions,
    digest_of,
    discover,
    site_id_problem,
    validate_site,
)
from gitops_edge.specs.yamlsafe import DEFAULT_LIMITS, Limits, YamlRefused, load_file

SETTINGS_FILE = "gitops-edge.yaml"


@dataclass(frozen=True)
class RepoSpec:
    """Everything read from one ops repo checkout."""

    root: Path
    settings: OpsRepo
    sites: tuple[Site, ...]
    problems: tuple[Problem, ...] = ()
    settings_digest: str = ""
    bundle: EdgeBundle = EMPTY_BUNDLE

    @property
    def valid_sites(self) -> tuple[Site, ...]:
        return tuple(s for s in self.sites if s.valid)

    @property
    def invalid_sites(self) -> tuple[Site, ...]:
        return tuple(s for s in self.sites if not s.valid)

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)


@dataclass
class SiteCache:
    """Validated sites by (file text hash, defaults hash): unchanged files are not re-validated."""

    entries: dict[tuple[str, str, str], Site] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def get(self, key: tuple[str, str, str]) -> Site | None:
        site = self.entries.get(key)
        if site is None:
            self.misses += 1
        else:
            self.hits += 1
        return site

    def put(self, key: tuple[str, str, str], site: Site) -> None:
        self.entries[key] = site


def load_settings(
    root: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[OpsRepo | None, list[Problem], str]:
    """Read ``gitops-edge.yaml``; a missing file means the built-in defaults."""
    path = root / SETTINGS_FILE
    if not path.exists() and not path.is_symlink():
        return DEFAULT_SETTINGS, [], ""
    try:
        data, text = load_file(root, path, limits)
    except YamlRefused as exc:
        return None, [Problem(SETTINGS_FILE, exc.field, exc.message)], ""
    if not isinstance(data, dict):
        return None, [Problem(SETTINGS_FILE, "", "must be an OpsRepo mapping")], ""
    try:
        settings = OpsRepo.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                SETTINGS_FILE, field_path(tuple(e["loc"])), describe(e, OpsRepo, tuple(e["loc"]))
            )
            for e in exc.errors()
        ]
        return None, problems, ""
    return settings, [], digest_of(text)


def load_repo(
    root: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cache: SiteCache | None = None,
) -> RepoSpec:
    """Discover and validate every site of the repo at ``root``."""
    root = root.resolve()
    settings, problems, settings_digest = load_settings(root, limits)
    dirs, discovery_problems = discover(root)
    problems.extend(discovery_problems)
    clashes = collisions(dirs)
    sites: list[Site] = []
    for d in dirs:
        if d.id in clashes:
            others = ", ".join(o.dir for o in clashes[d.id] if o is not d)
            sites.append(
                _invalid(d, f"site id {d.id!r} is also produced by {others}; rename one directory")
            )
            continue
        bad_id = site_id_problem(d.id)
        if bad_id:
            sites.append(_invalid(d, bad_id))
            continue
        if settings is None:
            sites.append(_invalid(d, f"not checked: {SETTINGS_FILE} has errors (fix them first)"))
            continue
        sites.append(_load_site(root, d, settings, settings_digest, limits, cache))
    bundle = load_bundle(root, [(d.id, d.dir) for d in dirs if d.id not in clashes], limits)
    problems.extend(bundle.problems)
    return RepoSpec(
        root,
        settings or DEFAULT_SETTINGS,
        tuple(_with_bundle(s, bundle) for s in sites),
        tuple(problems),
        settings_digest,
        bundle,
    )


def _with_bundle(site: Site, bundle: EdgeBundle) -> Site:
    """The site made invalid by its own ``edge/`` problems or a broken shared bundle."""
    extra = list(bundle.site_problems.get(site.id, ()))
    if bundle.problems:
        extra.append(
            Problem(site.file, "", f"not rendered: {SHARED_DIR}/ has errors (fix them first)")
        )
    if not extra:
        return site
    problems = tuple(sorted_unique((*site.problems, *extra)))
    return replace(site, spec=None, problems=problems, digest="")


def _invalid(d: SiteDir, message: str) -> Site:
    return Site(d.id, d.dir, d.file, None, (Problem(d.file, "", message),))


def _load_site(
    root: Path,
    d: SiteDir,
    settings: OpsRepo,
    settings_digest: str,
    limits: Limits,
    cache: SiteCache | None,
) -> Site:
    try:
        data, text = load_file(root, root / d.file, limits)
    except YamlRefused as exc:
        return Site(d.id, d.dir, d.file, None, (Problem(d.file, exc.field, exc.message),))
    key = (d.file, digest_of(text), settings_digest)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    defaults: dict[str, Any] = settings.spec.defaults
    site = validate_site(d, data, defaults=defaults, defaults_file=SETTINGS_FILE)
    if cache is not None:
        cache.put(key, site)
    return site
