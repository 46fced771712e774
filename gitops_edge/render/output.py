"""Rendered objects as files: deterministic YAML, one object per file, written atomically.

Reviewers diff rendered output and the planner compares renders, so the same objects
must give the same bytes on every run and every machine: key order is the objects'
own (never re-sorted), the line width is unbounded, multi-line strings (eggo's
``deploy.yaml``) are literal blocks. :func:`dump_site` is pure so every sink (a
directory, a git branch) writes the same bytes; :func:`write_site` is the directory sink.

File names start with a 3-digit index in apply order so ``kubectl apply -f`` on the
directory creates the namespace first; ``kustomization.yaml`` lists the same files
for ``kubectl apply -k``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.specs.yamlsafe import SafeLoader

KUSTOMIZATION = "kustomization.yaml"
_OBJECT_FILE = re.compile(r"^\d{3,}-[a-z0-9]+-[a-z0-9.-]+\.yaml$")

_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc,valid-type]
    """Safe dumper (C when available) that writes multi-line strings as ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(obj: Any) -> bytes:
    """One YAML document, byte-identical for equal input."""
    text: str = yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
    return text.encode("utf-8")


def file_name(index: int, obj: Mapping[str, Any], width: int = 3) -> str:
    """``NNN-<kind lower>-<name>.yaml``."""
    kind = str(obj["kind"]).lower()
    return f"{index:0{width}d}-{kind}-{obj['metadata']['name']}.yaml"


def dump_site(objects: list[dict[str, Any]]) -> dict[str, bytes]:
    """File name to content for one site's objects, plus the kustomization listing them."""
    width = max(3, len(str(max(len(objects) - 1, 0))))
    files = {file_name(i, obj, width): dump_yaml(obj) for i, obj in enumerate(objects)}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    return {**files, KUSTOMIZATION: dump_yaml(kustomization)}


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).chmod(0o644)  # mkstemp makes it 0600; renders are not secret
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_site(site_dir: Path, files: Mapping[str, bytes]) -> list[str]:
    """Write ``files`` into ``site_dir``; object files of an earlier render not in it go.

    Only files named like rendered objects are removed, and only in this site's
    directory; anything else there is left alone. Unchanged files are not rewritten.
    Returns the names written or kept, in order.
    """
    site_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = site_dir / name
        try:
            if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
                continue
        except OSError:
            pass
        write_atomic(path, data)
    for stale in sorted(site_dir.iterdir()):
        if stale.name not in files and _OBJECT_FILE.match(stale.name) and stale.is_file():
            stale.unlink()
    return list(files)


def read_site(site_dir: Path) -> list[dict[str, Any]]:
    """The objects of an earlier render of one site, in apply order (for plans without a cluster)."""
    objects: list[dict[str, Any]] = []
    for path in sorted(site_dir.iterdir()):
        if _OBJECT_FILE.match(path.name) and path.is_file():
            loaded = yaml.load(path.read_bytes(), Loader=SafeLoader)  # noqa: S506 - safe loader
            if isinstance(loaded, dict):
                objects.append(loaded)
    return objects
