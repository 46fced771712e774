"""Sites: discovery under ``provinces/`` and validation of one site's merged spec.

A site is a directory below ``provinces/`` holding ``cluster.yaml``; its id is the path
with ``/`` turned into ``-``. Everything here works per site so that one broken file
costs one site, never the fleet.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops_edge.problems import Problem, field_path, sorted_unique
from gitops_edge.specs import eggo, k8s
from gitops_edge.specs.merge import child, deep_merge, has_path
from gitops_edge.specs.messages import describe
from gitops_edge.specs.province import ProvinceCluster, spec_findings

PROVINCES = "provinces"
CLUSTER_FILE = "cluster.yaml"
EDGE_DIR = "edge"
MAX_SITE_ID = 48
"""Leaves room for the namespace prefix and the longest derived object name."""


@dataclass(frozen=True)
class SiteDir:
    """A directory that declares a site, before its file is read."""

    id: str
    dir: str
    file: str
    edge: bool = field(default=True, compare=False)
    """False when discovery saw no ``edge/`` directory here (nothing to load for it)."""
    missing: str = field(default="", compare=False)
    """Non-empty: the directory holds YAML files but no ``cluster.yaml``; why it is invalid."""


@dataclass(frozen=True)
class Site:
    """One site after loading: its spec when valid, its problems when not."""

    id: str
    dir: str
    file: str
    spec: ProvinceCluster | None
    problems: tuple[Problem, ...] = ()
    digest: str = ""

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.problems


def site_id_for(rel_dir: str) -> str:
    """``provinces/guangdong/shenzhen-1`` -> ``guangdong-shenzhen-1``."""
    return rel_dir.removeprefix(PROVINCES + "/").replace("/", "-")


def site_id_problem(site_id: str) -> str | None:
    if not k8s.is_dns1123_label(site_id, MAX_SITE_ID):
        shown = site_id.encode("ascii", "backslashreplace").decode()
        return (
            f"site id {shown!r} (from the directory path) must be a DNS-1123 label of at most "
            f"{MAX_SITE_ID} characters: rename the directory with lower-case ASCII letters, "
            "digits and '-'"
        )
    return None


_NAME = operator.attrgetter("name")


def discover(root: Path) -> tuple[list[SiteDir], list[Problem]]:
    """Every site directory under ``provinces/``, sorted; symlinked directories are not entered.

    A site is removed only when its directory is gone, so discovery never loses one
    silently: a directory holding YAML files but no ``cluster.yaml`` (``cluster.yml``,
    ``Cluster.yaml``, a typo) is a site that is invalid, and a ``provinces/`` that is
    missing, a symlink, unreadable or empty is a problem of the repo (which plans
    nothing and removes nothing).
    """
    found: list[SiteDir] = []
    problems: list[Problem] = []
    base = root / PROVINCES
    if base.is_symlink() or not base.is_dir():
        what = "is a symlink, which is not followed" if base.is_symlink() else "is missing"
        if base.exists() and not base.is_symlink():
            what = "is not a directory"
        return [], [Problem(PROVINCES, "", f"{what}: {BROKEN}")]
    cut = len(os.fspath(root).rstrip("/")) + 1  # strips "<root>/" from scandir's paths
    base_path = os.fspath(base)
    stack = [base_path]  # plain strings: 10 000 sites make Path objects add up
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
            if len(entries) > 1:
                entries.sort(key=_NAME)
        except OSError as exc:
            detail = f"cannot be read: {exc.strerror}"
            if current == base_path:
                detail += f"; {BROKEN}"
            problems.append(Problem(current[cut:], "", detail))
            continue
        declares = edge = False
        yaml_files: list[str] = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name == EDGE_DIR:
                    edge = True
                else:
                    stack.append(entry.path)
            elif entry.is_symlink() and _is_dir(entry):
                if entry.name == EDGE_DIR:
                    edge = True  # the site's bundle loader refuses it: the site is invalid
                    continue
                problems.append(
                    Problem(
                        entry.path[cut:],
                        "",
                        "is a symlinked directory, which is not followed; make it a real directory",
                    )
                )
            elif entry.name == CLUSTER_FILE and current != base_path:
                declares = True
            elif entry.name.endswith((".yaml", ".yml")):
                yaml_files.append(entry.name)
            elif "." not in entry.name and entry.is_file(follow_symlinks=False):
                # where a site directory would be: a directory turned into a file by
                # mistake must not read as "site removed"
                problems.append(
                    Problem(
                        entry.path[cut:],
                        "",
                        "is a file where a site directory would be; sites are directories "
                        f"holding {CLUSTER_FILE} (removals wait until this is fixed)",
                    )
                )
        rel_dir = current[cut:]
        if declares:
            found.append(SiteDir(site_id_for(rel_dir), rel_dir, f"{rel_dir}/{CLUSTER_FILE}", edge))
        elif yaml_files and current == base_path:
            problems.extend(
                Problem(
                    f"{rel_dir}/{name}",
                    "",
                    f"is not read: a site is a directory {PROVINCES}/<site>/ holding {CLUSTER_FILE}",
                )
                for name in yaml_files
            )
        elif yaml_files:
            found.append(
                SiteDir(
                    site_id_for(rel_dir),
                    rel_dir,
                    f"{rel_dir}/{CLUSTER_FILE}",
                    edge,
                    missing=_missing_cluster_file(rel_dir, yaml_files),
                )
            )
    if not found and not problems:
        problems.append(Problem(PROVINCES, "", f"holds no site: {BROKEN}"))
    found.sort(key=lambda s: s.dir)
    return found, problems


BROKEN = (
    "the repo is treated as broken, so nothing is planned and nothing is removed; "
    f"restore {PROVINCES}/ with one directory per site holding {CLUSTER_FILE}"
)


def _missing_cluster_file(rel_dir: str, yaml_files: list[str]) -> str:
    """Why a directory with YAML files but no ``cluster.yaml`` is an invalid site."""
    near = difflib.get_close_matches(
        CLUSTER_FILE, [n.lower() for n in yaml_files], n=1, cutoff=0.75
    )
    if near:
        name = next(n for n in yaml_files if n.lower() == near[0])
        return (
            f"no {CLUSTER_FILE} here, but {name}: did you mean {CLUSTER_FILE}? Rename it "
            "(the site is invalid meanwhile: nothing is planned for it and nothing is removed)"
        )
    listed = ", ".join(yaml_files[:3]) + (", ..." if len(yaml_files) > 3 else "")
    return (
        f"holds YAML files ({listed}) but no {CLUSTER_FILE}: add {CLUSTER_FILE}, or move the "
        f"files out of {PROVINCES}/ (the site is invalid meanwhile: nothing is removed)"
    )


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """``entry.is_dir()`` through a symlink; a loop or a dangling link is not a directory."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def collisions(dirs: list[SiteDir]) -> dict[str, list[SiteDir]]:
    """Site ids claimed by more than one directory (``a-b/c`` and ``a/b-c``)."""
    by_id: dict[str, list[SiteDir]] = {}
    for d in dirs:
        by_id.setdefault(d.id, []).append(d)
    return {k: v for k, v in by_id.items() if len(v) > 1}


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def digest_of(*parts: Any) -> str:
    """A stable content hash (canonical JSON) used for caching and spec-hash annotations."""
    return hashlib.sha256(_CANONICAL.encode(parts).encode()).hexdigest()


