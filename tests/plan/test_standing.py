"""Waves read the same of a site from its recorded standing as from its loaded spec."""

from __future__ import annotations

from pathlib import Path

from gitops_edge.live.client import KubeClient
from gitops_edge.live.snapshot import read_live
from gitops_edge.plan.standing import standing_of
from gitops_edge.specs.repo import index_repo, load_repo, load_sites
from gitops_edge.testing import plan_against
from tests.builders import province, write_site
from tests.kubeapi.server import KubeAPIServer
from tests.plan.fleet import add_edge_node, apply, finish_jobs, heal_apps


def test_an_incremental_plan_on_recorded_standing_is_the_plan_on_loaded_specs(
    tmp_path: Path, kube_api: KubeAPIServer, kube: KubeClient
) -> None:
    """Every way a site can stand: done, suspended, by nodeName, by nodeSelector, the
    wrong arch, offline, no eggo, more Applications than are live; in three waves."""
    apps = province("x")["spec"]["applications"]
    second = {**apps[0], "name": "extra", "source": {**apps[0]["source"], "path": "apps/extra"}}
    sites = {
        "gd": province("gd", rollout={"wave": 0}),
        "gx": province("gx", rollout={"wave": 0}, suspend=True),
        "hb": province("hb", rollout={"wave": 1}, edge={"nodeName": "hb-edge-01"}),
        "hn": province("hn", rollout={"wave": 1}, edge={"nodeSelector": {"zone": "hn"}}),
        "sc": province("sc", rollout={"wave": 1}, edge={"arch": "amd64"}),
        "yn": province("yn", rollout={"wave": 2}),
        "xz": province("xz", rollout={"wave": 2}, eggo=None, applications=[*apps, second]),
        "fj": province("fj", rollout={"wave": 2}, eggo=None),
    }
    for sid, doc in sites.items():
        write_site(tmp_path, sid, doc)
        add_edge_node(kube_api, f"{sid}-edge-01", sid, online=sid != "yn")
    node = kube_api.store.get("v1", "Node", "hn-edge-01")
    assert node is not None
    node["metadata"]["labels"]["zone"] = "hn"
    kube_api.store.put(node)
    apply(tmp_path, kube)
    for sid in ("gd", "hb", "sc", "xz", "fj"):
        finish_jobs(kube_api, f"edge-{sid}")
        heal_apps(kube_api, f"edge-{sid}")
    live = read_live(kube)
    repo = load_repo(tmp_path)
    standing = {sid: st for s in repo.sites if (st := standing_of(s)) is not None and (sid := s.id)}
    assert standing["hn"].node_selector == (("zone", "hn"),) and standing["xz"].applications == 2
    index = index_repo(tmp_path)
    for sid in sites:
        loaded = plan_against(repo, live, revision="c0ffee", sites={sid})
        alone = load_sites(index, [d for d in index.dirs if d.id == sid])
        others = {k: v for k, v in standing.items() if k != sid}
        stood = plan_against(alone, live, revision="c0ffee", sites={sid}, standing=others)
        assert stood == loaded, sid
    # and the waves did hold: a change in wave 2 waits on wave 1 (hn's node is new)
    plan = plan_against(repo, live, revision="c0ffee", sites={"fj"})
    assert plan.current_wave is not None
