"""Which file, field path and line each problem of a repo load is reported at.

A site is validated with ``gitops-edge.yaml``'s ``spec.defaults`` merged under it, so
a bad default shows up in every site it reaches. Reported per site it would read as
``gitops-edge.yaml: spec.eggo.service.dnsaddress`` (the runner's block, not the
defaults) forty times over. Here it becomes one repo-level problem at its own path,
``spec.defaults.eggo.service.dnsaddress``, and each site it made invalid says so in
one line. Unknown keys and wrong types in the defaults are found before any site is
read (:func:`check_defaults`); value rules that need the merged site (an IP that is
no IP, a ``srcpath`` without the site's arch) surface per site and are hoisted by
:func:`settle`, which also gives every problem the line and column of its field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops_edge.problems import Problem, field_path, sorted_unique
from gitops_edge.specs.messages import describe
from gitops_edge.specs.province import ProvinceSpec
from gitops_edge.specs.sites import Site
from gitops_edge.specs.yamlsafe import locate

DEFAULTS = ("spec", "defaults")


def through_defaults(settings_file: str) -> str:
    """What a site made invalid by a default says (the default itself is reported once)."""
    return f"not valid: {settings_file} spec.defaults has errors for this site (reported there)"


def check_defaults(defaults: Mapping[str, Any], settings_file: str) -> list[Problem]:
    """Unknown keys and wrong types in ``spec.defaults``, at ``spec.defaults.<field>``.

    The defaults are a partial ProvinceCluster spec, and every field of a spec is
    optional, so validating them alone as a spec finds exactly the mistakes no site
    can repair (a site overrides a value, it cannot remove a key).
    """
    try:
        ProvinceSpec.model_validate(dict(defaults))
    except ValidationError as exc:
        return sorted_unique(
            Problem(
                settings_file,
                field_path((*DEFAULTS, *e["loc"])),
                describe(e, ProvinceSpec, tuple(e["loc"])),
            )
            for e in exc.errors()
        )
    return []


def _at_defaults(p: Problem) -> Problem:
    """A site problem found in the defaults, at its path in the settings file."""
    rest = p.field.removeprefix("spec")
    return dataclasses.replace(p, field=field_path(DEFAULTS) + rest, line=0, column=0)


def settle(
    root: Path, sites: Iterable[Site], problems: Iterable[Problem], settings_file: str
) -> tuple[tuple[Site, ...], tuple[Problem, ...]]:
    """The sites and repo problems of a load, as they are reported.

    Site problems located in ``settings_file`` (a default the site did not override)
    move to the repo problems once, at ``spec.defaults.<field>``; the site keeps one
    line pointing there and stays invalid. Then every problem that has a field gets
    its line and column (:func:`gitops_edge.specs.yamlsafe.locate`).
    """
    hoisted: list[Problem] = []
    out: list[Site] = []
    pointer = through_defaults(settings_file)
    for site in sites:
        if not site.problems:
            out.append(site)
            continue
        own = [p for p in site.problems if p.file != settings_file]
        from_defaults = [p for p in site.problems if p.file == settings_file]
        if from_defaults:
            hoisted.extend(_at_defaults(p) for p in from_defaults)
            own.append(Problem(site.file, "", pointer))
        out.append(dataclasses.replace(site, problems=locate(root, sorted_unique(own))))
    repo_problems = locate(root, (*problems, *sorted_unique(hoisted)))
    return tuple(out), repo_problems
