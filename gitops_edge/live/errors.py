"""Kubernetes API failures, explained so an operator can act without reading a traceback.

The client libraries report failures as nested exceptions (``MaxRetryError`` wrapping
``NewConnectionError`` wrapping ``ConnectionRefusedError``) or as an ``ApiException``
carrying a Status body. An operator running ``gitops-edge status`` at 3 a.m. needs one
line instead: which API, which verb on which resource, and what to change (RBAC rule,
credentials, address). Everything here is pure so it can be tested without a server.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gitops_edge.live.resources import Resource

if TYPE_CHECKING:  # the client is imported by whoever talks to a cluster, not by the errors
    from kubernetes.client.exceptions import ApiException

TRANSIENT = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: throttling and server-side trouble, never 4xx verdicts."""

VERBS = {
    "list": "list",
    "watch": "watch",
    "get": "get",
    "apply": "patch",
    "delete": "delete",
    "create": "create",
}
"""Our call names to the RBAC verb they need (server-side apply is a ``patch``)."""


class KubeError(Exception):
    """A Kubernetes API failure, explained: ``status`` is the HTTP code (0: unreachable)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Gone(KubeError):
    """410: the resourceVersion is too old; the caller relists."""


class StreamBroken(KubeError):
    """A watch stream ended mid-way (network cut, proxy restart); re-watch, no relist."""


class Refused(KubeError):
    """A write not sent because its guard said no (the writer lost its Lease meanwhile)."""


def retry_after(exc: ApiException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), if it said."""
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def status_body(exc: ApiException) -> dict[str, Any]:
    """The Status object the API server sent with an error (empty when it sent none)."""
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


_CAUSES = (
    ("refused", "connection refused (is the API server running and the address right?)"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "host name does not resolve"),
    ("nodename nor servname", "host name does not resolve"),
    ("name resolution", "host name does not resolve"),
    ("certificate", "TLS certificate rejected"),
    ("ssl", "TLS handshake failed"),
    ("reset", "connection reset"),
    ("ended prematurely", "connection closed mid-response"),
    ("incompleteread", "connection closed mid-response"),
    ("remotedisconnected", "connection closed without a response"),
    ("aborted", "connection closed without a response"),
)


def network_cause(exc: BaseException) -> str:
    """What went wrong on the wire, in words (urllib3 nests the cause a few levels deep)."""
    cause: BaseException = exc
    for _ in range(4):  # MaxRetryError -> NewConnectionError/ProtocolError -> OSError
        inner: Any = getattr(cause, "reason", None)
        if not isinstance(inner, BaseException) and len(cause.args) > 1:
            inner = cause.args[1]
        if not isinstance(inner, BaseException):
            break
        cause = inner
    text = str(cause)
    haystack = f"{type(cause).__name__} {text} {exc}".lower()
    for needle, words in _CAUSES:
        if needle in haystack:
            return f"{words} ({text})" if needle in ("certificate", "ssl") else words
    return text or type(cause).__name__


def explain(
    exc: ApiException | Exception, *, verb: str, res: Resource, namespace: str | None, host: str
) -> KubeError:
    """Turn a client exception into an operator-facing :class:`KubeError`."""
    from kubernetes.client.exceptions import ApiException  # loaded already: a client call failed

    where = f" in namespace {namespace}" if namespace else ""
    what = f"{verb} {res.describe()}{where}"
    if not isinstance(exc, ApiException) or not exc.status:
        cause = network_cause(exc) if not isinstance(exc, ApiException) else str(exc.reason)
        return KubeError(f"cannot reach the Kubernetes API at {host} ({what}): {cause}", status=0)
    status = int(exc.status)
    body = status_body(exc)
    detail = str(body.get("message") or exc.reason or "")
    rbac_verb = VERBS.get(verb, verb)
    if status == 401:
        return KubeError(
            f"the Kubernetes API at {host} rejected the credentials (401 Unauthorized) on "
            f"{what}: check the kubeconfig user/token, or the ServiceAccount token in-cluster",
            status=401,
            reason="Unauthorized",
        )
    if status == 403:
        group = res.group or '"" (core)'
        return KubeError(
            f"RBAC forbids {rbac_verb} on {res.describe()}{where} (403 Forbidden): grant verb "
            f"{rbac_verb!r} on resource {res.plural!r} in API group {group} to the identity "
            f"gitops-edge runs as. The API server said: {detail}",
            status=403,
            reason="Forbidden",
        )
    if status == 410:
        return Gone(
            f"{res.describe()}: resourceVersion expired (410 Gone); relisting",
            status=410,
            reason="Expired",
        )
    reason = str(body.get("reason") or "")
    if status == 404 and verb in ("list", "watch"):
        detail = (
            f"the API server does not serve {res.describe()} "
            f"({res.api_version} {res.kind}): its CRD is not installed or the API is disabled"
        )
    elif status in TRANSIENT:
        detail = f"{detail} (gave up after retries)"
    return KubeError(f"{what} failed ({status}): {detail}", status=status, reason=reason)
