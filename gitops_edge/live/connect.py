"""Connect to the central Kubernetes API: kubeconfig (with ``--context``) or in-cluster.

The daemon runs in-cluster with a ServiceAccount; operators run ``plan``/``status``
from a laptop with a kubeconfig. Both end as a :class:`KubeClient`; a missing or
broken configuration is a :class:`KubeError` saying which file and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from gitops_edge.live.client import KubeClient, KubeError, RetryPolicy


def connect(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 30.0,
) -> KubeClient:
    """A client for the central cluster.

    ``in_cluster=None`` means: in-cluster when the ServiceAccount environment is present
    and no kubeconfig was given, else the kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).
    """
    configuration = k8s.Configuration()
    use_in_cluster = in_cluster
    if use_in_cluster is None:
        use_in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if use_in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None
            if path and not Path(path.split(os.pathsep)[0]).is_file():
                raise KubeError(f"kubeconfig {path} does not exist: pass --kubeconfig PATH")
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration
            )
    except ConfigException as exc:
        where = (
            "in-cluster ServiceAccount"
            if use_in_cluster
            else f"kubeconfig {kubeconfig or '~/.kube/config'}"
        )
        raise KubeError(f"cannot load the {where}: {exc}") from None
    configuration.retries = 0  # retries are ours (backoff, Retry-After), not urllib3's
    # a LiveCache holds one long-lived watch per kind (~18) besides its short requests;
    # a smaller pool makes urllib3 open and discard a connection per request, with a warning
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 32)
    return KubeClient(k8s.ApiClient(configuration), retry=retry, timeout=timeout)