def validate_site(
    site: SiteDir,
    raw: Any,
    *,
    defaults: dict[str, Any],
    defaults_file: str,
) -> Site:
    """Merge ``defaults`` under ``raw`` and validate; problems name the file that holds the field."""
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        got = "empty" if raw is None else f"a {type(raw).__name__}"
        return Site(
            site.id,
            site.dir,
            site.file,
            None,
            (Problem(site.file, "", f"must be a ProvinceCluster mapping, but the file is {got}"),),
        )
    spec_raw = raw.get("spec")
    merged = dict(raw)
    if defaults:
        merged["spec"] = deep_merge(defaults, spec_raw if isinstance(spec_raw, dict) else {})

    def where(loc: tuple[str | int, ...]) -> str:
        if has_path(raw, loc) or not defaults:
            return site.file
        if loc[:1] == ("spec",) and has_path(defaults, loc[1:]):
            return defaults_file
        return site.file

    eggo_raw = merged.get("spec", {}).get("eggo") if isinstance(merged.get("spec"), dict) else None
    for loc, msg in eggo.credential_findings(eggo_raw):
        full = ("spec", "eggo", *loc)
        problems.append(Problem(where(full), field_path(full), msg))
    if problems and isinstance(eggo_raw, dict):
        merged["spec"] = dict(merged["spec"])
        merged["spec"]["eggo"] = {
            k: v for k, v in eggo_raw.items() if k not in eggo.CREDENTIAL_KEYS
        }

    spec: ProvinceCluster | None = None
    bad_locs: list[tuple[str | int, ...]] = []
    try:
        spec = ProvinceCluster.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            bad_locs.append(loc)
            problems.append(
                Problem(where(loc), field_path(loc), describe(err, ProvinceCluster, loc))
            )
    # Rules run on what did validate, so one bad field never hides the others.
    checked = spec if spec is not None else _salvage(merged, bad_locs)
    meta = raw.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if isinstance(name, str) and name != site.id:
        problems.append(
            Problem(
                site.file,
                "metadata.name",
                f"{name!r} must equal the site id {site.id!r} (or be left out)",
            )
        )
    findings: list[tuple[tuple[str | int, ...], str]] = []
    if checked is not None:
        findings.extend((("spec", *loc), msg) for loc, msg in spec_findings(checked.spec))
    eggo_conf = checked.spec.eggo if checked is not None else _salvage_eggo(merged, bad_locs)
    if eggo_conf is not None:
        findings.extend((("spec", "eggo", *loc), msg) for loc, msg in eggo.check(eggo_conf))
    for full, msg in findings:
        if not any(full[: len(b)] == b or b[: len(full)] == full for b in bad_locs):
            problems.append(Problem(where(full), field_path(full), msg))
    ok = spec is not None and not problems
    return Site(
        site.id,
        site.dir,
        site.file,
        spec if ok else None,
        tuple(sorted_unique(problems)),
        digest_of(merged) if ok else "",
    )


