"""Deterministic fleet generator: an ops repo of N sites for benchmarks and scale tests.

Scale claims (10 000 sites on a 2-core machine, a one-site commit costing one site's
work) are only worth something when they are measured on input that looks like the
real fleet and is the same on every run, so a number that moves is a regression and
not new data. Hence:

- every site passes eggo's checker and uses the ``gitops-edge.yaml`` defaults the way
  an ops team would (shared runtime, install lists and network in one place; each
  ``cluster.yaml`` holds only what differs per site);
- site ``k`` depends only on ``(seed, k)``: a fleet of 1 000 is the first 1 000 sites of
  a fleet of 10 000, so results at different sizes compare like with like;
- the YAML is written by a small emitter rather than PyYAML's, which is what makes
  10 000 sites take seconds instead of a minute; output is byte-identical for the same
  N and seed.

Usage: ``python bench/fleet.py --sites 10000 --out /tmp/fleet [--seed 1]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "gitops-edge.io/v1alpha1"
GIT_URL = "https://git.ops.example/fleet/ops.git"
REGISTRY = "registry.ops.example"

# (directory name, cluster-id prefix, region label, main arch of its machines)
PROVINCES: tuple[tuple[str, str, str, str], ...] = (
    ("beijing", "bj", "north", "amd64"),
    ("tianjin", "tj", "north", "amd64"),
    ("hebei", "he", "north", "arm64"),
    ("shanxi", "sx", "north", "arm64"),
    ("neimenggu", "nm", "north", "arm64"),
    ("liaoning", "ln", "northeast", "arm64"),
    ("jilin", "jl", "northeast", "arm64"),
    ("heilongjiang", "hl", "northeast", "arm64"),
    ("shanghai", "sh", "east", "amd64"),
    ("jiangsu", "js", "east", "arm64"),
    ("zhejiang", "zj", "east", "arm64"),
    ("anhui", "ah", "east", "arm64"),
    ("fujian", "fj", "east", "arm64"),
    ("jiangxi", "jx", "east", "arm64"),
    ("shandong", "sd", "east", "arm64"),
    ("henan", "ha", "central", "arm64"),
    ("hubei", "hb", "central", "arm64"),
    ("hunan", "hn", "central", "arm64"),
    ("guangdong", "gd", "south", "arm64"),
    ("guangxi", "gx", "south", "arm64"),
    ("hainan", "hi", "south", "amd64"),
    ("chongqing", "cq", "southwest", "arm64"),
    ("sichuan", "sc", "southwest", "arm64"),
    ("guizhou", "gz", "southwest", "arm64"),
    ("yunnan", "yn", "southwest", "arm64"),
    ("xizang", "xz", "southwest", "arm64"),
    ("shaanxi", "sn", "northwest", "arm64"),
    ("gansu", "gs", "northwest", "arm64"),
    ("qinghai", "qh", "northwest", "arm64"),
    ("ningxia", "nx", "northwest", "amd64"),
    ("xinjiang", "xj", "northwest", "arm64"),
)

# Extra edge sites follow population and industry, not an even spread: Guangdong
# and Jiangsu carry far more sites than Xizang or Qinghai in any real fleet.
_WEIGHTS: dict[str, int] = {
    "guangdong": 12, "jiangsu": 10, "zhejiang": 9, "shandong": 9, "henan": 7,
    "sichuan": 7, "hubei": 6, "hunan": 6, "hebei": 6, "fujian": 6, "anhui": 5,
    "beijing": 5, "shanghai": 5, "liaoning": 4, "shaanxi": 4, "jiangxi": 4,
    "chongqing": 4, "guangxi": 4, "yunnan": 4, "shanxi": 3, "heilongjiang": 3,
    "neimenggu": 3, "xinjiang": 3, "guizhou": 3, "jilin": 2, "tianjin": 3,
    "gansu": 2, "hainan": 2, "ningxia": 1, "qinghai": 1, "xizang": 1,
}  # fmt: skip
_WEIGHT_LIST = [_WEIGHTS[p[0]] for p in PROVINCES]
_PILOTS = frozenset({"ningxia", "hainan"})
"""Provinces that take every change first (rollout wave 0)."""

APPS: tuple[tuple[str, str, str], ...] = (
    ("panji-base", "apps/base", "panji-system"),
    ("monitoring", "apps/monitoring", "monitoring"),
    ("logging", "apps/logging", "logging"),
    ("panji-portal", "apps/panji-portal", "panji"),
)

# Second octets of the per-site /24s, clear of 10.32/16 and 10.244/16, the clusters'
# service and pod ranges (see DEFAULTS): machines never live there.
_OCTETS = tuple(range(64, 244))
MAX_SITES = len(_OCTETS) * 256

DEFAULTS: dict[str, Any] = {
    "sshKeySecret": "eggo-ssh",
    "edge": {
        "tolerations": [
            {"key": "node-role.kubernetes.io/edge", "operator": "Exists", "effect": "NoSchedule"}
        ]
    },
    "rollout": {"wave": 2},
    "eggo": {
        "runtime": "iSulad",
        "runtime-endpoint": "unix:///var/run/isulad.sock",
        "pause-image": f"{REGISTRY}/mirrorgcrio/pause:3.2",
        "dns-domain": "cluster.local",
        "enable-kubelet-serving": True,
        "service": {
            "cidr": "10.32.0.0/16",
            "dnsaddr": "10.32.0.10",
            "gateway": "10.32.0.1",
            "dns": {"corednstype": "binary"},
        },
        "network": {
            "podcidr": "10.244.0.0/16",
            "plugin": "calico",
            "pluginargs": {"NetworkYamlPath": "/etc/kubernetes/addons/calico.yaml"},
        },
        "open-ports": {
            "worker": [{"port": 111, "protocol": "tcp"}, {"port": 179, "protocol": "tcp"}],
            "master": [{"port": 179, "protocol": "tcp"}],
        },
        "install": {
            "package-source": {
                "type": "tar.gz",
                "srcpath": {
                    "arm64": "/var/lib/eggo/packages/packages-arm64.tar.gz",
                    "amd64": "/var/lib/eggo/packages/packages-amd64.tar.gz",
                },
            },
            "container": [{"name": "iSulad", "type": "repo"}],
            "image": [{"name": "images.tar", "type": "image"}],
            "dns": [{"name": "coredns", "type": "pkg"}],
            "addition": {"master": [{"name": "metrics-server.yaml", "type": "yaml"}]},
        },
    },
}

SETTINGS: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": "OpsRepo",
    "metadata": {"name": "bench-fleet"},
    "spec": {
        "defaults": DEFAULTS,
        "eggo": {
            "image": {
                "amd64": f"{REGISTRY}/eggo/eggo:1.0.0-alpha-amd64",
                "arm64": f"{REGISTRY}/eggo/eggo:1.0.0-alpha-arm64",
            }
        },
        "argocd": {"project": "default"},
        "rollout": {"maxFailures": 3},
        "prune": {"maxDeletions": 200},
    },
}

# The edge bundle is small on purpose: benchmarks measure per-site stamping cost,
# the sample repo is where the full Argo CD instance is shown.
EDGE_BUNDLE: dict[str, list[dict[str, Any]]] = {
    "argocd-cm.yaml": [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/part-of": "argocd"}},
            "data": {
                "timeout.reconciliation": "300s",
                "application.resourceTrackingMethod": "annotation",
            },
        }
    ],
    "argocd-repo-server.yaml": [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "argocd-repo-server"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "argocd-repo-server"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "argocd-repo-server"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "argocd-repo-server",
                                "image": f"{REGISTRY}/argoproj/argocd:v2.11.7",
                                "args": ["/usr/local/bin/argocd-repo-server"],
                                "ports": [{"containerPort": 8081}],
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "argocd-repo-server"},
            "spec": {
                "selector": {"app.kubernetes.io/name": "argocd-repo-server"},
                "ports": [{"name": "server", "port": 8081, "targetPort": 8081}],
            },
        },
    ],
}


# --- YAML emitter -------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_/][\w./:@+=-]*(?<!:)\Z")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2}|:\d{1,5})?\Z")
"""Addresses, CIDRs and host:port pairs: never a number or a time to YAML, so left plain."""
_RESERVED = frozenset(
    variant
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off", "null", "~")
    for variant in (word, word.capitalize(), word.upper())
)
"""Plain words YAML 1.1 (PyYAML) reads as booleans or null."""


_SCALARS: dict[str, str] = {}
"""Rendered strings: keys and most values repeat in every site file."""


def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as exactly ``value`` (plain when safe, else quoted)."""
    if type(value) is str:
        text = _SCALARS.get(value)
        if text is None:
            plain = (_PLAIN.match(value) and value not in _RESERVED) or _IPV4.match(value)
            text = _SCALARS[value] = value if plain else json.dumps(value, ensure_ascii=False)
        return text
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return _scalar(str(value))


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is dict and item:
                out.append(f"{pad}{_scalar(key)}:")
                _emit(item, indent + 2, out)
            elif kind is list and item:
                out.append(f"{pad}{_scalar(key)}:")
                _emit(item, indent, out)  # eggo's own configs put "- " at the key's column
            else:
                out.append(f"{pad}{_scalar(key)}: {_inline(item)}")
    elif type(value) is list:
        for item in value:
            kind = type(item)
            if (kind is dict or kind is list) and item:
                start = len(out)
                _emit(item, indent + 2, out)
                out[start] = f"{pad}- {out[start][indent + 2 :]}"
            else:
                out.append(f"{pad}- {_inline(item)}")
    else:
        out.append(f"{pad}{_inline(value)}")


