"""The kustomize base in ``deploy/`` and its overlays: render, schema-valid, RBAC exact.

``kubectl kustomize deploy/`` (the base) and each overlay (``deploy/overlays/ha``,
``deploy/overlays/monitoring``, and HA with the monitoring component) are rendered
once; every object is validated strictly against the official Kubernetes JSON schemas
bundled with ``kubernetes-validate`` (the oldest bundled release, close to what a
KubeEdge central cluster runs, and the newest), and the Prometheus Operator objects
against that operator's CRD models (:mod:`tests.ship.monitoring`).

The RBAC is checked both ways against what gitops-edge really does
(:mod:`tests.ship.scenarios` runs the CLI, the daemon's reconcile, its informers and a
leader election against the API test server and records every request): each call
must be allowed by the rendered ClusterRoles/Roles for the ``gitops-edge``
ServiceAccount (Role namespaces and resourceNames respected); each granted (verb,
group, resource) must be used by some call, unless it is in ``UNREACHABLE`` below with
the reason no scenario can reach it; and no grant is wider than its calls (cluster-wide
where one namespace would do, or without resourceNames where one object is used).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, latest_version

from gitops_edge.cli import main
from gitops_edge.live.resources import MANAGED, resource_for

from .monitoring import MONITORING_GROUP, operator_errors
from .rbac import EVERYWHERE, Call, Grant, allowed, grants_for, rule_calls
from .scenarios import (
    LEADER_LEASE,
    LEADER_MODULE,
    Observed,
    dump,
    known_emit_error,
    load_all,
    observe_everything,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "gitops-edge"
SERVICE_ACCOUNT = "gitops-edge"
RBAC_GROUP = "rbac.authorization.k8s.io"
PORT = 8080
"""Probes and /metrics (``--listen``)."""
WEBHOOK_PORT = 9292
"""Push webhooks alone (``--webhook-listen``)."""
OVERLAYS = ("ha", "monitoring", "ha+monitoring")
UID = 65532
CACHE_DIR = "/var/cache/gitops-edge"
ARCH_WORDS = re.compile(r"amd64|arm64|aarch64|x86[_-]64")
FIXED_NAMESPACES = {NAMESPACE, "kube-node-lease"}
"""Namespaces known when deploying: a grant used only there belongs in a RoleBinding."""
DISCOVERY_PATHS = {"/api", "/apis", "/version", "/healthz", "/livez", "/readyz"}
"""Non-resource paths every authenticated client may read (system:discovery)."""

# Grants that no request can exercise, each with its reason. Keep this short.
UNREACHABLE: dict[tuple[str, str, str], str] = {
    # Authorization checks the API server makes itself when gitops-edge writes a Role
    # (escalate) or a RoleBinding (bind) granting more than gitops-edge holds; no
    # request carries these verbs. test_escalate_and_bind_are_needed proves the
    # scenario's edge bundle needs them.
    ("escalate", RBAC_GROUP, "roles"): "checked by the API server on Role writes",
    ("bind", RBAC_GROUP, "roles"): "checked by the API server on RoleBinding writes",
}
if resource_for("argoproj.io/v1alpha1", "AppProject") is None:
    # The edge bundle ships Argo CD's AppProject (sample-repo/edge-bundle/
    # argocd-project.yaml) and the plan emits it, but gitops_edge.live.resources does
    # not map the kind yet, so the kube sink reports "cannot apply kind" instead of
    # calling the API. These entries lapse by themselves once it does.
    for _verb in ("list", "watch", "create", "patch", "delete"):
        UNREACHABLE[(_verb, "argoproj.io", "appprojects")] = "AppProject not in resources.py yet"
if importlib.util.find_spec(LEADER_MODULE) is None:
    # Without the elector no scenario takes the leader Lease (see test_leader_election).
    for _verb in ("create", "get", "update"):
        UNREACHABLE[(_verb, "coordination.k8s.io", "leases")] = f"{LEADER_MODULE} not written yet"


# -- rendering ------------------------------------------------------------------------


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render deploy/ with `kubectl kustomize`")
    proc = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n{proc.stderr}"
    return load_all(proc.stdout)


def render_overlay(name: str, tmp: Path) -> list[dict[str, Any]]:
    """``deploy/overlays/NAME``; ``ha+monitoring`` is the overlay a user writes for both."""
    if name != "ha+monitoring":
        return kustomize(DEPLOY / "overlays" / name)
    own = tmp / "ha-monitoring"
    own.mkdir(parents=True, exist_ok=True)
    (own / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources: [{os.path.relpath(DEPLOY / 'overlays' / 'ha', own)}]\n"
        f"components: [{os.path.relpath(DEPLOY / 'components' / 'monitoring', own)}]\n",
        encoding="utf-8",
    )
    return kustomize(own)


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(DEPLOY)


@pytest.fixture(scope="module")
def overlays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("overlays")
    return {name: render_overlay(name, tmp) for name in OVERLAYS}


def _one(rendered: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o for o in rendered if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _container(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return dict(pod["containers"][0])


def test_renders_the_whole_base(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in rendered)
    for kind in (
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "NetworkPolicy",
    ):
        assert kind in kinds, f"deploy/ renders no {kind}"
    for obj in rendered:
        labels = obj["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/managed-by") != "gitops-edge", (
            f"{obj['kind']} {obj['metadata']['name']}: that label marks objects gitops-edge prunes"
        )
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            expected = (
                "kube-node-lease"
                if obj["metadata"]["name"] == "gitops-edge-node-leases"
                else NAMESPACE
            )
            assert obj["metadata"].get("namespace") == expected, obj["metadata"]


def _schema_errors(objects: list[dict[str, Any]], version: str) -> list[str]:
    errors = []
    for obj in objects:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        if obj["apiVersion"].startswith(f"{MONITORING_GROUP}/"):
            errors.extend(f"{where}: {e}" for e in operator_errors(obj))
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {exc.message}")
    return errors


@pytest.mark.parametrize("version", sorted({all_versions()[0], latest_version()}))
def test_objects_are_valid_against_the_kubernetes_schemas(
    rendered: list[dict[str, Any]], version: str
) -> None:
    errors = _schema_errors(rendered, version)
    assert not errors, f"invalid for Kubernetes {version}:\n" + "\n".join(errors)


@pytest.mark.parametrize("version", sorted({all_versions()[0], latest_version()}))
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_is_valid_against_the_schemas(
    overlays: dict[str, list[dict[str, Any]]], overlay: str, version: str
) -> None:
    errors = _schema_errors(overlays[overlay], version)
    assert not errors, f"overlay {overlay} invalid for Kubernetes {version}:\n" + "\n".join(errors)


def test_the_base_is_one_replica_and_the_ha_overlay_two_with_a_pdb(
    rendered: list[dict[str, Any]], overlays: dict[str, list[dict[str, Any]]]
) -> None:
    assert _one(rendered, "Deployment")["spec"]["replicas"] == 1
    assert not [o for o in rendered if o["kind"] == "PodDisruptionBudget"], (
        "with one replica, a PDB with minAvailable 1 blocks every drain"
    )
    for name in ("ha", "ha+monitoring"):
        ha = overlays[name]
        deploy = _one(ha, "Deployment", "gitops-edge")
        assert deploy["spec"]["replicas"] == 2
        assert "--leader-elect" in _container(ha)["args"]
        pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        pdb = _one(ha, "PodDisruptionBudget")
        assert pdb["spec"]["minAvailable"] == 1
        assert all(
            pod_labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()
        )

    # the overlays change nothing else that matters: same RBAC, same pod template
    def rbac(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(
            (o for o in objs if o["apiVersion"].startswith(RBAC_GROUP)),
            key=lambda o: (o["kind"], o["metadata"]["name"]),
        )

    for name, objs in overlays.items():
        assert rbac(objs) == rbac(rendered), f"overlay {name} changes RBAC"
        template = _one(objs, "Deployment")["spec"]["template"]
        assert template == _one(rendered, "Deployment")["spec"]["template"], name


# -- the workload ---------------------------------------------------------------------


def _containerfile_value(pattern: str) -> str:
    match = re.search(pattern, (ROOT / "Containerfile").read_text(encoding="utf-8"), re.MULTILINE)
    assert match, pattern
    return match.group(1)


def _port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))


def test_deployment_runs_the_leader_elected_daemon(rendered: list[dict[str, Any]]) -> None:
    deploy = _one(rendered, "Deployment", "gitops-edge")
    assert deploy["spec"]["replicas"] == 1  # leader-elected even so: rolling updates overlap
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    c = _container(rendered)
    args = " ".join(c.get("args") or [])
    assert "--leader-elect" in args.split()
    assert re.search(r"--emit[= ]kube\b", args), args
    env = {e["name"]: e for e in c.get("env") or []}
    secret = env["GITOPS_EDGE_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert secret["name"] and secret["key"]
    repo_ref = env["GITOPS_EDGE_REPO"]["valueFrom"]["configMapKeyRef"]
    config = _one(rendered, "ConfigMap", repo_ref["name"])
    assert config["data"][repo_ref["key"]].startswith(("https://", "ssh://", "git@"))
    assert "$(GITOPS_EDGE_REPO)" in args
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "metrics": PORT,
        "webhook": WEBHOOK_PORT,
    }
    assert f"--listen=:{PORT}" in c["args"] and f"--webhook-listen=:{WEBHOOK_PORT}" in c["args"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _port(c, c["livenessProbe"]) == _port(c, c["readinessProbe"]) == PORT
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), f"resources.{kind}"


def test_deployment_is_locked_down(rendered: list[dict[str, Any]]) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    c = _container(rendered)
    psc, csc = pod["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] == UID
    assert psc["seccompProfile"]["type"] == "RuntimeDefault"
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"] and not csc["capabilities"].get("add")
    assert csc.get("privileged") is not True
    # the image's own user and HOME (Containerfile) are what the pod expects
    assert _containerfile_value(r"^USER (\d+)") == str(UID)
    assert _containerfile_value(r"HOME=(\S+)") == CACHE_DIR
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
    for path in (CACHE_DIR, "/tmp"):
        assert "emptyDir" in mounts[path], f"{path} must be a writable emptyDir"


def test_deployment_spreads_and_runs_on_any_arch(rendered: list[dict[str, Any]]) -> None:
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    spread = [t["topologyKey"] for t in pod.get("topologySpreadConstraints") or []]
    anti = (pod.get("affinity") or {}).get("podAntiAffinity")
    assert "kubernetes.io/hostname" in spread or anti, "replicas must spread across nodes"
    placement = repr({k: pod.get(k) for k in ("nodeSelector", "affinity", "tolerations")})
    assert "kubernetes.io/arch" not in placement, "no arch selector: the image is multi-arch"
    assert not ARCH_WORDS.search(_container(rendered)["image"])


def test_service_pdb_and_network_policy(rendered: list[dict[str, Any]]) -> None:
    pod_labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    c = _container(rendered)
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())

    svc = _one(rendered, "Service")
    assert selects(svc["spec"]["selector"])
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert set(ports) == {"webhook", "metrics"}
    targets = {
        name: port_names[p["targetPort"]] if isinstance(p["targetPort"], str) else p["targetPort"]
        for name, p in ports.items()
    }
    assert targets == {"webhook": WEBHOOK_PORT, "metrics": PORT}
    netpol = _one(rendered, "NetworkPolicy")
    assert selects(netpol["spec"]["podSelector"]["matchLabels"])
    assert sorted(netpol["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    ingress = {
        (p.get("protocol", "TCP"), p["port"]) for r in netpol["spec"]["ingress"] for p in r["ports"]
    }
    assert ingress == {("TCP", PORT), ("TCP", WEBHOOK_PORT)}
    egress = {
        (p.get("protocol", "TCP"), p["port"]) for r in netpol["spec"]["egress"] for p in r["ports"]
    }
    assert {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443), ("TCP", 22)} <= egress


def test_daemon_flags_exist(rendered: list[dict[str, Any]]) -> None:
    """Every flag the Deployment passes is one ``gitops-edge run --help`` lists."""
    if not (ROOT / "gitops_edge" / "commands" / "run.py").is_file():
        pytest.skip("gitops_edge/commands/run.py does not exist yet: cannot check `run` flags")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    known = set(re.findall(r"(--[a-z][a-z0-9-]*)", out.getvalue()))
    for arg in _container(rendered).get("args") or []:
        if arg.startswith("--"):
            assert arg.split("=", 1)[0] in known, f"`run` has no flag {arg}"


# -- RBAC -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grants(rendered: list[dict[str, Any]]) -> list[Grant]:
    found = grants_for(rendered, sa_namespace=NAMESPACE, sa_name=SERVICE_ACCOUNT)
    assert found, "the gitops-edge ServiceAccount is bound to nothing"
    return found


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    return observe_everything(tmp_path_factory.mktemp("ship-scenarios"))


def test_scenarios_did_what_they_claim(observed: Observed) -> None:
    outputs = observed.outputs
    for label in ("status", "plan", "status-after"):
        assert outputs[label][0] == 0, dump(observed)
    for label in (
        "apply-create",
        "apply-update",
        "apply-prune",
        "operator-apply",
        "operator-prune",
    ):
        rc, _out, err = outputs[label]
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert rc == 0 or (errors and all(map(known_emit_error, errors))), dump(observed)
    assert not observed.daemon or "does not exist" in observed.daemon, observed.daemon
    verbs = {(c.verb, c.resource) for c in observed.calls}
    assert ("patch", "applications") in verbs and ("create", "applications") in verbs
    updates = [r for r in observed.requests if r.method == "PATCH" and r.status == 200]
    assert updates, "the second apply updated nothing"
    for res in MANAGED:
        for verb in ("list", "watch", "delete"):
            assert (verb, res.plural) in verbs, f"no scenario does {verb} {res.describe()}"


def test_every_call_is_allowed(grants: list[Grant], observed: Observed) -> None:
    denied = sorted(c.describe() for c in observed.calls if not allowed(c, grants))
    assert not denied, "gitops-edge makes calls deploy/rbac.yaml does not allow:\n" + "\n".join(
        denied
    )
    odd = observed.non_resource - DISCOVERY_PATHS
    assert not odd, f"non-resource requests need a rule of their own: {sorted(odd)}"


def test_nothing_more_is_granted(grants: list[Grant], observed: Observed) -> None:
    unused = sorted(
        g.describe()
        for g in grants
        if not any(g.allows(c) for c in observed.calls)
        and (g.verb, g.group, g.resource) not in UNREACHABLE
    )
    assert not unused, "deploy/rbac.yaml grants what gitops-edge never uses:\n" + "\n".join(unused)
    for g in grants:
        assert "*" not in (g.verb, g.group, g.resource), f"wildcard grant: {g.describe()}"


def test_no_grant_is_broader_than_its_calls(grants: list[Grant], observed: Observed) -> None:
    """Cluster-wide only for what spans namespaces; one fixed object gets resourceNames."""
    too_broad = []
    for g in grants:
        calls = [c for c in observed.calls if g.allows(c)]
        if not calls:
            continue
        if g.scope == EVERYWHERE and all(c.namespace in FIXED_NAMESPACES for c in calls):
            too_broad.append(
                f"{g.describe()}: only used in {sorted({str(c.namespace) for c in calls})}"
            )
        names = {c.name for c in calls}
        if (
            not g.names
            and g.verb in ("get", "update", "patch", "delete")
            and len(names) == 1
            and None not in names
            and g.scope in FIXED_NAMESPACES
        ):
            too_broad.append(
                f"{g.describe()}: only used on {names.pop()}, limit it with resourceNames"
            )
    assert not too_broad, "deploy/rbac.yaml grants more widely than needed:\n" + "\n".join(
        too_broad
    )


def test_escalate_and_bind_are_needed(grants: list[Grant], observed: Observed) -> None:
    """The bundle's Role grants what gitops-edge lacks: writing it needs escalate, binding it bind."""
    own = [g for g in grants if g.verb not in ("escalate", "bind")]
    beyond = [
        call
        for role in observed.roles
        for rule in role.get("rules") or []
        for call in rule_calls(rule, role["metadata"]["namespace"])
        if not allowed(call, own)
    ]
    assert beyond, "no Role in the scenarios exceeds gitops-edge's own rights: drop escalate?"
    bound = {
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in observed.role_bindings
        if b["roleRef"]["kind"] == "Role"
    }
    assert {(c.namespace, "agent") for c in beyond} & bound, "no RoleBinding needs bind"
    for verb in ("escalate", "bind"):
        assert allowed(Call(verb, RBAC_GROUP, "roles", "edge-gd", "agent"), grants)


