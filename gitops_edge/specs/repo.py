"""Load a whole ops repository: settings, then every site, each independently.

The result is a value (:class:`RepoSpec`) the renderer and planner take as input.
A problem in ``gitops-edge.yaml`` makes every site unusable (their defaults are
unknown), so every site is reported invalid, which in turn means nothing is deleted.
The edge bundle (``edge-bundle/``, ``provinces/<site>/edge/``) is loaded here too, so
``validate`` reports its problems; a broken shared bundle makes every site invalid for
the same reason. A :class:`SiteCache` keyed by content hash lets a daemon skip
re-validating the files that did not change between commits, and by file signature
skip even reading them: a one-site commit reads, parses and validates one file.

The load is in two steps so that it can be cut up: :func:`index_repo` (settings and
discovery, no site file read) and :func:`load_sites` (any subset of the sites, e.g. a
chunk of a 10 000-site reconcile, in any process); :func:`load_repo` is both at once.
:func:`scan_identities` reads only what the fleet-wide uniqueness check needs of the
sites a run does not load (parse and merge, no validation).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from gitops_edge.federation.review import federation_problems
from gitops_edge.problems import Problem, field_path, sorted_unique
from gitops_edge.specs.attribute import check_defaults, settle
from gitops_edge.specs.bundle import EMPTY_BUNDLE, SHARED_DIR, EdgeBundle, load_bundle
from gitops_edge.specs.fleet import Identity, apply_clashes, identity_of_raw
from gitops_edge.specs.merge import deep_merge
from gitops_edge.specs.messages import describe
from gitops_edge.specs.opsrepo import DEFAULT_SETTINGS, OpsRepo
from gitops_edge.specs.sites import (
    EDGE_DIR,
    Site,
    SiteDir,
    collisions,
    digest_of,
    discover,
    iter_yaml_files,
    site_id_problem,
    validate_site,
)
from gitops_edge.specs.yamlsafe import (
    DEFAULT_LIMITS,
    Limits,
    YamlRefused,
    load_file,
    parse_text,
    read_text,
)

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
        return self._by_id.get(site_id)

    @cached_property
    def _by_id(self) -> dict[str, Site]:
        by_id: dict[str, Site] = {}
        for s in self.sites:
            by_id.setdefault(s.id, s)  # the first, as a scan would find it
        return by_id


@dataclass
class SiteCache:
    """Validated sites by (file text hash, defaults hash): unchanged files are not re-validated.

    ``texts`` remembers, per file, its ``lstat`` signature when it was last read and the
    hash of its text, so an unchanged file is not even read again: a commit that touches
    one site costs one file read, one parse and one validation, plus a ``stat`` per site.
    A file whose mtime is within :data:`RACY_SECONDS` of the moment it was read is not
    remembered (git's "racily clean" rule: a write in the same clock tick could leave
    the signature unchanged), nor is a symlink (its target may change under it).
    """

    entries: dict[tuple[str, str, str], Site] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    texts: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    reads: int = 0
    """Files actually read (not answered from ``texts``)."""
    bundle: tuple[Hashable, EdgeBundle] | None = None
    """The last edge bundle loaded, keyed by the signatures of every file it read."""

    def get(self, key: tuple[str, str, str]) -> Site | None:
        site = self.entries.get(key)
        if site is None:
            self.misses += 1
        else:
            self.hits += 1
        return site

    def put(self, key: tuple[str, str, str], site: Site) -> None:
        self.entries[key] = site

    def known_digest(self, path: str) -> str | None:
        """The text hash of ``path`` when its signature is unchanged since it was read."""
        seen = self.texts.get(path)
        if seen is None:
            return None
        sig = _signature(path)
        return seen[1] if sig is not None and sig == seen[0] else None

    def remember(self, path: str, sig: tuple[int, ...] | None, text_digest: str) -> None:
        if sig is None or _racy(sig):
            self.texts.pop(path, None)
        else:
            self.texts[path] = (sig, text_digest)


RACY_SECONDS = 2


def _racy(sig: tuple[int, ...]) -> bool:
    """Modified so recently that a change in the same clock tick could go unseen."""
    return sig[0] > time.time_ns() - RACY_SECONDS * 1_000_000_000


def _signature(path: str) -> tuple[int, ...] | None:
    """(mtime, ctime, size, inode, device) of a regular file, None for anything else."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)


