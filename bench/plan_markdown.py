"""Size of ``plan -o markdown`` for an edge-bundle change, through the command line.

Usage: ``python bench/plan_markdown.py --sites 3000``. Generates the fleet
(``bench/fleet.py``), renders it with ``gitops-edge render``, adds one edge-bundle
file, then runs ``gitops-edge plan --against`` the render with ``-o markdown`` and
``-o json`` and prints the sizes: the markdown against GitHub's comment limit and
against the full JSON plan, and whether the comment names the number of sites.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fleet  # noqa: E402

GITHUB_LIMIT = 65_536
NEW_FILE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: fleet-proxy
data:
  no_proxy: 10.0.0.0/8,.cluster.local
"""


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops_edge", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=3000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "ops", Path(tmp) / "rendered"
        fleet.generate(root, args.sites)
        assert _cli("render", root, "--out", out, "-q").returncode == 0
        (root / "edge-bundle" / "fleet-proxy.yaml").write_text(NEW_FILE, encoding="utf-8")
        started = time.perf_counter()
        md = _cli("plan", root, "--against", out, "-o", "markdown", "-q")
        took = time.perf_counter() - started
        js = _cli("plan", root, "--against", out, "-o", "json", "-q")
    assert md.returncode == 0 and js.returncode == 0, md.stderr + js.stderr
    count = f"{args.sites:,}".replace(",", " ")
    print(f"sites: {args.sites}")
    print(f"markdown: {len(md.stdout)} characters ({took:.1f} s)")
    print(f"markdown / GitHub comment limit: {len(md.stdout) / GITHUB_LIMIT:.3f}")
    print(f"markdown / full JSON plan: {len(md.stdout) / len(js.stdout):.4f}")
    print(f"names the site count ({count}): {count + ' site(s)' in md.stdout}")
    same = [line for line in md.stdout.splitlines() if line.startswith("##### Same change on")]
    print("groups:", *same, sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