def test_leader_election(grants: list[Grant], observed: Observed) -> None:
    if observed.leader_election:
        pytest.skip(f"no leader election round: {observed.leader_election}")
    lease_calls = {
        (c.verb, c.namespace, c.name)
        for c in observed.calls
        if c.resource == "leases" and c.namespace == NAMESPACE
    }
    assert ("create", NAMESPACE, None) in lease_calls
    assert ("get", NAMESPACE, LEADER_LEASE) in lease_calls
    assert ("update", NAMESPACE, LEADER_LEASE) in lease_calls
    # the controller's Role reaches no other Lease, and no other namespace's Leases
    assert not allowed(Call("update", "coordination.k8s.io", "leases", NAMESPACE, "other"), grants)
    assert not allowed(
        Call("get", "coordination.k8s.io", "leases", "kube-system", LEADER_LEASE), grants
    )
    assert not allowed(Call("list", "coordination.k8s.io", "leases", None), grants)


def test_the_daemon_takes_the_lease_the_role_names(rendered: list[dict[str, Any]]) -> None:
    """``--lease-name``/``--lease-namespace`` in the Deployment match the leader Role."""
    deploy = _one(rendered, "Deployment")
    c = _container(rendered)
    flags = dict(a.split("=", 1) for a in c.get("args") or [] if "=" in a)
    env = {e["name"]: e for e in c.get("env") or []}
    namespace = flags.get("--lease-namespace", "$(POD_NAMESPACE)")
    if namespace == "$(POD_NAMESPACE)":
        assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        namespace = deploy["metadata"]["namespace"]
    name = flags.get("--lease-name", LEADER_LEASE)
    assert (namespace, name) == (NAMESPACE, LEADER_LEASE)
    role = _one(rendered, "Role", "gitops-edge-leader-election")
    assert role["metadata"]["namespace"] == namespace
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named and all(r["resourceNames"] == [name] for r in named)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", (
        "each replica needs its own identity in the Lease"
    )
