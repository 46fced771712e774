"""The test API server, exercised only through the real ``kubernetes`` client over HTTP.

If these pass, code under test that works against this server is talking the
protocol a real apiserver speaks: paths, content types, Status errors, chunked
watch streams, pagination tokens and field ownership.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch

from tests.kubeapi import KubeAPIServer
from tests.kubeapi.resources import ResourceType

pytestmark = [pytest.mark.kubeapi, pytest.mark.timeout(60)]

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def kube() -> Iterator[KubeAPIServer]:
    with KubeAPIServer(bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
def api(kube: KubeAPIServer) -> Iterator[client.ApiClient]:
    with kube.api_client() as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def raw_get(api: client.ApiClient, url: str) -> Any:
    response = api.call_api("GET", api.configuration.host + url)
    return json.loads(response.read())


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or None
    )


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def status_body(exc: client.ApiException) -> dict[str, Any]:
    return json.loads(exc.body)  # type: ignore[no-any-return]


# ------------------------------------------------------------------- discovery


def test_discovery_documents(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]

    core_resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core_resources["nodes"].namespaced is False
    assert core_resources["configmaps"].namespaced is True
    assert core_resources["pods"].kind == "Pod"
    assert "watch" in core_resources["secrets"].verbs
    assert "nodes/status" in core_resources

    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {
        "batch", "coordination.k8s.io", "argoproj.io", "eggo.isula.org",
        "reliablesyncs.kubeedge.io", "apps.kubeedge.io", "apps", "rbac.authorization.k8s.io",
        "networking.k8s.io", "policy",
    } <= groups

    batch = {r.name: r for r in client.BatchV1Api(api).get_api_resources().resources}
    assert batch["jobs/status"].verbs == ["get", "patch", "update"]

    sync = raw_get(api, "/apis/reliablesyncs.kubeedge.io/v1alpha1")
    by_name = {r["name"]: r for r in sync["resources"]}
    assert by_name["objectsyncs"]["namespaced"] is True
    assert by_name["clusterobjectsyncs"]["namespaced"] is False
    assert raw_get(api, "/apis/argoproj.io")["preferredVersion"]["version"] == "v1alpha1"

    with pytest.raises(client.ApiException) as err:
        raw_get_status(api, "/apis/nope.example.com/v1")
    assert err.value.status == 404


def raw_get_status(api: client.ApiClient, url: str) -> None:
    response = api.call_api("GET", api.configuration.host + url)
    response.read()
    if response.status >= 400:
        raise client.ApiException(http_resp=response)


def test_registry_extension_is_discoverable_and_served(
    kube: KubeAPIServer, api: client.ApiClient
) -> None:
    kube.registry.register(ResourceType("example.com", "v1", "Widget", "widgets", True))
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    assert kube.store.get("example.com/v1", "Widget", "w", "default") is not None
    assert raw_get(api, "/apis/example.com/v1")["resources"][0]["name"] == "widgets"


def test_kubeconfig_loads_with_real_loader(tmp_path: Path) -> None:
    with KubeAPIServer(token="s3cret") as kube:
        path = kube.kubeconfig(tmp_path / "kubeconfig", context_name="centre")
        with KubeAPIServer() as other:
            other.kubeconfig(path, context_name="province-1")
            other.store.put(node("edge-1"))
            api = config.new_client_from_config(config_file=str(path), context="province-1")
            with api:
                names = [n.metadata.name for n in client.CoreV1Api(api).list_node().items]
            assert names == ["edge-1"]
        cfg = client.Configuration()
        config.load_kube_config(
            config_file=str(path), context="centre", client_configuration=cfg
        )
        with client.ApiClient(cfg) as api:
            assert client.CoreV1Api(api).list_namespace().items == []
        assert kube.requests.count(verb="list", path="/api/v1/namespaces", status=200) == 1


# ------------------------------------------------------- create / get / update


def test_create_fills_server_fields_and_rejects_duplicates(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", cm("a", k="v"))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.generation == 1
    assert meta.namespace == "default"
    assert core.read_namespaced_config_map("a", "default").data == {"k": "v"}

    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", cm("a"))
    assert err.value.status == 409
    assert status_body(err.value)["reason"] == "AlreadyExists"

    generated = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="job-"))
    )
    assert generated.metadata.name.startswith("job-") and len(generated.metadata.name) > 4

    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", cm("Not_Valid"))
    assert err.value.status == 422

    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("missing", "default")
    assert err.value.status == 404
    assert status_body(err.value)["message"] == 'configmaps "missing" not found'


def test_update_conflict_generation_and_noop(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "web", "image": "nginx"}]}}},
    }
    first = apps.create_namespaced_deployment("default", body)
    stale = first.metadata.resource_version

    body["spec"]["replicas"] = 3
    body["metadata"]["resourceVersion"] = stale
    second = apps.replace_namespaced_deployment("web", "default", body)
    assert second.metadata.generation == 2
    assert int(second.metadata.resource_version) > int(stale)

    body["spec"]["replicas"] = 5
    with pytest.raises(client.ApiException) as err:
        apps.replace_namespaced_deployment("web", "default", body)  # still carries `stale`
    assert err.value.status == 409
    assert "the object has been modified" in status_body(err.value)["message"]

    labelled = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 2  # metadata-only change
    again = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert again.metadata.resource_version == labelled.metadata.resource_version  # no-op


def test_lease_round_trip(api: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = coord.create_namespaced_lease("kube-system", lease)
    created.spec.holder_identity = "b"
    replaced = coord.replace_namespaced_lease("leader", "kube-system", created)
    assert replaced.spec.holder_identity == "b"
    created.spec.holder_identity = "c"  # stale resourceVersion: lost the race
    with pytest.raises(client.ApiException) as err:
        coord.replace_namespaced_lease("leader", "kube-system", created)
    assert err.value.status == 409


# ----------------------------------------------------------------------- lists


def test_list_selectors(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.store.seed(
        [
            node("n1", role="edge", zone="a"),
            node("n2", role="edge", zone="b"),
            node("n3", role="cloud"),
            node("n4"),
        ]
    )

    def names(**kw: Any) -> list[str]:
        return [n.metadata.name for n in core.list_node(**kw).items]

    assert names() == ["n1", "n2", "n3", "n4"]
    assert names(label_selector="role=edge") == ["n1", "n2"]
    assert names(label_selector="role==edge,zone=b") == ["n2"]
    assert names(label_selector="role!=edge") == ["n3", "n4"]
    assert names(label_selector="role in (cloud, edge)") == ["n1", "n2", "n3"]
    assert names(label_selector="role notin (edge)") == ["n3", "n4"]
    assert names(label_selector="zone") == ["n1", "n2"]
    assert names(label_selector="!zone") == ["n3", "n4"]
    assert names(field_selector="metadata.name=n3") == ["n3"]
    assert names(field_selector="metadata.name!=n3,metadata.name!=n4") == ["n1", "n2"]
    with pytest.raises(client.ApiException) as err:
        core.list_node(label_selector="role in (edge")
    assert err.value.status == 400

    core.create_namespaced_pod("a", client.V1Pod(metadata=client.V1ObjectMeta(name="p")))
    core.create_namespaced_pod("b", client.V1Pod(metadata=client.V1ObjectMeta(name="p")))
    everywhere = core.list_pod_for_all_namespaces()
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [
        ("a", "p"), ("b", "p"),
    ]
    only_b = core.list_pod_for_all_namespaces(field_selector="metadata.namespace=b")
    assert [p.metadata.namespace for p in only_b.items] == ["b"]
    assert [p.metadata.namespace for p in core.list_namespaced_pod("a").items] == ["a"]


def test_pagination_raw_json(kube: KubeAPIServer, api: client.ApiClient) -> None:
    kube.store.seed(node(f"n{i:03d}") for i in range(25))
    seen: list[str] = []
    token = ""
    pages = 0
    list_rv = None
    while True:
        url = "/api/v1/nodes?limit=10" + (f"&continue={token}" if token else "")
        page = raw_get(api, url)
        assert page["kind"] == "NodeList" and page["apiVersion"] == "v1"
        list_rv = list_rv or page["metadata"]["resourceVersion"]
        assert page["metadata"]["resourceVersion"] == list_rv
        seen += [item["metadata"]["name"] for item in page["items"]]
        pages += 1
        token = page["metadata"].get("continue", "")
        if not token:
            assert "remainingItemCount" not in page["metadata"]
            break
        assert page["metadata"]["remainingItemCount"] == 25 - len(seen)
    assert pages == 3
    assert seen == sorted(seen) and len(set(seen)) == 25

    # The generated client with _preload_content=False hands back the raw response.
    core = client.CoreV1Api(api)
    response = core.list_node(limit=5, _preload_content=False)
    assert len(json.loads(response.data)["items"]) == 5

    first = core.list_node(limit=5)
    kube.store.put(node("late"))
    kube.store.compact()  # the list's revision is now older than the retained window
    with pytest.raises(client.ApiException) as err:
        core.list_node(limit=5, _continue=first.metadata._continue)
    assert err.value.status == 410


def test_paginating_many_objects_is_fast(kube: KubeAPIServer, api: client.ApiClient) -> None:
    kube.store.seed(node(f"edge-{i:05d}", role="edge") for i in range(10_000))
    kube.store.seed(
        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
         "metadata": {"name": f"edge-{i:05d}", "namespace": "kube-node-lease"}}
        for i in range(10_000)
    )
    started = time.monotonic()
    for path in ("/api/v1/nodes", "/apis/coordination.k8s.io/v1/leases"):
        total, token = 0, ""
        while True:
            page = raw_get(api, f"{path}?limit=500" + (f"&continue={token}" if token else ""))
            total += len(page["items"])
            token = page["metadata"].get("continue", "")
            if not token:
                break
        assert total == 10_000
    assert time.monotonic() - started < 10
    assert kube.requests.count(verb="list", path="/api/v1/nodes") == 20


# --------------------------------------------------------------------- patches


def test_merge_strategic_and_json_patch(
    kube: KubeAPIServer, api: client.ApiClient, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", cm("p", a="1", b="2"))
    strategic = core.patch_namespaced_config_map("p", "default", {"data": {"b": None, "c": "3"}})
    assert strategic.data == {"a": "1", "c": "3"}

    merged = core.patch_namespaced_config_map(
        "p", "default", {"data": {"d": "4"}}, _content_type="application/merge-patch+json"
    )
    assert merged.data == {"a": "1", "c": "3", "d": "4"}

    ops = [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "replace", "path": "/data/a", "value": "one"},
        {"op": "add", "path": "/data/e", "value": "5"},
        {"op": "remove", "path": "/data/d"},
        {"op": "copy", "from": "/data/e", "path": "/data/f"},
        {"op": "move", "from": "/data/c", "path": "/data/g"},
    ]
    patched = core.patch_namespaced_config_map("p", "default", ops)
    assert patched.data == {"a": "one", "e": "5", "f": "5", "g": "3"}
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "p", "default", [{"op": "test", "path": "/data/a", "value": "1"}]
        )
    assert err.value.status == 422

    contents = [r.content_type for r in kube.requests if r.verb == "patch"]
    assert contents[:3] == [
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
        "application/json-patch+json",
    ]

    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "argocd", "applications",
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
         "metadata": {"name": "site"}, "spec": {"project": "default"}},
    )
    app = custom.patch_namespaced_custom_object(
        "argoproj.io", "v1alpha1", "argocd", "applications", "site",
        {"spec": {"source": {"path": "sites/a"}}},
    )
    assert app["spec"] == {"project": "default", "source": {"path": "sites/a"}}
    assert app["metadata"]["generation"] == 2


# ---------------------------------------------------------- server-side apply


def cm_apply(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_server_side_apply_ownership_conflict_and_force(core: client.CoreV1Api) -> None:
    created = core.patch_namespaced_config_map(
        "s", "default", cm_apply("s", a="1", b="2"), field_manager="gitops",
        _content_type=APPLY,
    )
    assert created.data == {"a": "1", "b": "2"}
    managers = {(m.manager, m.operation) for m in created.metadata.managed_fields}
    assert managers == {("gitops", "Apply")}
    assert created.metadata.managed_fields[0].fields_v1 == {"f:data": {"f:a": {}, "f:b": {}}}

    # Someone else edits one field with a merge patch: they now own it.
    core.patch_namespaced_config_map(
        "s", "default", {"data": {"a": "edited"}}, field_manager="kubectl-edit",
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "s", "default", cm_apply("s", a="1", b="2"), field_manager="gitops",
            _content_type=APPLY,
        )
    assert err.value.status == 409
    body = status_body(err.value)
    assert body["reason"] == "Conflict"
    assert '"kubectl-edit"' in body["message"] and ".data.a" in body["message"]
    assert body["details"]["causes"][0]["field"] == ".data.a"

    # Same value as the other manager is no conflict (shared ownership).
    core.patch_namespaced_config_map(
        "s", "default", cm_apply("s", a="edited", b="2"), field_manager="gitops",
        _content_type=APPLY,
    )
    forced = core.patch_namespaced_config_map(
        "s", "default", cm_apply("s", a="1", b="2"), field_manager="gitops", force=True,
        _content_type=APPLY,
    )
    assert forced.data == {"a": "1", "b": "2"}
    again = core.patch_namespaced_config_map(
        "s", "default", cm_apply("s", a="1", b="2"), field_manager="gitops",
        _content_type=APPLY,
    )
    assert again.metadata.resource_version == forced.metadata.resource_version  # no-op

    # Fields the applier owned and now omits are removed.
    pruned = core.patch_namespaced_config_map(
        "s", "default", cm_apply("s", a="1"), field_manager="gitops", _content_type=APPLY
    )
    assert pruned.data == {"a": "1"}

    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map("s", "default", cm_apply("s"), _content_type=APPLY)
    assert err.value.status == 400  # fieldManager is required for apply


def test_apply_conflicts_with_simulated_controller(kube: KubeAPIServer, api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    group = ("apps.kubeedge.io", "v1alpha1", "nodegroups")
    body = {"apiVersion": "apps.kubeedge.io/v1alpha1", "kind": "NodeGroup",
            "metadata": {"name": "province-1"}, "spec": {"matchLabels": {"p": "1"}}}
    custom.patch_cluster_custom_object(*group, "province-1", body, field_manager="gitops",
                                       _content_type=APPLY)
    kube.store.touch("apps.kubeedge.io/v1alpha1", "NodeGroup", "province-1",
                     patch={"spec": {"matchLabels": {"p": "2"}}}, field_manager="cloudcore")
    with pytest.raises(client.ApiException) as err:
        custom.patch_cluster_custom_object(*group, "province-1", body, field_manager="gitops",
                                           _content_type=APPLY)
    assert '"cloudcore"' in status_body(err.value)["message"]


def test_dry_run_does_not_store(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("d", k="v"), dry_run="All")
    assert kube.store.get("v1", "ConfigMap", "d") is None
    core.create_namespaced_config_map("default", cm("d", k="v"))
    rv = kube.store.resource_version
    out = core.patch_namespaced_config_map("d", "default", {"data": {"k": "new"}}, dry_run="All")
    assert out.data == {"k": "new"}
    core.patch_namespaced_config_map("d", "default", cm_apply("d", k="applied"),
                                     field_manager="m", force=True, dry_run="All",
                                     _content_type=APPLY)
    core.delete_namespaced_config_map("d", "default", dry_run="All")
    assert kube.store.resource_version == rv
    assert kube.store.get("v1", "ConfigMap", "d")["data"] == {"k": "v"}  # type: ignore[index]


# ---------------------------------------------------------- status subresource


def test_status_subresource(kube: KubeAPIServer, api: client.ApiClient) -> None:
    batch = client.BatchV1Api(api)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                          "restartPolicy": "Never"}}},
           "status": {"succeeded": 9}}
    created = batch.create_namespaced_job("default", job)
    assert created.status is None or created.status.succeeded is None  # dropped on create

    updated = batch.patch_namespaced_job_status("j", "default", {"status": {"active": 1},
                                                                 "spec": {"parallelism": 7}})
    assert updated.status.active == 1
    assert updated.spec.parallelism is None  # /status only changes .status
    assert updated.metadata.generation == 1

    main = batch.patch_namespaced_job("j", "default", {"spec": {"parallelism": 2},
                                                       "status": {"active": 5}})
    assert main.spec.parallelism == 2
    assert main.status.active == 1  # the main resource ignores .status

    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "eggo.isula.org", "v1", "eggo", "clusters",
        {"apiVersion": "eggo.isula.org/v1", "kind": "Cluster", "metadata": {"name": "c1"},
         "spec": {"masters": 3}},
    )
    current = custom.get_namespaced_custom_object("eggo.isula.org", "v1", "eggo", "clusters", "c1")
    current["status"] = {"phase": "Ready"}
    current["spec"] = {"masters": 99}
    replaced = custom.replace_namespaced_custom_object_status(
        "eggo.isula.org", "v1", "eggo", "clusters", "c1", current
    )
    assert replaced["status"] == {"phase": "Ready"} and replaced["spec"] == {"masters": 3}
    node_obj = kube.store.put(node("n1"))
    core = client.CoreV1Api(api)
    patched = core.patch_node_status("n1", {"status": {"phase": "Running"}})
    assert patched.status.phase == "Running"
    assert int(patched.metadata.resource_version) > int(node_obj["metadata"]["resourceVersion"])


# ---------------------------------------------------------------------- delete


def test_delete_status_finalizers_and_cascade(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("plain"))
    result = core.delete_namespaced_config_map("plain", "default", propagation_policy="Background")
    assert result["status"] == "Success" and result["details"]["name"] == "plain"

    held = cm("held")
    held.metadata.finalizers = ["example.com/cleanup"]
    core.create_namespaced_config_map("default", held)
    core.delete_namespaced_config_map("held", "default")
    still = core.read_namespaced_config_map("held", "default")
    assert still.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "held", "default", [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("held", "default")
    assert err.value.status == 404

    owner = core.create_namespaced_config_map("default", cm("owner"))
    child = cm("child")
    child.metadata.owner_references = [client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)]
    core.create_namespaced_config_map("default", child)
    core.delete_namespaced_config_map("owner", "default")
    assert kube.store.get("v1", "ConfigMap", "child") is None


def test_delete_collection_and_namespace(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="site")))
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_config_map("site", cm(name, {"tier": tier}))
    core.delete_collection_namespaced_config_map("site", label_selector="tier=web")
    assert [c.metadata.name for c in core.list_namespaced_config_map("site").items] == ["c"]
    core.delete_namespace("site")
    assert kube.store.count("v1", "ConfigMap") == 0


# ----------------------------------------------------------------------- watch


def test_watch_from_resource_version_with_selectors(
    kube: KubeAPIServer, core: client.CoreV1Api
) -> None:
    core.create_namespaced_config_map("default", cm("before", {"app": "x"}))
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("w", {"app": "x"}))
    core.create_namespaced_config_map("default", cm("other", {"app": "y"}))
    core.patch_namespaced_config_map("w", "default", {"data": {"k": "v"}})
    core.patch_namespaced_config_map("w", "default", {"metadata": {"labels": {"app": "z"}}})
    core.delete_namespaced_config_map("other", "default")

    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=start,
            label_selector="app=x", timeout_seconds=1,
        )
    ]
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]

    everything = [
        e["type"] for e in watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=1
        )
    ]
    assert everything == ["ADDED", "ADDED"]  # initial state: "before" and "w"


def test_watch_live_events_and_bookmarks(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.store.put(node("n1"))
    rv = core.list_node().metadata.resource_version
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(core.list_node, resource_version=rv,
                              allow_watch_bookmarks=True, timeout_seconds=3):
            received.put(event)
            if event["type"] == "MODIFIED":
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    bookmark = received.get(timeout=2)
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["raw_object"]["metadata"]["resourceVersion"] == rv
    kube.store.touch("v1", "Node", "n1", patch={"status": {"phase": "Running"}})
    while (event := received.get(timeout=2))["type"] == "BOOKMARK":
        pass
    assert event["type"] == "MODIFIED"
    assert event["object"].status.phase == "Running"
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_watch_expired_after_compaction(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("a"))
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("b"))
    kube.store.compact()
    with pytest.raises(client.ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                  resource_version=old, timeout_seconds=1))
    assert err.value.status == 410

    response = core.list_namespaced_config_map(
        "default", watch=True, resource_version=old, _preload_content=False
    )
    line = json.loads(response.data.splitlines()[0])
    assert kube.requests.records[-1].query["watch"] in ("True", "true")
    assert line["type"] == "ERROR"
    assert line["object"]["code"] == 410 and line["object"]["reason"] == "Expired"


# ---------------------------------------------------------------------- faults


def test_error_faults(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    rule = kube.faults.error(r"^/api/v1/nodes$", times=1)
    with pytest.raises(client.ApiException) as err:
        core.list_node()
    assert err.value.status == 500
    assert core.list_node().items == []
    assert rule.hits == 1

    # urllib3 itself retries GETs answered 429 + Retry-After; turn that off to see the 429.
    no_retries = kube.configuration()
    no_retries.retries = False
    with client.ApiClient(no_retries) as plain:
        kube.faults.throttle(r"^/api/v1/nodes$", retry_after=7, times=1)
        with pytest.raises(client.ApiException) as err:
            client.CoreV1Api(plain).list_node()
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "7"
    assert status_body(err.value)["details"]["retryAfterSeconds"] == 7

    kube.faults.throttle(r"^/api/v1/nodes$", retry_after=0, times=1)
    assert core.list_node().items == []  # retried transparently by the client

    kube.faults.forbidden(r"^/api/v1/nodes$", user="x", times=1)
    with pytest.raises(client.ApiException) as err:
        core.list_node()
    assert err.value.status == 403
    assert status_body(err.value)["message"] == (
        'nodes is forbidden: User "x" cannot list resource "nodes" in API group "" '
        "at the cluster scope"
    )
    kube.faults.forbidden(r"/jobs", user="x", method="POST", times=1)
    with pytest.raises(client.ApiException) as err:
        client.BatchV1Api(core.api_client).create_namespaced_job(
            "ns1",
            {"metadata": {"name": "j"},
             "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        )
    assert status_body(err.value)["message"] == (
        'jobs.batch is forbidden: User "x" cannot create resource "jobs" in API group "batch" '
        'in the namespace "ns1"'
    )

    rule = kube.faults.unauthorized()
    with pytest.raises(client.ApiException) as err:
        core.list_namespace()
    assert err.value.status == 401
    kube.faults.remove(rule)
    assert core.list_namespace().items == []

    assert kube.requests.count(verb="list", path="/api/v1/nodes") == 6
    assert kube.requests.count(verb="list", path="/api/v1/nodes", status=200) == 2
    assert kube.requests.count(verb="list", path="/api/v1/nodes", status=429) == 2


def test_token_auth() -> None:
    with KubeAPIServer(token="t0ken") as kube:
        with kube.api_client() as good:
            assert client.CoreV1Api(good).list_node().items == []
        with kube.api_client(token="wrong") as bad:
            with pytest.raises(client.ApiException) as err:
                client.CoreV1Api(bad).list_node()
            assert err.value.status == 401
        with kube.api_client(token="") as anonymous:
            with pytest.raises(client.ApiException) as err:
                client.CoreV1Api(anonymous).list_node()
            assert err.value.status == 401


def test_latency_and_dropped_connection(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.faults.latency(r"^/api/v1/nodes$", 0.3, times=1)
    started = time.monotonic()
    core.list_node()
    assert time.monotonic() - started >= 0.3

    kube.faults.drop_connection(r"^/api/v1/nodes$", times=1)
    core.api_client.configuration.retries = 0
    fresh = client.CoreV1Api(client.ApiClient(core.api_client.configuration))
    with pytest.raises(urllib3.exceptions.HTTPError):
        fresh.list_node()
    assert kube.requests.count(path="/api/v1/nodes", status=0) == 1
    assert fresh.list_node().items == []


def test_watch_cut_mid_stream(kube: KubeAPIServer, core: client.CoreV1Api) -> None:
    kube.store.seed(node(f"n{i}") for i in range(5))
    kube.faults.cut_watch(r"^/api/v1/nodes$", after_events=2, times=1)
    got: list[str] = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in watch.Watch().stream(core.list_node, timeout_seconds=5):
            got.append(event["object"].metadata.name)
    assert got == ["n0", "n1"]

    kube.faults.cut_watch(r"^/api/v1/nodes$", after_events=3, abrupt=False, times=1)
    started = time.monotonic()
    clean = [e["type"] for e in watch.Watch().stream(core.list_node, timeout_seconds=5)]
    assert clean == ["ADDED"] * 3
    assert time.monotonic() - started < 2
    assert kube.requests.count(verb="watch", path="/api/v1/nodes") == 2
