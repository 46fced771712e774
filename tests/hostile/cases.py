"""The hostile-input corpus: every way an ops repository can be wrong, by accident or on purpose.

Each :class:`Case` writes one hostile input into a repository that also holds two good
sites (:data:`GOOD`), and says what an operator must be told: the file, the field
(where one applies) and a fragment of the message. Byte-level and YAML-level inputs are
files in ``corpus/`` (readable, diffable, reusable as fuzzing seeds); inputs that are
large, generated or made of the file system itself (symlinks, FIFOs, directory names)
are built here at test time, so no megabytes are committed.

A case with ``bug`` set shows a defect in a module that cannot be changed alongside
this corpus; its test is ``xfail(strict=True)`` and starts passing when it is fixed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from tests.builders import province, write_settings, write_site

CORPUS = Path(__file__).parent / "corpus"
BAD = "bad"
"""Directory (and so site id) of the hostile site, unless the case names another."""
GOOD = ("hebei", "henan")
"""The good sites written next to every hostile input."""
SITE_FILE = f"provinces/{BAD}/cluster.yaml"
EDGE_DIR = f"provinces/{BAD}/edge"
EDGE_FILE = f"{EDGE_DIR}/agent.yaml"
SETTINGS = "gitops-edge.yaml"
PAYLOAD = "reboot"
"""What every shell-injection case tries to run; it must never appear in rendered output."""

Doc = dict[str, Any]
Build = Callable[[Path], None]
Scope = Literal["site", "repo"]



@dataclass(frozen=True)
class Case:
    """One hostile input and what gitops-edge must say about it."""

    id: str
    input: str
    """One line for docs/reliability.md: what the hostile input is."""
    build: Build
    file: str
    """The file the error must name (relative to the repository)."""
    field: str = ""
    """The field path the error must name; empty where no field applies."""
    says: str = ""
    """A fragment of the message (compared case-insensitively)."""
    site: str | None = BAD
    """Site id the hostile input is reported under; None when it never becomes a site."""
    scope: Scope = "site"
    """``repo``: the input is repo-wide (settings, shared bundle), so every site is held."""
    render: bool = False
    """Also run ``render`` and check what is (not) written."""
    accepted: bool = False
    """Hostile-looking but harmless: the site must be valid and rendered."""
    render_has: str = ""
    """Text the hostile site's rendered files must contain (accepted cases)."""
    render_lacks: str = PAYLOAD
    """Text no rendered file may contain."""
    bug: str = ""


# --- builders -------------------------------------------------------------------------


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _with_good_bad_site(root: Path, rel: str) -> None:
    """Files inside ``provinces/bad/`` other than its cluster.yaml need a valid site beside them."""
    if rel.startswith(f"provinces/{BAD}/") and rel != SITE_FILE:
        write_site(root, BAD, province(BAD))


def corpus(name: str, dest: str = SITE_FILE) -> Build:
    """Copy ``corpus/<name>`` byte for byte to ``dest``."""

    def build(root: Path) -> None:
        _with_good_bad_site(root, dest)
        _write(root, dest, (CORPUS / name).read_bytes())

    return build


def text(make: Callable[[], str], dest: str = SITE_FILE) -> Build:
    """Write generated text (large or deep inputs are made at test time)."""

    def build(root: Path) -> None:
        _with_good_bad_site(root, dest)
        _write(root, dest, make().encode())

    return build


def mutated(change: Callable[[Doc], None]) -> Build:
    """A valid site document with one change."""

    def build(root: Path) -> None:
        doc = province(BAD)
        change(doc)
        write_site(root, BAD, doc)

    return build


def eggo(change: Callable[[Doc], None]) -> Build:
    return mutated(lambda d: change(d["spec"]["eggo"]))


def spec(**values: Any) -> Build:
    return mutated(lambda d: d["spec"].update(values))


def app(**values: Any) -> Build:
    return mutated(lambda d: d["spec"]["applications"][0].update(values))


def labels(values: Any) -> Build:
    return mutated(lambda d: d.update({"metadata": {"labels": values}}))


def first_host(**values: Any) -> Build:
    """Change masters[0], and workers[0] which describes the same machine."""

    def change(e: Doc) -> None:
        e["masters"][0].update(values)
        e["workers"][0].update(values)

    return eggo(change)


def package(**values: Any) -> Build:
    return eggo(lambda e: e["install"]["container"][0].update(values))