def iter_yaml_files(root: Path, rel_dir: str) -> Iterator[Path]:
    """``.yaml``/``.yml`` files below ``rel_dir`` in name order, symlinked dirs not entered."""
    base = root / rel_dir
    if not base.is_dir() or base.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                yield Path(dirpath) / name


def _prune(data: Any, locs: list[tuple[str | int, ...]]) -> Any:
    """A copy of ``data`` without the values at ``locs`` (those already reported)."""
    data = copy.deepcopy(data)
    for loc in sorted(locs, key=len, reverse=True):
        parent = data
        for part in loc[:-1]:
            parent = child(parent, part)
        last = loc[-1] if loc else None
        if isinstance(parent, dict) and last in parent:
            del parent[last]
    return data


def _salvage(merged: dict[str, Any], bad: list[tuple[str | int, ...]]) -> ProvinceCluster | None:
    try:
        return ProvinceCluster.model_validate(_prune(merged, bad))
    except ValidationError:
        return None


def _salvage_eggo(
    merged: dict[str, Any], bad: list[tuple[str | int, ...]]
) -> eggo.DeployConfig | None:
    pruned = _prune(merged, bad)
    raw = pruned.get("spec", {}).get("eggo") if isinstance(pruned.get("spec"), dict) else None
    if not isinstance(raw, dict):
        return None
    try:
        return eggo.DeployConfig.model_validate(raw)
    except ValidationError:
        return None
