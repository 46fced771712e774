"""The pure core never imports the I/O kits (the kopf habit, checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "gitops_edge.specs.repo",
    "gitops_edge.render.site",
    "gitops_edge.plan.planner",
    "gitops_edge.plan.report",
    "gitops_edge.status",
    "gitops_edge.schemas",
]
KITS = (
    "gitops_edge.emit",
    "gitops_edge.daemon",
    "gitops_edge.live.client",
    "gitops_edge.live.connect",
    "gitops_edge.live.informer",
    "gitops_edge.live.snapshot",
    "gitops_edge.commands",
    "kubernetes",
    "git",
    "urllib3",
    "apscheduler",
    "watchdog",
)


def test_core_imports_no_kit() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + f"kits = {KITS!r}\n"
        + "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in ('gitops_edge', 'kubernetes', 'git', 'urllib3', 'apscheduler', 'watchdog') and any(m == k or m.startswith(k + '.') for k in kits))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the pure core imports I/O modules:\n{out.stdout}"