def settings(spec_: Doc) -> Build:
    def build(root: Path) -> None:
        write_settings(root, spec_)

    return build


def site_dirs(*rels: str | bytes) -> Build:
    """A valid site document in each of ``provinces/<rel>/`` (bytes: a non-UTF-8 name)."""

    def build(root: Path) -> None:
        for rel in rels:
            name = os.fsdecode(rel)
            write_site(root, name, province(BAD))

    return build


def _outside(root: Path) -> Path:
    """A directory next to the repository holding files a symlink may point at."""
    out = root.parent / f"{root.name}-outside"
    out.mkdir(exist_ok=True)
    (out / "cluster.yaml").write_text(yaml.safe_dump(province(BAD)))
    (out / "agent.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: agent}\n")
    (out / "settings.yaml").write_text("apiVersion: gitops-edge.io/v1alpha1\nkind: OpsRepo\n")
    return out


def symlink(link: str, target: Callable[[Path], str | Path], *, site: bool = False) -> Build:
    """``link`` (relative to the repo) pointing at ``target(root)``; ``site``: write a valid
    site first (for links inside ``provinces/bad/``)."""

    def build(root: Path) -> None:
        if site:
            write_site(root, BAD, province(BAD))
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target(root))

    return build


def outside(name: str = "") -> Callable[[Path], Path]:
    return lambda root: _outside(root) / name if name else _outside(root)


def outside_rel(link: str, name: str = "") -> Callable[[Path], str]:
    """The same target as :func:`outside`, spelt ``../..`` relative to the link."""

    def target(root: Path) -> str:
        dest = _outside(root) / name if name else _outside(root)
        return os.path.relpath(dest, (root / link).parent)

    return target


def fifo(root: Path) -> None:
    path = root / SITE_FILE
    path.parent.mkdir(parents=True)
    os.mkfifo(path)


def edge(name: str, file: str = "agent.yaml") -> Build:
    return corpus(name, f"{EDGE_DIR}/{file}")


def edge_named(file: str) -> Build:
    """A valid edge-bundle object in a file with a hostile name."""

    def build(root: Path) -> None:
        write_site(root, BAD, province(BAD))
        _write(
            root,
            f"{EDGE_DIR}/{file}",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: agent}\n",
        )

    return build


# --- generated inputs -------------------------------------------------------------------


def _site_text(**spec_: Any) -> str:
    return yaml.safe_dump(province(BAD, **spec_), sort_keys=False)


def huge_file() -> str:
    return _site_text() + "# " + "x" * (2 * 1024 * 1024) + "\n"


def huge_list() -> str:
    return _site_text() + "metadata:\n  annotations:\n    big: [" + "0," * 250_000 + "0]\n"


def many_workers() -> str:
    doc = province(BAD)
    doc["spec"]["eggo"]["workers"] = [
        {"name": f"w{i:05d}", "ip": str(ipaddress.IPv4Address(0x0A400000 + i)), "port": 22}
        for i in range(10_000)
    ]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=1000)


def many_applications() -> str:
    doc = province(BAD)
    doc["spec"]["applications"] = [
        {
            "name": f"app-{i:04d}",
            "source": {"repoURL": "https://git.example/ops.git", "path": f"apps/a{i}"},
            "destination": {"namespace": f"ns-{i}"},
        }
        for i in range(5_000)
    ]
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=1000)


def deep_lists() -> str:
    return _site_text().replace(
        "plugin: calico", "plugin: calico\n    pluginargs: {mtu: " + "[" * 500 + "]" * 500 + "}"
    )


def deep_maps() -> str:
    nested = "".join(f"{'  ' * (i + 2)}k{i}:\n" for i in range(60)) + "  " * 62 + "leaf: x\n"
    return _site_text() + "metadata:\n  annotations:\n" + nested


def _alias_chain(indent: str, links: int = 60, width: int = 30) -> str:
    """Anchors ``d0..dN``, each ``width`` lists deep around the previous one, then one list
    using them last-first: each is first reached shallow, then reused ever deeper."""
    lines = [f"{indent}x0: &d0 " + "[" * width + "1" + "]" * width]
    lines += [
        f"{indent}x{i}: &d{i} " + "[" * width + f"*d{i - 1}" + "]" * width for i in range(1, links)
    ]
    lines.append(f"{indent}z: [" + ", ".join(f"*d{i}" for i in reversed(range(links))) + "]")
    return "\n".join(lines) + "\n"


