"""Deterministic YAML files, atomic writes, stale-file cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gitops_edge.emit.dirsink import DirSink
from gitops_edge.render.output import KUSTOMIZATION, dump_site, dump_yaml, read_site


def objs() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge-gd"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "eggo-deploy-0123456789", "namespace": "edge-gd"},
            "data": {"deploy.yaml": "cluster-id: x\nmasters: []\n", "z": "1", "a": "yes"},
        },
    ]


def test_dump_keeps_key_order_and_uses_literal_blocks() -> None:
    text = dump_yaml(objs()[1]).decode()
    assert text.index("apiVersion") < text.index("kind") < text.index("metadata")
    assert text.index("deploy.yaml") < text.index("\n  z:") < text.index("\n  a:")
    assert "deploy.yaml: |\n    cluster-id: x\n" in text
    assert 'a: "yes"' in text  # quoted (JSON style) so it stays a string
    assert yaml.safe_load(text) == objs()[1]


def test_dump_site_names_files_in_apply_order() -> None:
    files = dump_site(objs())
    assert list(files) == [
        "000-namespace-edge-gd.yaml",
        "001-configmap-eggo-deploy-0123456789.yaml",
        KUSTOMIZATION,
    ]
    kust = yaml.safe_load(files[KUSTOMIZATION])
    assert kust["resources"] == list(files)[:2]
    assert dump_site(objs()) == files


def test_write_site_swaps_the_site_in_whole(tmp_path: Path) -> None:
    """``render`` writes a site like ``apply --emit dir``: the whole directory is swapped."""
    site = tmp_path / "gd"
    site.mkdir()
    (site / "005-configmap-old.yaml").write_text("old")
    (site / "notes.txt").write_text("mine")
    sink = DirSink(tmp_path)
    names, wrote = sink.write_site("gd", objs())
    assert wrote and names == list(dump_site(objs()))
    assert sorted(p.name for p in site.iterdir()) == [
        "000-namespace-edge-gd.yaml",
        "001-configmap-eggo-deploy-0123456789.yaml",
        KUSTOMIZATION,
    ]
    assert read_site(site) == objs()
    assert (site / "000-namespace-edge-gd.yaml").stat().st_mode & 0o777 == 0o644
    before = (site / KUSTOMIZATION).stat().st_ino
    assert sink.write_site("gd", objs()) == (names, False)  # same bytes: not touched
    assert (site / KUSTOMIZATION).stat().st_ino == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gd"]


def test_objects_are_named_in_apply_order_whatever_order_they_come_in() -> None:
    ns, cm = objs()
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "base", "labels": {"gitops-edge.io/component": "application"}},
    }
    ns["metadata"]["labels"] = {"gitops-edge.io/component": "namespace"}
    cm["metadata"]["labels"] = {"gitops-edge.io/component": "eggo-config"}
    assert list(dump_site([app, cm, ns]))[:3] == [
        "000-namespace-edge-gd.yaml",
        "001-configmap-eggo-deploy-0123456789.yaml",
        "002-application-base.yaml",
    ]


def test_many_objects_widen_the_index() -> None:
    many = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}}
        for i in range(1001)
    ]
    names = list(dump_site(many))
    assert names[0] == "0000-configmap-c0.yaml" and names[1000] == "1000-configmap-c1000.yaml"
    assert names[:-1] == sorted(names[:-1])
