"""Run gitops-edge as it runs in production against the API test server; record its calls.

The scenarios cover every code path that talks to the central API:

* the CLI, in-process (``gitops_edge.cli.main``) with ``--kubeconfig``: ``status``,
  ``plan``, ``apply --emit kube`` creating everything, ``apply`` after a spec change
  (updates), ``apply`` after a site directory was removed (prune), once with eggo in
  ``job`` mode and once in ``operator`` mode so every kind gitops-edge emits is
  created, updated or deleted at least once;
* the daemon's informers (:class:`~gitops_edge.live.cache.LiveCache` start/stop:
  list + watch of everything ``read_live`` lists);
* one reconcile by the daemon itself (``Runner.once`` with ``--emit kube``), when the
  daemon exists;
* a leader election round (:class:`~gitops_edge.daemon.leader.LeaderElector`: acquire,
  renew, a second candidate that finds the Lease held, release), when that module
  exists.

The ops repo is small but has everything: two sites with edge nodes online (so no site
is deferred), an edge bundle with every namespaced kind the kube sink can apply, and a
Role in that bundle that grants more than gitops-edge holds (as Argo CD's does).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.cli import main
from gitops_edge.live.cache import LiveCache
from gitops_edge.live.connect import connect
from gitops_edge.live.resources import resource_for
from tests.builders import province, write_settings, write_site
from tests.kubeapi.requestlog import RequestRecord
from tests.kubeapi.server import KubeAPIServer
from tests.live.objects import lease, node

from .rbac import Call, calls_from_request

CONTROLLER_NAMESPACE = "gitops-edge"
LEADER_LEASE = "gitops-edge"
LEADER_MODULE = "gitops_edge.daemon.leader"
RUNNER_MODULE = "gitops_edge.daemon.runner"

BUNDLE = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: agent}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: agent}
rules:
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: agent}
subjects:
- {kind: ServiceAccount, name: agent}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: agent-config}
data: {interval: 300s}
---
apiVersion: v1
kind: Service
metadata: {name: agent}
spec:
  selector: {app: agent}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      serviceAccountName: agent
      containers: [{name: agent, image: registry.example/agent:1.0}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache}
spec:
  serviceName: cache
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: cache, image: registry.example/cache:1.0}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: exporter}
spec:
  selector: {matchLabels: {app: exporter}}
  template:
    metadata: {labels: {app: exporter}}
    spec:
      containers: [{name: exporter, image: registry.example/exporter:1.0}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: prefetch}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: prefetch, image: registry.example/prefetch:1.0}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: cache}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent}
spec:
  podSelector: {matchLabels: {app: agent}}
  policyTypes: [Ingress]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: agent}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: agent}}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: fleet}
spec:
  sourceRepos: ["https://git.example/ops.git"]
  destinations: [{server: "*", namespace: "*"}]
"""


@dataclass
class Observed:
    """What the scenarios did: the calls, the raw requests, and what was left behind."""

    calls: set[Call] = field(default_factory=set)
    non_resource: set[str] = field(default_factory=set)
    requests: list[RequestRecord] = field(default_factory=list)
    outputs: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    roles: list[dict[str, Any]] = field(default_factory=list)
    role_bindings: list[dict[str, Any]] = field(default_factory=list)
    leader_election: str = ""
    """Empty when a leader election round ran, else why it did not."""
    daemon: str = ""
    """Empty when the daemon's own reconcile ran, else why it did not."""

    def add(self, api: KubeAPIServer) -> None:
        for rec in api.requests.records:
            self.requests.append(rec)
            calls = calls_from_request(
                rec.method, rec.path, rec.query, rec.status, rec.content_type
            )
            if calls is None:
                self.non_resource.add(rec.path)
            else:
                self.calls.update(calls)


@contextlib.contextmanager
def api_server() -> Iterator[KubeAPIServer]:
    """The server the ``kube_api`` fixture yields."""
    with KubeAPIServer(bookmark_interval=0.2) as api:
        yield api


def seed_edge_nodes(api: KubeAPIServer, *sites: str) -> None:
    """One online edge node per site, heartbeat just now, so no site is deferred."""
    now = datetime.now(UTC)
    for site in sites:
        api.store.put(node(f"{site}-edge-01", site=site))
        api.store.put(lease(f"{site}-edge-01", now))


