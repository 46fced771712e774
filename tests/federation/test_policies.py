"""What gitops-edge adds to policies (offline tolerance, waves) and the placement it previews."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from gitops_edge.federation.labels import cluster_labels, cluster_waves, federated
from gitops_edge.federation.policies import (
    DEFAULT_TOLERATIONS,
    desired_policy,
    held_clusters,
    placement_clusters,
    with_tolerations,
    with_waves,
)
from gitops_edge.specs.repo import load_repo
from tests.builders import province, write_settings, write_site

PP: dict[str, Any] = {
    "apiVersion": "policy.karmada.io/v1alpha1",
    "kind": "PropagationPolicy",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
}


def test_offline_tolerations_are_added_without_toleration_seconds() -> None:
    out = with_tolerations(PP)
    assert out["spec"]["placement"]["clusterTolerations"] == list(DEFAULT_TOLERATIONS)
    assert all("tolerationSeconds" not in t for t in DEFAULT_TOLERATIONS)
    assert "placement" not in PP["spec"]  # the input is not changed


def test_a_policy_that_says_otherwise_keeps_its_word() -> None:
    own = {
        "key": "cluster.karmada.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    policy = copy.deepcopy(PP)
    policy["spec"]["placement"] = {"clusterTolerations": [own]}
    tol = with_tolerations(policy)["spec"]["placement"]["clusterTolerations"]
    assert tol == [own, DEFAULT_TOLERATIONS[0]]
    override = {**PP, "kind": "OverridePolicy"}
    assert with_tolerations(override) == override


def test_waves_hold_later_clusters_and_release_them_in_order() -> None:
    waves = {"gd": 0, "gx": 1, "hn": 1, "yn": 2}
    assert held_clusters(waves, 0) == ["gx", "hn", "yn"]
    assert held_clusters(waves, 1) == ["yn"]
    assert held_clusters(waves, 2) == []
    assert held_clusters(waves, None) == []
    first = desired_policy(PP, waves, 0)["spec"]["suspension"]
    assert first == {"dispatchingOnClusters": {"clusterNames": ["gx", "hn", "yn"]}}
    assert "suspension" not in desired_policy(PP, waves, 2)["spec"]


def test_waves_keep_the_policys_own_suspension() -> None:
    policy = copy.deepcopy(PP)
    policy["spec"]["suspension"] = {"dispatchingOnClusters": {"clusterNames": ["xz"]}}
    assert with_waves(policy, ["gx"])["spec"]["suspension"]["dispatchingOnClusters"] == {
        "clusterNames": ["xz", "gx"]
    }
    assert with_waves(policy, [])["spec"]["suspension"]["dispatchingOnClusters"] == {
        "clusterNames": ["xz"]
    }
    policy["spec"]["suspension"] = {"dispatching": True}
    assert with_waves(policy, ["gx"])["spec"]["suspension"] == {"dispatching": True}


CLUSTERS = {
    "gd": {"region": "south", "arch": "arm64"},
    "gx": {"region": "south", "arch": "amd64"},
    "bj": {"region": "north", "arch": "arm64"},
    "hn": {"region": "south", "arch": "arm64", "tier": "edge"},
}


def test_placement_selects_region_and_arch_only() -> None:
    policy = copy.deepcopy(PP)
    policy["spec"]["placement"] = {
        "clusterAffinity": {"labelSelector": {"matchLabels": {"region": "south", "arch": "arm64"}}}
    }
    assert placement_clusters(policy, CLUSTERS) == ["gd", "hn"]
    policy["spec"]["placement"]["clusterAffinity"]["exclude"] = ["hn"]
    assert placement_clusters(policy, CLUSTERS) == ["gd"]
    assert placement_clusters(PP, CLUSTERS) == sorted(CLUSTERS)


def test_placement_expressions_and_affinity_fallback() -> None:
    policy = copy.deepcopy(PP)
    expr = {"key": "tier", "operator": "DoesNotExist"}
    policy["spec"]["placement"] = {
        "clusterAffinities": [
            {"affinityName": "west", "labelSelector": {"matchLabels": {"region": "west"}}},
            {
                "affinityName": "south",
                "labelSelector": {
                    "matchExpressions": [
                        expr,
                        {"key": "region", "operator": "In", "values": ["south"]},
                    ]
                },
            },
        ]
    }
    assert placement_clusters(policy, CLUSTERS) == ["gd", "gx"]


def test_cluster_labels_come_from_the_site(tmp_path: Path) -> None:
    write_settings(tmp_path, {"federation": {"karmada": {"enabled": False}}})
    doc = province(
        "gd",
        rollout={"wave": 3},
        federation={"karmada": {"enabled": True, "clusterLabels": {"tier": "core"}}},
    )
    doc["metadata"] = {"labels": {"region": "south"}}
    write_site(tmp_path, "guangdong", doc)
    write_site(tmp_path, "guangxi", province("gx"))
    repo = load_repo(tmp_path)
    gd, gx = repo.site("guangdong"), repo.site("guangxi")
    assert gd is not None and gx is not None
    assert cluster_labels(gd) == {
        "arch": "arm64",
        "province": "guangdong",
        "region": "south",
        "site": "guangdong",
        "tier": "core",
        "wave": "3",
    }
    assert federated(gd, repo.settings) and not federated(gx, repo.settings)
    assert cluster_waves(list(repo.sites), repo.settings) == {"guangdong": 3}
