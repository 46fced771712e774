"""A thin, raw-JSON face on the official ``kubernetes`` client, with retries that mean it.

Every call goes through the generated API classes (``CoreV1Api``, ``CustomObjectsApi``)
with ``_preload_content=False``: the real client speaks HTTP, we parse the bytes.
Transient failures (429 with Retry-After, 5xx, dropped connections, timeouts) are
retried with capped exponential backoff; permanent ones (401, 403, 404, 409, 422)
surface at once as :class:`KubeError` with a message an operator can act on.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from gitops_edge.live.resources import Resource

FIELD_MANAGER = "gitops-edge"
TRANSIENT = {429, 500, 502, 503, 504}


class KubeError(Exception):
    """A Kubernetes API failure, explained: ``status`` is the HTTP code (0: unreachable)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Gone(KubeError):
    """410: the resourceVersion is too old; the caller relists."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return float(min(self.cap, self.base * (2**attempt)) * (0.5 + random.random() / 2))  # noqa: S311 - jitter


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _status(exc: ApiException) -> dict[str, Any]:
    """The Status object the API server sent with an error (empty when it sent none)."""
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


VERBS = {
    "list": "list",
    "watch": "watch",
    "get": "get",
    "apply": "patch",
    "delete": "delete",
    "create": "create",
}


def explain(
    exc: ApiException | Exception, *, verb: str, res: Resource, namespace: str | None, host: str
) -> KubeError:
    """Turn a client exception into an operator-facing :class:`KubeError`."""
    where = f" in namespace {namespace}" if namespace else ""
    if not isinstance(exc, ApiException):
        return KubeError(f"cannot reach the Kubernetes API at {host}: {exc}", status=0)
    status = int(exc.status or 0)
    status_obj = _status(exc)
    detail = str(status_obj.get("message") or exc.reason or "")
    if status == 0:
        return KubeError(f"cannot reach the Kubernetes API at {host}: {exc.reason}", status=0)
    if status == 401:
        return KubeError(
            f"the Kubernetes API at {host} rejected the credentials (401 Unauthorized): "
            "check the kubeconfig user/token, or the ServiceAccount token in-cluster",
            status=401,
        )
    if status == 403:
        return KubeError(
            f"RBAC forbids {VERBS.get(verb, verb)} on {res.describe()}{where} (403): grant "
            f"verb {VERBS.get(verb, verb)!r} on resource {res.plural!r} in API group "
            f"{res.group!r} to gitops-edge's ServiceAccount ({detail})",
            status=403,
        )
    if status == 410:
        return Gone(
            f"{res.describe()}: resourceVersion expired (410 Gone); relisting",
            status=410,
            reason="Expired",
        )
    reason = str(status_obj.get("reason") or "")
    return KubeError(
        f"{verb} {res.describe()}{where} failed ({status}): {detail}", status=status, reason=reason
    )


def _body(resp: Any) -> bytes:
    raw = getattr(resp, "response", resp)
    data = raw.data
    return data if isinstance(data, bytes) else bytes(data or b"")


class KubeClient:
    """Raw-JSON list / watch / get / apply / delete over one ``ApiClient``."""

    def __init__(
        self, api_client: k8s.ApiClient, *, retry: RetryPolicy | None = None, timeout: float = 30.0
    ) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.host = str(api_client.configuration.host)
        self.calls: dict[str, int] = {}

    # -- plumbing ------------------------------------------------------------------

    def _call(self, verb: str, res: Resource, namespace: str | None, fn: Callable[[], Any]) -> Any:
        key = f"{verb} {res.describe()}"
        attempt = 0
        while True:
            self.calls[key] = self.calls.get(key, 0) + 1
            try:
                return fn()
            except ApiException as exc:
                status = int(exc.status or 0)
                if (status in TRANSIENT or status == 0) and attempt + 1 < self.retry.attempts:
                    time.sleep(
                        self.retry.delay(attempt, _retry_after(exc) if status == 429 else None)
                    )
                    attempt += 1
                    continue
                raise explain(
                    exc, verb=verb, res=res, namespace=namespace, host=self.host
                ) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt + 1 < self.retry.attempts:
                    time.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise explain(
                    exc, verb=verb, res=res, namespace=namespace, host=self.host
                ) from None

    def _list_fn(self, res: Resource, namespace: str | None) -> Callable[..., Any]:
        if res.core:
            if not res.namespaced:
                return getattr(self.core, f"list_{res.snake}")  # type: ignore[no-any-return]
            if namespace:
                fn = getattr(self.core, f"list_namespaced_{res.snake}")
                return lambda **kw: fn(namespace, **kw)
            return getattr(self.core, f"list_{res.snake}_for_all_namespaces")  # type: ignore[no-any-return]
        if res.namespaced and namespace:
            return lambda **kw: self.custom.list_namespaced_custom_object(
                res.group, res.version, namespace, res.plural, **kw
            )
        return lambda **kw: self.custom.list_cluster_custom_object(
            res.group, res.version, res.plural, **kw
        )

    # -- reads ---------------------------------------------------------------------

    def list(
        self,
        res: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> tuple[list[dict[str, Any]], str]:
        """All items (paginated), raw JSON, and the list's resourceVersion."""
        fn = self._list_fn(res, namespace)
        items: list[dict[str, Any]] = []
        token: str | None = None
        rv = ""
        while True:
            kwargs: dict[str, Any] = {
                "limit": limit,
                "_preload_content": False,
                "_request_timeout": self.timeout,
            }
            if label_selector:
                kwargs["label_selector"] = label_selector
            if field_selector:
                kwargs["field_selector"] = field_selector
            if token:
                kwargs["_continue"] = token
            try:
                page = json.loads(_body(self._call("list", res, namespace, partial(fn, **kwargs))))
            except Gone:
                if token is None:
                    raise
                items, token, rv = [], None, ""  # the continue token expired: start over
                continue
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion", rv))
            token = meta.get("continue") or None
            if not token:
                return items, rv

    def watch(
        self,
        res: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[dict[str, Any]]:
        """Raw watch events after ``resource_version``; raises :class:`Gone` on 410."""
        fn = self._list_fn(res, namespace)
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            "_request_timeout": (self.timeout, timeout_seconds + 30),
        }
        if label_selector:
            kwargs["label_selector"] = label_selector
        resp = self._call("watch", res, namespace, lambda: fn(**kwargs))
        raw = getattr(resp, "response", resp)
        try:
            for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]
                if not line:
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    if status.get("code") == 410:
                        raise Gone(
                            f"{res.describe()}: watch expired (410 Gone)",
                            status=410,
                            reason="Expired",
                        )
                    raise KubeError(
                        f"watch {res.describe()} failed: {status.get('message', status)}",
                        status=int(status.get("code") or 0),
                    )
                yield event
        finally:
            raw.release_conn()

    def _object_call(
        self, verb: str, res: Resource, name: str, namespace: str | None, *body: Any, **opts: Any
    ) -> Callable[[], Any]:
        """The generated client method for ``verb`` (read/patch/delete) on one object."""
        ns = namespace or ""
        if res.core:
            scope = "namespaced_" if res.namespaced else ""
            fn = getattr(self.core, f"{verb}_{scope}{res.snake}")
            args: tuple[Any, ...] = (name, ns) if res.namespaced else (name,)
        else:
            custom_verb = "get" if verb == "read" else verb
            scope = "namespaced" if res.namespaced else "cluster"
            fn = getattr(self.custom, f"{custom_verb}_{scope}_custom_object")
            where = (ns, res.plural) if res.namespaced else (res.plural,)
            args = (res.group, res.version, *where, name)
        return partial(
            fn, *args, *body, _preload_content=False, _request_timeout=self.timeout, **opts
        )

    def get(
        self, res: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            data = _body(
                self._call("get", res, namespace, self._object_call("read", res, name, namespace))
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(data)  # type: ignore[no-any-return]

    # -- writes --------------------------------------------------------------------

    def apply(
        self, obj: dict[str, Any], res: Resource, *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` with field manager ``gitops-edge``; 409 conflicts raise."""
        meta = obj["metadata"]
        opts: dict[str, Any] = {
            "field_manager": FIELD_MANAGER,
            "force": force,
            "_content_type": "application/apply-patch+yaml",
        }
        if dry_run:
            opts["dry_run"] = "All"
        call = self._object_call("patch", res, meta["name"], meta.get("namespace"), obj, **opts)
        return json.loads(_body(self._call("apply", res, meta.get("namespace"), call)))  # type: ignore[no-any-return]

    def delete(self, res: Resource, name: str, *, namespace: str | None = None) -> bool:
        """Delete with background propagation; False when it was already gone."""
        call = self._object_call("delete", res, name, namespace, propagation_policy="Background")
        try:
            self._call("delete", res, namespace, call)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True