def cli(observed: Observed, label: str, *argv: str | Path) -> int:
    """``gitops-edge ARGV`` in-process; output kept for assertions and failure messages."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    observed.outputs[label] = (rc, out.getvalue(), err.getvalue())
    return rc


def job_mode_repo(root: Path) -> Path:
    write_site(root, "gd", province("gd"))
    write_site(root, "zj", province("zj"))
    bundle = root / "edge-bundle"
    bundle.mkdir(parents=True)
    (bundle / "agent.yaml").write_text(BUNDLE, encoding="utf-8")
    return root


def run_cli_scenarios(api: KubeAPIServer, tmp: Path, observed: Observed) -> None:
    """eggo job mode: status, plan, apply (create), apply (update), apply (prune)."""
    repo = job_mode_repo(tmp / "ops")
    kubeconfig = api.kubeconfig(tmp / "kubeconfig")
    seed_edge_nodes(api, "gd", "zj")
    kube = ("--kubeconfig", kubeconfig)
    cli(observed, "status", "status", repo, *kube)
    cli(observed, "plan", "plan", repo, *kube, "--output", "markdown")
    cli(observed, "apply-create", "apply", repo, "--emit", "kube", *kube)
    changed = province("gd")
    changed["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(repo, "gd", changed)
    cli(observed, "apply-update", "apply", repo, "--emit", "kube", *kube)
    shutil.rmtree(repo / "provinces" / "zj")
    cli(observed, "apply-prune", "apply", repo, "--emit", "kube", *kube)
    cli(observed, "status-after", "status", repo, *kube, "--output", "json")
    write_site(repo, "gd", province("gd"))  # back to the first spec: one more update
    observed.daemon = run_daemon_once(repo, kubeconfig, tmp / "cache")
    observed.roles = api.store.list("rbac.authorization.k8s.io/v1", "Role")
    observed.role_bindings = api.store.list("rbac.authorization.k8s.io/v1", "RoleBinding")


def run_daemon_once(repo: Path, kubeconfig: Path, cache: Path) -> str:
    """The daemon's reconcile path (``gitops-edge run --once --emit kube``), in-process."""
    if importlib.util.find_spec(RUNNER_MODULE) is None:
        return f"{RUNNER_MODULE} does not exist yet"
    daemon = importlib.import_module(RUNNER_MODULE)  # RunOptions is imported there
    runner = daemon.Runner(
        daemon.RunOptions(repo=str(repo), emit="kube", cache_dir=cache),
        kube=connect(kubeconfig=kubeconfig),
    )
    failed = runner.once()
    last = runner.controller.last
    errors = last[1].errors() if last is not None else ["no reconcile recorded"]
    assert not failed or errors, f"the daemon's reconcile failed for {sorted(failed)}"
    unexpected = [e for e in errors if not known_emit_error(e)]
    assert not unexpected, f"the daemon's reconcile failed: {unexpected}"
    return ""


def known_emit_error(message: str) -> bool:
    """The kube sink cannot apply AppProject until gitops_edge.live.resources maps it."""
    return (
        resource_for("argoproj.io/v1alpha1", "AppProject") is None
        and "cannot apply kind argoproj.io/v1alpha1/AppProject" in message
    )


def run_operator_mode(api: KubeAPIServer, tmp: Path, observed: Observed) -> None:
    """eggo operator mode: Cluster/Machine/Infrastructure created, then pruned."""
    repo = tmp / "ops-operator"
    repo.mkdir()
    write_settings(repo, {"eggo": {"mode": "operator"}})
    write_site(repo, "sc", province("sc"))
    write_site(repo, "hb", province("hb"))
    kubeconfig = api.kubeconfig(tmp / "kubeconfig-operator")
    seed_edge_nodes(api, "sc", "hb")
    kube = ("--kubeconfig", kubeconfig)
    cli(observed, "operator-apply", "apply", repo, "--emit", "kube", *kube)
    shutil.rmtree(repo / "provinces" / "hb")
    cli(observed, "operator-prune", "apply", repo, "--emit", "kube", *kube)


def run_informers(api: KubeAPIServer, kubeconfig: Path) -> None:
    """The daemon's LiveCache: one list per kind, then watches, then a clean stop."""
    cache = LiveCache(connect(kubeconfig=kubeconfig), watch_timeout=30)
    cache.start()
    try:
        assert cache.wait_synced(20), "informers did not sync against the test server"
        api.store.put(node("late-edge-01", site="gd"))  # one event through the watch
        cache.state()
    finally:
        cache.stop(timeout=5)


def run_leader_election(kubeconfig: Path) -> str:
    """Acquire, renew a few times, release on stop; a second candidate finds it held."""
    if importlib.util.find_spec(LEADER_MODULE) is None:
        return f"{LEADER_MODULE} does not exist yet"
    from gitops_edge.daemon.leader import LeaderElector

    kube = connect(kubeconfig=kubeconfig)

    def elector(identity: str) -> Any:
        return LeaderElector(
            kube,
            namespace=CONTROLLER_NAMESPACE,
            name=LEADER_LEASE,
            identity=identity,
            lease_duration=3.0,
            renew_period=0.2,
        )

    leader, standby = elector("gitops-edge-a"), elector("gitops-edge-b")
    stop = threading.Event()
    started = threading.Event()
    stopped = threading.Event()
    thread = threading.Thread(
        target=leader.run,
        args=(stop,),
        kwargs={"on_started": started.set, "on_stopped": stopped.set},
        daemon=True,
    )
    thread.start()
    try:
        assert started.wait(10), "the first candidate never became leader"
        assert not standby.try_acquire_or_renew(), "a second candidate took a held Lease"
        time.sleep(0.6)  # a few renewals
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and stopped.is_set(), "the leader did not step down on stop"
    return ""


def observe_everything(tmp: Path) -> Observed:
    observed = Observed()
    with api_server() as api:
        run_cli_scenarios(api, tmp, observed)
        kubeconfig = tmp / "kubeconfig"
        run_informers(api, kubeconfig)
        observed.leader_election = run_leader_election(kubeconfig)
        observed.add(api)
    with api_server() as api:
        run_operator_mode(api, tmp, observed)
        observed.add(api)
    return observed


def dump(observed: Observed) -> str:
    """The CLI outputs, for a failing assertion's message."""
    parts = []
    for label, (rc, out, err) in observed.outputs.items():
        parts.append(f"--- {label}: exit {rc}\n{out[-1500:]}\n{err[-1500:]}")
    return "\n".join(parts)


def load_all(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]