def _inline(value: Any) -> str:
    kind = type(value)
    if kind is dict:
        return "{}"
    if kind is list:
        return "[]"
    return _scalar(value)


def dump(doc: dict[str, Any], header: str = "") -> str:
    """Block-style YAML for plain data (dict, list, str, int, bool, None)."""
    out: list[str] = [header.rstrip("\n")] if header else []
    _emit(doc, 0, out)
    return "\n".join(out) + "\n"


def dump_all(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(dump(d) for d in docs)


# --- sites --------------------------------------------------------------------------


@dataclass(frozen=True)
class SitePlan:
    """Where site ``number`` lives and what it is called."""

    number: int
    province: int
    rel_dir: str
    site_id: str
    prefix: str


def plan_site(number: int, seed: int) -> SitePlan:
    """Sites 1-31 are the provinces; later ones nest inside a province, weighted by size."""
    if number <= len(PROVINCES):
        name, abbr, _, _ = PROVINCES[number - 1]
        return SitePlan(number, number - 1, f"provinces/{name}", name, abbr)
    rng = _rng(seed, number, "where")
    province = rng.choices(range(len(PROVINCES)), weights=_WEIGHT_LIST)[0]
    name, abbr, _, _ = PROVINCES[province]
    leaf = f"site-{number:04d}"
    return SitePlan(
        number, province, f"provinces/{name}/{leaf}", f"{name}-{leaf}", f"{abbr}-s{number:04d}"
    )


def _rng(seed: int, number: int, purpose: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed, so it is stable across runs
    # and Python processes (unlike hash()), and independent per site and purpose.
    return random.Random(f"{seed}/{number}/{purpose}")


def _subnet(number: int) -> str:
    index = number - 1
    return f"10.{_OCTETS[index // 256]}.{index % 256}"


def _host(name: str, ip: str, arch: str) -> dict[str, Any]:
    return {"name": name, "ip": ip, "port": 22, "arch": arch}


def site_document(plan: SitePlan, seed: int) -> dict[str, Any]:
    """The ProvinceCluster of one site: only what differs from the repo defaults."""
    rng = _rng(seed, plan.number, "spec")
    name, _, region, arch = PROVINCES[plan.province]
    nested = plan.number > len(PROVINCES)
    net = _subnet(plan.number)
    p = plan.prefix

    n_masters = 3 if rng.random() < (0.15 if nested else 0.3) else 1
    n_workers = rng.randint(1, 3 if nested else 6)
    masters = [
        _host(f"{p}-master-{i:02d}", f"{net}.{10 + i}", arch) for i in range(1, n_masters + 1)
    ]
    # A few sites add x86 boxes (GPU inference, legacy appliances) to a Kunpeng cluster;
    # the defaults' srcpath has packages for both, as eggo's checker requires.
    other = "amd64" if arch == "arm64" else "arm64"
    mixed = rng.random() < 0.08
    workers = [
        _host(f"{p}-worker-{i:02d}", f"{net}.{20 + i}", other if mixed and i % 2 == 0 else arch)
        for i in range(1, n_workers + 1)
    ]
    eggo: dict[str, Any] = {"cluster-id": f"{p}-paas-01", "masters": masters}
    if n_masters == 1:
        # The control plane also runs pods, listed in both places like eggo's sample.
        eggo["workers"] = [*masters, *workers]
    else:
        eggo["workers"] = workers
        eggo["loadbalance"] = {
            "name": f"{p}-lb-01",
            "ip": f"{net}.10",
            "port": 22,
            "arch": arch,
            "bind-port": 8443,
        }
        eggo["apiserver-endpoint"] = f"{net}.10:8443"

    edge: dict[str, Any] = {"arch": arch}
    if rng.random() < 0.2:
        edge["nodeName"] = f"{p}-edge-01"

    extra = rng.sample(APPS[2:], rng.randint(0, 2))
    apps = [a for a in APPS if a in APPS[:2] or a in extra]
    revision = (
        "main" if name in _PILOTS else rng.choice(("main", "main", "main", "release-2024.06"))
    )
    spec: dict[str, Any] = {
        "edge": edge,
        "eggo": eggo,
        "applications": [_application(a, revision) for a in apps],
    }
    # Extra sites spread over waves 1-3; the provinces keep the default, pilots go first.
    pilot_wave = 0 if name in _PILOTS else DEFAULTS["rollout"]["wave"]
    wave: int = rng.choice((1, 2, 2, 2, 3)) if nested else pilot_wave
    if wave != DEFAULTS["rollout"]["wave"]:
        spec["rollout"] = {"wave": wave}
    if nested and rng.random() < 0.02:
        spec["deletionPolicy"] = "Cleanup"
    if rng.random() < 0.005:
        spec["suspend"] = True

    labels = {"region": region, "tier": "edge" if nested else "core"}
    if nested:
        labels["province"] = name
    return {
        "apiVersion": API_VERSION,
        "kind": "ProvinceCluster",
        "metadata": {"name": plan.site_id, "labels": labels},
        "spec": spec,
    }


def _application(app: tuple[str, str, str], revision: str) -> dict[str, Any]:
    name, path, namespace = app
    return {
        "name": name,
        "source": {"repoURL": GIT_URL, "path": path, "targetRevision": revision},
        "destination": {"namespace": namespace},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["CreateNamespace=true"],
        },
    }


def _site_edge_files(plan: SitePlan) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every 25th site carries its own edge manifests (a local registry mirror list)."""
    if plan.number % 25 == 0:
        yield (
            "registry-mirrors.yaml",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "site-registry-mirrors"},
                "data": {"mirrors": f"https://mirror.{plan.prefix}.ops.example"},
            },
        )


# --- public API ---------------------------------------------------------------------


def generate(root: Path, sites: int, seed: int = 1) -> list[str]:
    """Write an ops repo of ``sites`` sites under ``root``; return the site ids in order.

    ``root`` must not already hold a ``provinces/`` tree: stale sites from a larger
    earlier run would silently join the fleet and break the byte-identical promise.
    """
    if not 0 <= sites <= MAX_SITES:
        raise ValueError(f"sites must be from 0 to {MAX_SITES}, got {sites}")
    if (root / "provinces").exists():
        raise FileExistsError(
            f"{root / 'provinces'} already exists; generate into an empty directory"
        )
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "gitops-edge.yaml", dump(SETTINGS))
    bundle = root / "edge-bundle"
    bundle.mkdir(exist_ok=True)
    for file_name, docs in EDGE_BUNDLE.items():
        _write(bundle / file_name, dump_all(docs))
    ids: list[str] = []
    for number in range(1, sites + 1):
        plan = plan_site(number, seed)
        site_dir = root / plan.rel_dir
        site_dir.mkdir(parents=True, exist_ok=True)
        _write(site_dir / "cluster.yaml", dump(site_document(plan, seed)))
        for file_name, doc in _site_edge_files(plan):
            (site_dir / "edge").mkdir(exist_ok=True)
            _write(site_dir / "edge" / file_name, dump(doc))
        ids.append(plan.site_id)
    return ids


def touch_site(root: Path, site_id: str, n: int) -> Path:
    """Make the ``n``-th small edit to one site, the kind of commit an operator makes.

    Even ``n`` bumps the first application's targetRevision (an app release); odd ``n``
    adds a worker, or removes it if that address is already in use (scale out, then
    back in). Either way the file stays valid, so incremental benchmarks can call this
    thousands of times on one repo.
    """
    path = _site_file(root, site_id)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec = doc["spec"]
    if n % 2 == 0 and spec.get("applications"):
        spec["applications"][0]["source"]["targetRevision"] = f"v2.{n // 2 + 1}.0"
    else:
        eggo = spec["eggo"]
        net = eggo["masters"][0]["ip"].rsplit(".", 1)[0]
        ip = f"{net}.{100 + (n // 2) % 150}"
        workers = eggo.setdefault("workers", [])
        kept = [w for w in workers if w["ip"] != ip]
        if len(kept) == len(workers):
            arch = eggo["masters"][0].get("arch", "amd64")
            prefix = eggo["cluster-id"].removesuffix("-paas-01")
            kept.append(_host(f"{prefix}-worker-x{100 + (n // 2) % 150}", ip, arch))
        eggo["workers"] = kept
    _write(path, dump(doc))
    return path


def _site_file(root: Path, site_id: str) -> Path:
    for province, *_ in PROVINCES:
        if site_id == province:
            return root / "provinces" / province / "cluster.yaml"
        if site_id.startswith(province + "-"):
            path = root / "provinces" / province / site_id[len(province) + 1 :] / "cluster.yaml"
            if path.exists():
                return path
    raise FileNotFoundError(f"no site {site_id!r} under {root / 'provinces'}")


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sites", type=int, required=True, help="number of sites (31 are the provinces)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="directory to write the ops repo into"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="same seed and size give the same bytes"
    )
    parser.add_argument("--force", action="store_true", help="replace a fleet already in --out")
    args = parser.parse_args(argv)
    if args.force:
        for name in ("provinces", "edge-bundle"):
            shutil.rmtree(args.out / name, ignore_errors=True)
    try:
        ids = generate(args.out, args.sites, args.seed)
    except (ValueError, FileExistsError) as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(ids)} site(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
