"""Label and annotation keys are spelled once, in gitops_edge/labels.py."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gitops_edge"
KEY = re.compile(r"""["'](?:gitops-edge\.io/(?!v\d)[a-z-]+|app\.kubernetes\.io/managed-by)""")


def test_no_module_but_labels_spells_a_key() -> None:
    spelled = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "labels.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if KEY.search(line)
    ]
    assert spelled == []


def test_the_pattern_finds_a_key_spelled_in_a_module() -> None:
    assert KEY.search('SITE = "gitops-edge.io/site"')
    assert not KEY.search('API_VERSION = "gitops-edge.io/v1alpha1"')
