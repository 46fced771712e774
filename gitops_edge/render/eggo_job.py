"""eggo ``job`` mode: a ConfigMap with eggo's config and a Job running eggo on the edge node.

The province cluster's machines are only reachable from the province, so eggo runs
as a Job pinned to the site's edge node, tolerating the node being cut off from the
centre (a partition must not kill a half-done deploy).

Names carry a hash of the config and the operation: a new spec is a new Job (Jobs
are immutable and a finished run's record is worth keeping), the same spec is the
same Job, and the planner can tell the two apart by name alone.

eggo keeps each cluster's state in ``/etc/eggo/<cluster-id>`` (the saved deploy
config that ``join``/``delete``/``cleanup`` read, the cluster CA, admin.conf; eggo
``pkg/api/tools.go`` ``EggoHomePath``). That directory lives on the edge node
(hostPath) so it outlives every Job pod; losing it would orphan the cluster's CA.
The hostPath is mounted at ``/etc/eggo``, not at ``/etc/eggo/<cluster-id>``: ``eggo
deploy`` refuses a cluster whose home directory exists ("cluster: X exist",
``cmd/deploy.go`` ``checkClusterExist``, openeuler-mirror/eggo cb51e25b), and a mount
point always exists. On the node, a cluster's state is
``/var/lib/gitops-edge/eggo/<cluster-id>`` (its ``admin.conf`` included).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from gitops_edge.problems import Problem
from gitops_edge.render import meta
from gitops_edge.render.context import (
    RenderContext,
    RenderError,
    eggo_image,
    placement,
    site_namespace,
    spec_of,
)
from gitops_edge.render.output import emit_yaml
from gitops_edge.specs.eggo import DeployConfig, HostConfig
from gitops_edge.specs.sites import Site

OperationKind = Literal["deploy", "join", "delete", "cleanup"]

SSH_DIR = "/etc/eggo/ssh"
SSH_KEY = "ssh-privatekey"
CONFIG_DIR = "/etc/eggo/config"
EGGO_HOME = "/etc/eggo"
STATE_HOST_DIR = "/var/lib/gitops-edge/eggo"
PRIVATE_KEY_PATH = f"{SSH_DIR}/{SSH_KEY}"
RESERVED_CLUSTER_IDS = frozenset({"ssh", "config"})
"""Names under /etc/eggo taken by the mounts above; a cluster with one would be shadowed."""


@dataclass(frozen=True)
class EggoOperation:
    """One eggo command for a site.

    ``hosts`` are the added machines for ``join`` (their roles are read from the
    site's spec, where they are listed) and the removed ones for ``delete``.
    """

    kind: OperationKind
    hosts: tuple[HostConfig, ...] = ()


DEPLOY = EggoOperation("deploy")


def deploy_config(conf: DeployConfig) -> DeployConfig:
    """The spec as eggo will read it: the SSH key path points at the mounted Secret."""
    return conf.model_copy(update={"private_key_path": PRIVATE_KEY_PATH})


def dump_eggo(conf: DeployConfig) -> str:
    """eggo's own format: its keys, its field order, only what differs from Go zero values."""
    return emit_yaml(conf.model_dump(by_alias=True, exclude_defaults=True, mode="json"))


_DEPLOY_TEXT: OrderedDict[int, tuple[DeployConfig, str]] = OrderedDict()
_DEPLOY_TEXT_MAX = 1024
_DEPLOY_TEXT_LOCK = threading.Lock()


def deploy_yaml(eggo: DeployConfig) -> str:
    """``dump_eggo(deploy_config(eggo))``, computed once per config object.

    The planner renders a site's eggo run again right after the renderer did (to pick
    the operation); the configs are frozen models, so the text of the same object is
    the same text. The memo holds the last 1 024 configs (more than a chunk of sites).
    """
    with _DEPLOY_TEXT_LOCK:
        hit = _DEPLOY_TEXT.get(id(eggo))
    if hit is not None and hit[0] is eggo:
        return hit[1]
    text = dump_eggo(deploy_config(eggo))
    with _DEPLOY_TEXT_LOCK:
        _DEPLOY_TEXT[id(eggo)] = (eggo, text)
        if len(_DEPLOY_TEXT) > _DEPLOY_TEXT_MAX:
            _DEPLOY_TEXT.popitem(last=False)
    return text


def join_config(conf: DeployConfig, added: tuple[HostConfig, ...]) -> DeployConfig:
    """``eggo join -f`` input: the cluster id and only the added masters and workers."""
    ips = {h.ip for h in added}
    masters = [h for h in conf.masters if h.ip in ips]
    workers = [h for h in conf.workers if h.ip in ips]
    missing = ips - {h.ip for h in (*masters, *workers)}
    if missing:
        raise ValueError(f"join hosts {sorted(missing)} are not masters or workers of the spec")
    return DeployConfig(cluster_id=conf.cluster_id, masters=masters, workers=workers)


def eggo_command(op: EggoOperation, cluster_id: str) -> list[str]:
    """eggo's argv; never a shell string, so no value from Git is ever parsed by a shell."""
    if op.kind == "deploy":
        return ["eggo", "deploy", "-f", f"{CONFIG_DIR}/deploy.yaml"]
    if op.kind == "join":
        return ["eggo", "join", "--id", cluster_id, "-f", f"{CONFIG_DIR}/join.yaml"]
    if op.kind == "delete":
        if not op.hosts:
            raise ValueError("delete needs the removed hosts")
        # by IP: eggo matches a delete argument against name or ip (cmd/delete.go
        # splitDeletedConfigs), and the IP is what identifies a machine
        return ["eggo", "delete", "--id", cluster_id, *(h.ip for h in op.hosts)]
    return ["eggo", "cleanup", "--id", cluster_id]


TERMINATION_LOG = "/dev/termination-log"
SUMMARY_SCRIPT = """\
status="${TMPDIR:-/tmp}/eggo-exit-status"
summary="${EGGO_SUMMARY_FILE:-/dev/termination-log}"
tab=$(printf '\\t')
: > "$status"
: > "$summary"
{ "$@" 2>&1; echo "$?" > "$status"; } | while IFS= read -r line || [ -n "$line" ]; do
  printf '%s\\n' "$line"
  case "$line" in
    "message: "*|*"${tab}failure") printf '%s\\n' "$line" >> "$summary" ;;
  esac
done
read -r rc < "$status" || rc=1
case "$rc" in ''|*[!0-9]*) rc=1 ;; esac
exit "$rc"
"""
"""Runs eggo (its argv as ``"$@"``), streams its output to the log and copies its summary
(the ``message:`` line and every ``<ip>\\t\\tfailure`` line of ``ClusterStatus.Show``,
eggo ``pkg/api/tools.go``) to the container's termination message, then exits with
eggo's status. eggo exits 0 when hosts fail (``cmd/join.go``, openeuler-mirror/eggo
cb51e25b): the summary is the only place that says so, and the planner reads it back
from the Pod. Only ``sh`` builtins are used, and no value from Git is parsed by the
shell: eggo's argv are positional parameters. Success lines are left out so the failed
hosts always fit the kubelet's 4 096-byte termination-message limit."""


def summarised(command: list[str]) -> list[str]:
    """The container command that runs eggo's ``command`` under :data:`SUMMARY_SCRIPT`."""
    return ["/bin/sh", "-c", SUMMARY_SCRIPT, "eggo-run", *command]


def eggo_argv(command: list[str]) -> list[str]:
    """eggo's own argv inside a container command made by :func:`summarised`."""
    head = summarised([])
    return command[len(head) :] if command[: len(head)] == head else command


def eggo_run_objects(site: Site, ctx: RenderContext, op: EggoOperation) -> list[dict[str, Any]]:
    """The ConfigMap and Job that run ``op`` for the site's eggo cluster, stamped."""
    spec = spec_of(site)
    if spec.eggo is None or spec.sshKeySecret is None:
        raise ValueError(f"site {site.id!r} has no eggo cluster")
    conf = deploy_config(spec.eggo)
    cluster_id = conf.cluster_id
    if cluster_id in RESERVED_CLUSTER_IDS:
        raise RenderError(
            [
                Problem(
                    site.file,
                    "spec.eggo.cluster-id",
                    f"{cluster_id!r} is reserved in eggo job mode (/etc/eggo/{cluster_id} holds "
                    "the mounted config or SSH key); choose another cluster id",
                )
            ]
        )
    if op.kind == "join" and not op.hosts:
        raise ValueError("join needs the added hosts")
    data = {"deploy.yaml": deploy_yaml(spec.eggo)}
    if op.kind == "join":
        data["join.yaml"] = dump_eggo(join_config(conf, op.hosts))
    command = eggo_command(op, cluster_id)
    name = f"eggo-{op.kind}-{meta.digest({'op': op.kind, 'data': data, 'command': command})[:10]}"
    namespace = site_namespace(site, ctx)
    extra = {meta.EGGO_OPERATION: op.kind, meta.CLUSTER_ID: cluster_id}
    config_map = meta.k8s_object(
        "v1",
        "ConfigMap",
        meta.metadata(
            name,
            namespace,
            meta.site_labels(site.id, "eggo-config", **extra),
            {meta.EGGO_OPERATION: op.kind},
        ),
        immutable=True,
        data=data,
    )
    job = meta.k8s_object(
        "batch/v1",
        "Job",
        meta.metadata(
            name,
            namespace,
            meta.site_labels(site.id, "eggo-run", **extra),
            {meta.EGGO_CONFIG: name, meta.EGGO_OPERATION: op.kind},
        ),
        spec=_job_spec(site, ctx, conf, command, name, spec.sshKeySecret),
    )
    return [meta.finish(config_map, ctx.revision), meta.finish(job, ctx.revision)]


def _job_spec(
    site: Site,
    ctx: RenderContext,
    conf: DeployConfig,
    command: list[str],
    config_map: str,
    ssh_secret: str,
) -> dict[str, Any]:
    runner = ctx.settings.spec.eggo
    spec: dict[str, Any] = {
        "backoffLimit": runner.backoffLimit,
        "activeDeadlineSeconds": runner.activeDeadlineSeconds,
    }
    if runner.ttlSecondsAfterFinished is not None:
        spec["ttlSecondsAfterFinished"] = runner.ttlSecondsAfterFinished
    pod_labels = {
        meta.MANAGED_BY: meta.MANAGER,
        meta.SITE: site.id,
        meta.COMPONENT: "eggo-run",
        meta.CLUSTER_ID: meta.label_value(conf.cluster_id),
    }
    mounts, volumes = _volumes(conf, config_map, ssh_secret)
    container = {
        "name": "eggo",
        "image": eggo_image(site, ctx),
        "imagePullPolicy": runner.imagePullPolicy,
        "command": summarised(command),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": mounts,
        "resources": runner.resources.model_dump(mode="json"),
        "securityContext": _container_security(),
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        # eggo reaches the province machines over SSH from the edge node's own address
        # (what province firewalls allow), and edge nodes often run without a CNI.
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    placement(site).apply(pod)
    spec["template"] = {"metadata": {"labels": pod_labels}, "spec": pod}
    return spec


def _container_security() -> dict[str, Any]:
    """Root, but nothing more.

    eggo must run as root: it writes its state under ``/etc/eggo/<cluster-id>`` (a
    root-owned hostPath) and refuses to save a config outside ``/etc/eggo``, and it
    reads the SSH key from a 0400 root-owned Secret file. It needs no capability
    beyond owning those files, so every capability is dropped, privilege escalation
    is off and the root filesystem is read-only (writable: the state dir, /tmp and
    eggo's scratch dir ``/root/.eggo``).
    """
    return {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _volumes(
    conf: DeployConfig, config_map: str, ssh_secret: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts: list[dict[str, Any]] = [
        # the state first: the config and the key are mounted inside it
        {"name": "state", "mountPath": EGGO_HOME},  # eggo creates <cluster-id>/ in it
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "ssh-key", "mountPath": SSH_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - eggo's TempDir, an emptyDir
        {"name": "scratch", "mountPath": "/root/.eggo"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": config_map}},
        {
            "name": "ssh-key",
            "secret": {
                "secretName": ssh_secret,
                "defaultMode": 0o400,
                "items": [{"key": SSH_KEY, "path": SSH_KEY}],
            },
        },
        {
            "name": "state",
            "hostPath": {
                "path": STATE_HOST_DIR,
                "type": "DirectoryOrCreate",
            },
        },
        {"name": "tmp", "emptyDir": {}},
        {"name": "scratch", "emptyDir": {}},
    ]
    for i, path in enumerate(package_paths(conf)):
        mounts.append({"name": f"package-{i}", "mountPath": path, "readOnly": True})
        volumes.append({"name": f"package-{i}", "hostPath": {"path": path, "type": "File"}})
    return mounts, volumes


def package_paths(conf: DeployConfig) -> list[str]:
    """``install.package-source.srcpath`` archives eggo will read for this cluster's arches.

    eggo reads them on the machine it runs on, here the edge node: each is mounted
    from the node at the same path (a missing file keeps the pod pending with a clear
    event instead of failing half-way through a deploy).
    """
    src = conf.install.package_source
    if src is None:
        return []
    arches = conf.node_arches()
    return sorted({path for arch, path in src.srcpath.items() if arch in arches})