@dataclass(frozen=True)
class RepoIndex:
    """What every part of a repo load shares: settings, discovered sites, repo problems.

    Cheap to build (one settings file and a directory walk) and picklable, so a chunked
    reconcile builds it once and loads sites a chunk at a time, in any process.
    """

    root: Path
    settings: OpsRepo | None
    settings_digest: str
    dirs: tuple[SiteDir, ...]
    problems: tuple[Problem, ...]
    """Settings and discovery problems (bundle problems are added when sites are loaded)."""
    clashes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Site ids claimed by more than one directory, with those directories."""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(d.id for d in self.dirs)


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
    problems = check_defaults(settings.spec.defaults, SETTINGS_FILE)
    if problems:
        return None, problems, ""
    return settings, [], digest_of(text)


def index_repo(root: Path, *, limits: Limits = DEFAULT_LIMITS) -> RepoIndex:
    """Settings and the site directories of the repo at ``root``; no site file is read."""
    root = root.resolve()
    settings, problems, settings_digest = load_settings(root, limits)
    dirs, discovery_problems = discover(root)
    problems.extend(discovery_problems)
    clashes = {k: tuple(d.dir for d in v) for k, v in collisions(dirs).items()}
    return RepoIndex(root, settings, settings_digest, tuple(dirs), tuple(problems), clashes)


def load_sites(
    index: RepoIndex,
    dirs: Iterable[SiteDir] | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cache: SiteCache | None = None,
    compact: bool = False,
    progress: Callable[[], None] | None = None,
) -> RepoSpec:
    """Load and validate ``dirs`` (default: every site of ``index``) into a RepoSpec.

    Only a load of every site checks the fleet as a whole (:mod:`gitops_edge.specs.fleet`);
    a caller loading a subset checks the :class:`~gitops_edge.specs.fleet.Identity` of
    every site itself.

    ``progress`` is called once per site, for a progress bar on a long run.

    A RepoSpec of some sites is what ``load_repo`` would give with the others left
    out: same repo problems, same per-site results. ``compact`` makes validated specs
    share what is the same between sites (see :func:`_compact`), for callers that keep
    every site in memory.
    """
    root, settings = index.root, index.settings
    chosen = index.dirs if dirs is None else tuple(dirs)
    sites: list[Site] = []
    for d in chosen:
        if progress is not None:
            progress()
        if d.id in index.clashes:
            others = ", ".join(o for o in index.clashes[d.id] if o != d.dir)
            sites.append(
                _invalid(d, f"site id {d.id!r} is also produced by {others}; rename one directory")
            )
            continue
        bad_id = site_id_problem(d.id)
        if bad_id:
            sites.append(_invalid(d, bad_id))
            continue
        if d.missing:
            sites.append(Site(d.id, d.dir, d.file, None, (Problem(f"{d.dir}/", "", d.missing),)))
            continue
        if settings is None:
            sites.append(_invalid(d, f"not checked: {SETTINGS_FILE} has errors (fix them first)"))
            continue
        sites.append(_load_site(root, d, settings, index.settings_digest, limits, cache, compact))
    pairs = tuple((d.id, d.dir) for d in chosen if d.edge and d.id not in index.clashes)
    bundle = _load_bundle(root, pairs, limits, cache)
    loaded = [_with_bundle(s, bundle) for s in sites]
    if dirs is None:  # the whole fleet is here: check what two sites may not share
        loaded = apply_clashes(loaded)
    reported, problems = settle(
        root,
        loaded,
        (*index.problems, *bundle.problems, *federation_problems(root, settings, loaded, limits)),
        SETTINGS_FILE,
    )
    return RepoSpec(
        root,
        settings or DEFAULT_SETTINGS,
        reported,
        problems,
        index.settings_digest,
        bundle,
    )


def scan_identities(
    index: RepoIndex, exclude: Iterable[str] = (), *, limits: Limits = DEFAULT_LIMITS
) -> list[Identity]:
    """What every site of ``index`` but ``exclude`` claims in the fleet, without validating it.

    A parse and a defaults merge per file (no pydantic model, no render): about a third
    of what loading the site costs. Sites whose id clashes, that are missing a file, or
    whose file cannot be read or parsed claim nothing, as in a full load; see
    :func:`~gitops_edge.specs.fleet.identity_of_raw` for why it may be stricter than one.
    """
    skip = set(exclude)
    settings = index.settings
    if settings is None:
        return []
    defaults: dict[str, Any] = settings.spec.defaults
    out: list[Identity] = []
    for d in index.dirs:
        if d.id in skip or d.id in index.clashes or d.missing or site_id_problem(d.id):
            continue
        try:
            data = parse_text(read_text(index.root, index.root / d.file, limits), limits)
        except YamlRefused:
            continue
        spec = data.get("spec") if isinstance(data, dict) else None
        merged = deep_merge(defaults, spec if isinstance(spec, dict) else {}) if defaults else spec
        out.append(identity_of_raw(d.id, d.file, merged))
    return out


def load_repo(
    root: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cache: SiteCache | None = None,
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> RepoSpec:
    """Discover and validate every site of the repo at ``root``.

    ``progress(total)``, when given, returns the per-site callback (see ``load_sites``).
    """
    index = index_repo(root, limits=limits)
    tick = None if progress is None else progress(len(index.dirs))
    return load_sites(index, limits=limits, cache=cache, compact=True, progress=tick)


def _load_bundle(
    root: Path, pairs: tuple[tuple[str, str], ...], limits: Limits, cache: SiteCache | None
) -> EdgeBundle:
    """``load_bundle``, answered from the cache while none of its files changed."""
    if cache is None:
        return load_bundle(root, pairs, limits)
    key = _bundle_key(root, pairs, limits)
    if key is not None and cache.bundle is not None and cache.bundle[0] == key:
        return cache.bundle[1]
    bundle = load_bundle(root, pairs, limits)
    cache.bundle = None if key is None else (key, bundle)
    return bundle


def _bundle_key(root: Path, pairs: tuple[tuple[str, str], ...], limits: Limits) -> Hashable | None:
    """Every file ``load_bundle`` reads with its signature; None when one cannot be trusted."""
    files: list[tuple[str, tuple[int, ...]]] = []
    for rel in (SHARED_DIR, *(f"{site_dir}/{EDGE_DIR}" for _, site_dir in pairs)):
        for path in iter_yaml_files(root, rel):
            name = os.fspath(path)
            sig = _signature(name)
            if sig is None or _racy(sig):
                return None
            files.append((name, sig))
    return (os.fspath(root), pairs, tuple(files), limits)


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
    compact: bool = False,
) -> Site:
    name = f"{os.fspath(root)}/{d.file}"
    looked_up = ""
    if cache is not None:
        known = cache.known_digest(name)
        if known is not None:
            hit = cache.get((d.file, known, settings_digest))
            if hit is not None:
                return hit
            looked_up = known
    sig = _signature(name) if cache is not None else None
    try:
        text = read_text(root, root / d.file, limits)
    except YamlRefused as exc:
        return Site(d.id, d.dir, d.file, None, (Problem(d.file, exc.field, exc.message),))
    text_digest = digest_of(text)
    key = (d.file, text_digest, settings_digest)
    if cache is not None:
        cache.reads += 1
        cache.remember(name, sig, text_digest)
        if text_digest != looked_up:
            hit = cache.get(key)
            if hit is not None:
                return hit
    try:
        data = parse_text(text, limits)
    except YamlRefused as exc:
        return Site(d.id, d.dir, d.file, None, (Problem(d.file, exc.field, exc.message),))
    defaults: dict[str, Any] = settings.spec.defaults
    site = validate_site(d, data, defaults=defaults, defaults_file=SETTINGS_FILE)
    if compact and site.spec is not None:
        _compact(site.spec)
    if cache is not None:
        cache.put(key, site)
    return site


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_FIELDS_SETS_LOCK = threading.Lock()


def _compact(model: BaseModel) -> None:
    """Make ``model`` and its sub-models share their "fields set" sets with equal ones.

    pydantic keeps, on every model instance, the set of field names given to it: about
    40 sets of ~250 bytes per site, a third of a validated site's memory, and nearly
    all of them equal across sites. The models are frozen and pydantic copies the set
    before changing it (``model_copy``), so equal sets can be one object.
    """
    fields_set = model.__pydantic_fields_set__
    key = frozenset(fields_set)
    with _FIELDS_SETS_LOCK:
        shared = _FIELDS_SETS.get(key)
        if shared is None:
            if len(_FIELDS_SETS) >= 10_000:
                _FIELDS_SETS.clear()
            shared = _FIELDS_SETS[key] = fields_set
    object.__setattr__(model, "__pydantic_fields_set__", shared)
    for value in model.__dict__.values():
        if isinstance(value, BaseModel):
            _compact(value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, BaseModel):
                    _compact(item)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, BaseModel):
                    _compact(item)