def deep_alias() -> str:
    return _site_text() + "metadata:\n  annotations:\n" + _alias_chain("    ")


# --- the cases --------------------------------------------------------------------------

_ID = "must be a DNS-1123 label"
_DNS = "not a DNS-1123"
_SHELL = "shell command"


def _c(*args: Any, **kwargs: Any) -> Case:
    return Case(*args, **kwargs)


CASES: tuple[Case, ...] = (
    # alias bombs
    _c("bomb-list", "billion laughs, nine levels of nine list aliases", corpus("bomb-list.yaml"), SITE_FILE, says="alias bomb", render=True),
    _c("bomb-wide", "three levels of a hundred aliases (10^6 strings)", corpus("bomb-wide.yaml"), SITE_FILE, says="alias bomb"),
    _c("bomb-merge", "merge keys merging the level below nine times, nine levels", corpus("bomb-merge.yaml"), SITE_FILE, says="alias bomb"),
    _c("bomb-settings", "billion laughs in gitops-edge.yaml", corpus("bomb-settings.yaml", SETTINGS), SETTINGS, says="alias bomb", site=None, scope="repo"),
    _c("bomb-edge", "billion laughs in an edge-bundle ConfigMap", edge("bomb-edge.yaml"), EDGE_FILE, says="alias bomb"),
    _c("deep-alias", "anchors reused ever deeper: 1 800 levels of lists from 2 KiB", text(deep_alias), SITE_FILE, says="nesting deeper"),
    # size
    _c("huge-file", "a 2 MiB cluster.yaml (generated)", text(huge_file), SITE_FILE, says="byte limit"),
    _c("huge-list", "a list of 250 000 numbers", text(huge_list), SITE_FILE, says="more than 200000 values"),
    _c("huge-workers", "10 000 workers", text(many_workers), "", accepted=True, render=True),
    _c("huge-applications", "5 000 applications", text(many_applications), "", accepted=True),
    # nesting
    _c("deep-lists", "500 nested flow lists in spec.eggo.network.pluginargs", text(deep_lists), SITE_FILE, says="nesting deeper than 40"),
    _c("deep-maps", "60 nested block mappings in metadata.annotations", text(deep_maps), SITE_FILE, says="nesting deeper than 40"),
    # duplicate keys
    _c("dup-top", "cluster.yaml with kind twice", corpus("dup-top.yaml"), SITE_FILE, says="duplicate key 'kind'"),
    _c("dup-nested", "masters[0] with ip twice", corpus("dup-nested.yaml"), SITE_FILE, says="duplicate key 'ip'"),
    _c("dup-settings-nested", "gitops-edge.yaml with a default set twice", corpus("dup-settings-nested.yaml", SETTINGS), SETTINGS, says="duplicate key 'sshKeySecret'", site=None, scope="repo"),
    _c("dup-edge", "an edge-bundle object with metadata.name twice", edge("dup-edge.yaml"), EDGE_FILE, says="duplicate key 'name'"),
    # encodings and control characters
    _c("latin1", "a label value saved as Latin-1", corpus("latin1.bin"), SITE_FILE, says="not valid UTF-8 (byte 0xfc at line 5)"),
    _c("utf16le-bom", "UTF-16 LE with a byte-order mark", corpus("utf16le-bom.bin"), SITE_FILE, says="not valid UTF-8 (byte 0xff"),
    _c("surrogate-bytes", "a lone surrogate encoded as UTF-8 bytes", corpus("surrogate-bytes.bin"), SITE_FILE, says="not valid UTF-8 (byte 0xed"),
    _c("surrogate-escape", 'a lone surrogate as a YAML escape "\\ud800"', corpus("surrogate-escape.yaml"), SITE_FILE, says="invalid unicode character escape"),
    _c("nul-byte", "a raw NUL byte in a value", corpus("nul-byte.bin"), SITE_FILE, says="line 12: character #x0000"),
    _c("nul-escape", 'a NUL as a YAML escape in spec.eggo.runtime ("iSulad\\0")', corpus("nul-escape.yaml"), SITE_FILE, "spec.eggo.runtime", "control character"),
    _c("newline-value", "a newline plus a unit-file line in spec.eggo.pause-image", corpus("newline-value.yaml"), SITE_FILE, "spec.eggo.pause-image", "control character"),
    # symlinks and special files
    _c("symlink-file-abs", "cluster.yaml -> absolute path outside the repo", symlink(SITE_FILE, outside("cluster.yaml")), SITE_FILE, says="outside the repository"),
    _c("symlink-file-rel", "cluster.yaml -> ../../../<outside>/cluster.yaml", symlink(SITE_FILE, outside_rel(SITE_FILE, "cluster.yaml")), SITE_FILE, says="outside the repository"),
    _c("symlink-dir-abs", "provinces/bad -> absolute directory outside", symlink(f"provinces/{BAD}", outside()), f"provinces/{BAD}", says="symlinked directory", site=None),
    _c("symlink-edge-dir", "provinces/bad/edge -> a directory outside", symlink(EDGE_DIR, outside(), site=True), EDGE_DIR, says="symlinked directory", render=True),
    _c("symlink-settings", "gitops-edge.yaml -> a file outside", symlink(SETTINGS, outside("settings.yaml")), SETTINGS, says="outside the repository", site=None, scope="repo"),
    _c("symlink-shared-bundle", "edge-bundle -> a directory outside", symlink("edge-bundle", outside()), "edge-bundle", says="symlinked directory", site=None, scope="repo"),
    _c("symlink-loop", "cluster.yaml -> itself", symlink(SITE_FILE, lambda _root: "cluster.yaml"), SITE_FILE),
    _c("fifo", "cluster.yaml is a FIFO (reading it would block)", fifo, SITE_FILE, says="not a regular file"),
    # site ids from directory names
    _c("id-dots", "a site directory named '...'", site_dirs("..."), "provinces/.../cluster.yaml", says=_ID, site="..."),
    _c("id-space", "a site directory named 'bad site'", site_dirs("bad site"), "provinces/bad site/cluster.yaml", says=_ID, site="bad site"),
    _c("id-cyrillic", "Cyrillic a in 'b\\u0430d'", site_dirs("b\u0430d"), "provinces/b\u0430d/cluster.yaml", says=_ID, site="b\u0430d"),
    _c("id-fullwidth", "fullwidth digit in 'gd-\uff11'", site_dirs("gd-\uff11"), "provinces/gd-\uff11/cluster.yaml", says=_ID, site="gd-\uff11"),
    _c("id-zwj", "zero-width joiner in 'ba\\u200dd'", site_dirs("ba\u200dd"), "provinces/ba\u200dd/cluster.yaml", says=_ID, site="ba\u200dd"),
    _c("id-rtl", "right-to-left override in 'bad\\u202e1'", site_dirs("bad\u202e1"), "provinces/bad\u202e1/cluster.yaml", says=_ID, site="bad\u202e1"),
    _c("id-nfd", "decomposed 'cafe\\u0301' (NFD)", site_dirs("cafe\u0301"), "provinces/cafe\u0301/cluster.yaml", says=_ID, site="cafe\u0301"),
    _c("id-newline", "a site directory named 'bad\\n'", site_dirs("bad\n"), "provinces/bad\n/cluster.yaml", says=_ID, site="bad\n"),
    _c("id-subshell", "a site directory named '$(reboot)'", site_dirs("$(reboot)"), "provinces/$(reboot)/cluster.yaml", says=_ID, site="$(reboot)"),
    _c("id-not-utf8", "a site directory named with byte 0xff", site_dirs(b"bad\xff"), "provinces/bad\udcff/cluster.yaml", says=_ID, site="bad\udcff"),
    # shell metacharacters and newlines in names that reach Job commands, labels, paths
    _c("host-subshell", "host name '$(reboot)'", first_host(name="$(reboot)"), SITE_FILE, "spec.eggo.masters[0].name", _DNS),
    _c("host-backtick", "host name '`reboot`'", eggo(lambda e: e["workers"][1].update({"name": "`reboot`"})), SITE_FILE, "spec.eggo.workers[1].name", _DNS),
    _c("host-newline", "host name 'm1\\n' (a trailing newline)", first_host(name="m1\n"), SITE_FILE, "spec.eggo.masters[0].name", _DNS),
    _c("cluster-id-semicolon", "cluster-id 'bad;reboot'", eggo(lambda e: e.update({"cluster-id": "bad;reboot"})), SITE_FILE, "spec.eggo.cluster-id", _DNS),
    _c("cluster-id-pipe", "cluster-id 'bad|reboot'", eggo(lambda e: e.update({"cluster-id": "bad|reboot"})), SITE_FILE, "spec.eggo.cluster-id", _DNS),
    _c("cluster-id-newline", "cluster-id 'bad-paas\\n' (reaches eggo --id and a hostPath)", eggo(lambda e: e.update({"cluster-id": "bad-paas\n"})), SITE_FILE, "spec.eggo.cluster-id", _DNS, render=True),
    _c("app-subshell", "application name 'base$(reboot)'", app(name="base$(reboot)"), SITE_FILE, "spec.applications[0].name", "not a DNS-1123 name"),
    _c("app-newline", "application name 'base\\n'", app(name="base\n"), SITE_FILE, "spec.applications[0].name", "not a DNS-1123 name"),
    _c("app-long-name", "a valid 250-character application name", app(name="a" * 250), "", accepted=True, render=True),
    _c("label-quotes", "label value \"south'; reboot\"", labels({"region": "south'; reboot"}), SITE_FILE, "metadata.labels", "label value"),
    _c("package-name-shell", "package name 'iSulad; reboot' (eggo runs sh -c \"yum install -y <name>\")", package(name="iSulad; reboot"), SITE_FILE, "spec.eggo.install.container[0].name", _SHELL, render=True),
    _c("package-dstpath-shell", "package-source dstpath '/root/pkgs && reboot'", eggo(lambda e: e["install"]["package-source"].update({"dstpath": "/root/pkgs && reboot"})), SITE_FILE, "spec.eggo.install.package-source.dstpath", _SHELL),
    _c("timeout-fullwidth", "package timeout '\uff13\uff10s' (fullwidth digits)", package(timeout="\uff13\uff10s"), SITE_FILE, "spec.eggo.install.container[0].timeout", "not a Go duration"),
    _c("endpoint-fullwidth", "apiserver-endpoint '10.20.0.11:\uff16\uff14\uff14\uff13'", eggo(lambda e: e.update({"apiserver-endpoint": "10.20.0.11:\uff16\uff14\uff14\uff13"})), SITE_FILE, "spec.eggo.apiserver-endpoint", "must be a number"),
    _c("file-name-shell", "edge file named '$(reboot);`id`|x.yaml' (valid content)", edge_named("$(reboot);`id`|x.yaml"), "", accepted=True, render=True),
    # wrong types, one per field family
    _c("type-metadata-labels", "metadata.labels is a list", labels(["south"]), SITE_FILE, "metadata.labels", "must be a mapping"),
    _c("type-edge-selector", "spec.edge.nodeSelector is a string", spec(edge={"nodeSelector": "edge-01"}), SITE_FILE, "spec.edge.nodeSelector", "must be a mapping"),
    _c("type-host-port", "an SSH port written 22.0", first_host(port=22.0), SITE_FILE, "spec.eggo.masters[0].port", "must be an integer"),
    _c("type-norway", "arch: no (YAML 1.1 reads false)", corpus("type-norway.yaml"), SITE_FILE, "spec.eggo.masters[0].arch", "quote it"),
    _c("type-date", "an unquoted date as targetRevision", corpus("type-date.yaml"), SITE_FILE, "spec.applications[0].source.targetRevision", "must be a string"),
    _c("type-wave", "rollout.wave is the string '1'", spec(rollout={"wave": "1"}), SITE_FILE, "spec.rollout.wave", "must be an integer"),
    _c("type-settings", "gitops-edge.yaml spec.eggo.backoffLimit is the string '2'", settings({"eggo": {"backoffLimit": "2"}}), SETTINGS, "spec.eggo.backoffLimit", "must be an integer", site=None, scope="repo"),
    _c("type-file-list", "cluster.yaml is a list", corpus("type-file-list.yaml"), SITE_FILE, says="must be a ProvinceCluster mapping"),
    # unknown fields
    _c("unknown-spec", "spec.sshKeySecrets (a typo)", spec(sshKeySecrets="x"), SITE_FILE, "spec.sshKeySecrets", "did you mean 'sshKeySecret'"),
    _c("unknown-eggo", "loadbalance.bindport (eggo's docs spelling)", eggo(lambda e: e.update({"loadbalance": {"bindport": 8443}})), SITE_FILE, "spec.eggo.loadbalance.bindport", "did you mean 'bind-port'"),
    # YAML tags
    _c("tag-python-object", "cluster-id: !!python/object/apply:os.system [reboot]", corpus("tag-python-object.yaml"), SITE_FILE, says="could not determine a constructor"),
    _c("tag-binary", "cluster-id: !!binary (bytes where a string is expected)", corpus("tag-binary.yaml"), SITE_FILE, "spec.eggo.cluster-id", "must be a string"),
    _c("tag-custom", "sshKeySecret: !Ref EggoSsh", corpus("tag-custom.yaml"), SITE_FILE, says="could not determine a constructor for the tag '!Ref'"),
    _c("tag-int-mismatch", "port: !!int twenty-two (a tag its value does not fit)", corpus("tag-int-mismatch.yaml"), SITE_FILE, says="invalid YAML"),
    _c("tag-timestamp-mismatch-edge", "!!timestamp someday in an edge-bundle ConfigMap", edge("tag-timestamp-mismatch-edge.yaml"), EDGE_FILE, says="does not fit its explicit tag"),
    _c("tag-timestamp-edge", "an unquoted date in an edge-bundle ConfigMap", edge("tag-timestamp-edge.yaml"), EDGE_FILE, "data.released", "is a YAML date"),
    # several documents
    _c("multi-doc", "two documents in cluster.yaml", corpus("multi-doc.yaml"), SITE_FILE, says="more than one YAML document"),
    _c("multi-doc-edge", "an edge file whose second document sets a namespace", edge("multi-doc-edge.yaml"), EDGE_FILE, "metadata.namespace", "document 2"),
    # merge keys
    _c("merge-password", "username/password merged into spec.eggo with <<", corpus("merge-password.yaml"), SITE_FILE, "spec.eggo.password", "must not be stored in Git"),
    _c("merge-scalar", "<<: 5", corpus("merge-scalar.yaml"), SITE_FILE, says="for merging"),
    # edge bundle
    _c("edge-namespace", "an edge-bundle object with metadata.namespace", edge("edge-namespace.yaml"), EDGE_FILE, "metadata.namespace", "must not be set"),
    _c("edge-cluster-scoped", "a ClusterRole in the per-site bundle", edge("edge-cluster-scoped.yaml"), EDGE_FILE, "kind", "cluster-scoped"),
    _c("edge-missing-name", "an edge-bundle object without a name", edge("edge-missing-name.yaml"), EDGE_FILE, "metadata.name", "is required"),
    _c("edge-secret-data", "a Secret with data", edge("edge-secret-data.yaml"), EDGE_FILE, "data", "do not belong in Git"),
    _c("edge-secret-stringdata", "a Secret with stringData", edge("edge-secret-stringdata.yaml"), EDGE_FILE, "stringData", "do not belong in Git"),
    _c("edge-label-shell", "an edge-bundle label value '$(reboot)'", edge("edge-label-shell.yaml"), EDGE_FILE, "metadata.labels", "label value"),
    _c("edge-shared-secret", "a Secret with data in the shared edge-bundle/", corpus("edge-secret-data.yaml", "edge-bundle/repo-creds.yaml"), "edge-bundle/repo-creds.yaml", "data", "do not belong in Git", site=None, scope="repo", render=True),
    # credentials and paths
    _c("cred-password", "spec.eggo.password", eggo(lambda e: e.update({"password": "Huawei12#$"})), SITE_FILE, "spec.eggo.password", "must not be stored in Git"),
    _c("cred-defaults", "username smuggled through gitops-edge.yaml spec.defaults", settings({"defaults": {"eggo": {"username": "root"}}}), SETTINGS, "spec.defaults.eggo.username", "must not be stored in Git", site=None, scope="repo"),
    _c("key-path-relative", "private-key-path '../../etc/shadow'", eggo(lambda e: e.update({"private-key-path": "../../etc/shadow"})), SITE_FILE, "spec.eggo.private-key-path", "absolute path"),
    _c("key-path-traversal", "private-key-path '/etc/eggo/../../root/.ssh/id_rsa' (replaced by the mounted key)", eggo(lambda e: e.update({"private-key-path": "/etc/eggo/../../root/.ssh/id_rsa"})), "", accepted=True, render=True, render_has="private-key-path: /etc/eggo/ssh/ssh-privatekey", render_lacks="id_rsa"),
    _c("srcpath-traversal", "package srcpath '/root/../etc/shadow' (becomes a hostPath)", eggo(lambda e: e["install"]["package-source"]["srcpath"].update({"arm64": "/root/../etc/shadow"})), SITE_FILE, "spec.eggo.install.package-source.srcpath.arm64", "must not contain '..'"),
)  # fmt: skip
