"""``gitops-edge schemas --out DIR``: write the JSON Schemas editors and CI validate against."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gitops_edge.schemas import all_schemas


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "schemas", help="write the JSON Schemas of ProvinceCluster and OpsRepo", description=__doc__
    )
    p.add_argument("--out", type=Path, default=Path("schemas"), help="directory (default: schemas)")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if the files in --out differ from the models"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    stale = []
    for name, text in all_schemas().items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print(
            f"{', '.join(stale)} out of date in {out}: run `gitops-edge schemas --out {out}`",
            file=sys.stderr,
        )
        return 1
    return 0
