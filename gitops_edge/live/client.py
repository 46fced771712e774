"""A thin, raw-JSON face on the official ``kubernetes`` client, with retries that mean it.

Every call goes through the official client's ``ApiClient`` (kubeconfig or in-cluster
configuration, auth plugins, TLS, its urllib3 pool) addressed by the resource's REST
path, unread: the real client speaks HTTP, we parse the bytes ourselves (the generated
model classes cost ~8x a ``json.loads`` on 10 000 Nodes). Transient failures (429 with Retry-After, 5xx, dropped connections, timeouts) are
retried with capped exponential backoff; permanent ones (401, 403, 404, 409, 422)
surface at once as :class:`KubeError` with a message an operator can act on
(:mod:`gitops_edge.live.errors`).

An unreachable API server is one problem, not one per caller: a daemon runs ~20
informers on one client, and if each retried on its own clock an outage would cost
hundreds of requests a minute. So 5xx and network failures open one
:class:`Circuit` for the whole client: while it is open no request is sent; when the
backoff has passed, one request probes and the others wait for its answer; any answer
from the server (even a 404) closes it. Throttling (429) stays per request: it is
about that request, and its Retry-After says how long.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from gitops_edge.live.errors import (
    TRANSIENT,
    VERBS,
    Gone,
    KubeError,
    Refused,
    StreamBroken,
    explain,
    network_cause,
    retry_after,
)
from gitops_edge.live.resources import Resource
from gitops_edge.live.retry import RetryPolicy

__all__ = [
    "FIELD_MANAGER",
    "TRANSIENT",
    "VERBS",
    "Gone",
    "KubeClient",
    "KubeError",
    "Refused",
    "RetryPolicy",
    "StreamBroken",
    "explain",
]

FIELD_MANAGER = "gitops-edge"
NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)
"""What the client raises when the wire fails (refused, reset, timed out, cut mid-body)."""


class Circuit:
    """One backoff for every request of a client while the API server cannot be reached.

    Closed (no recent failure): requests go straight through. After a failure it is
    open for ``policy.delay(failures)``; then the first caller probes and every other
    caller waits for the probe's outcome. A success closes it; a failure opens it again
    for a longer delay (capped). Thread-safe; ``clock`` is injectable for tests.
    """

    def __init__(self, policy: RetryPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._cond = threading.Condition()
        self.failures = 0
        self._open_until = 0.0
        self._probing = False
        self.opened = 0
        """Times the circuit opened (for metrics and tests)."""

    @property
    def open(self) -> bool:
        return self.failures > 0

    def enter(self) -> bool:
        """Wait until a request may be sent; True when this caller is the probe."""
        with self._cond:
            while self.failures:
                now = self._clock()
                if now < self._open_until:
                    self._cond.wait(min(self._open_until - now, 1.0))
                    continue
                if not self._probing:
                    self._probing = True
                    return True
                self._cond.wait(1.0)
            return False

    def success(self) -> None:
        with self._cond:
            self.failures = 0
            self._probing = False
            self._cond.notify_all()

    def failure(self, *, retry_after: float | None = None) -> None:
        with self._cond:
            if not self.failures:
                self.opened += 1
            self.failures += 1
            delay = self.policy.delay(min(self.failures - 1, 16), retry_after)
            self._open_until = max(self._open_until, self._clock() + delay)
            self._probing = False
            self._cond.notify_all()

    def release(self, probe: bool) -> None:
        """The probe ended without an answer either way (a bug, an interrupt): let another try."""
        if probe:
            with self._cond:
                self._probing = False
                self._cond.notify_all()


def _body(resp: Any) -> bytes:
    """The whole response body; the connection goes back to the pool."""
    raw = getattr(resp, "response", resp)
    try:
        data = raw.data
    finally:
        release = getattr(raw, "release_conn", None)
        if release is not None:
            release()
    return data if isinstance(data, bytes) else bytes(data or b"")


class KubeClient:
    """Raw-JSON list / watch / get / apply / delete over one ``ApiClient``.

    Requests go through the official client's ``ApiClient`` (configuration, auth
    plugins, TLS, proxies, its urllib3 pool) addressed by :meth:`Resource.path`,
    rather than through the generated per-kind methods: one code path for core and
    custom resources, and no import of ``CoreV1Api``, whose model classes cost over
    a second of start-up in every CLI call. ``calls`` counts requests (retries
    included) per ``"<verb> <resource>"``, so a daemon can export them and tests can
    prove a steady state makes no list calls.
    """

    def __init__(
        self, api_client: k8s.ApiClient, *, retry: RetryPolicy | None = None, timeout: float = 30.0
    ) -> None:
        self.api_client = api_client
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.host = str(api_client.configuration.host)
        self.calls: dict[str, int] = {}
        self.circuit = Circuit(self.retry)

    # -- plumbing ------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        *,
        body: Any = None,
        content_type: str | None = None,
        timeout: Any = None,
    ) -> Any:
        """One HTTP request; the urllib3 response, unread. Non-2xx raise ``ApiException``."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method,
            path,
            query_params=[(k, v) for k, v in query.items() if v is not None],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api_client.call_api(*request, _request_timeout=timeout or self.timeout)
        if not 200 <= resp.status <= 299:
            resp.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=resp, body=None, data=None)
        return resp.response

    def _call(
        self,
        verb: str,
        res: Resource,
        namespace: str | None,
        fn: Callable[[], Any],
        guard: Callable[[], bool] | None = None,
    ) -> Any:
        """``fn()`` with retries on throttling, 5xx and network failures; else explained.

        ``guard`` is asked right before every attempt is sent (after any wait for the
        circuit or a retry): a write that waited out an outage must not go out if its
        writer lost the right to write meanwhile (:class:`Refused`).
        """
        key = f"{verb} {res.describe()}"
        attempt = 0
        while True:
            probe = self.circuit.enter()
            if guard is not None and not guard():
                self.circuit.release(probe)
                raise Refused(
                    f"{verb} {res.describe()} not sent: the writer may not write any more"
                )
            self.calls[key] = self.calls.get(key, 0) + 1
            last = attempt + 1 >= self.retry.attempts
            try:
                answer = fn()
            except ApiException as exc:
                status = int(exc.status or 0)
                if status == 429:  # throttled: this request waits, the server is up
                    self.circuit.success()
                    if not last:
                        time.sleep(self.retry.delay(attempt, retry_after(exc)))
                        attempt += 1
                        continue
                elif status in TRANSIENT or status == 0:
                    self.circuit.failure()  # the next attempt waits in enter()
                    if not last:
                        attempt += 1
                        continue
                else:
                    self.circuit.success()  # a definite answer: the server is reachable
                raise explain(
                    exc, verb=verb, res=res, namespace=namespace, host=self.host
                ) from None
            except NETWORK_ERRORS as exc:
                self.circuit.failure()
                if not last:
                    attempt += 1
                    continue
                raise explain(
                    exc, verb=verb, res=res, namespace=namespace, host=self.host
                ) from None
            except BaseException:
                self.circuit.release(probe)
                raise
            self.circuit.success()
            return answer

    def _json(
        self, verb: str, res: Resource, namespace: str | None, method: str, path: str, **kw: Any
    ) -> Any:
        """A retried request whose whole JSON body is the answer."""
        query = kw.pop("query", {})
        guard = kw.pop("guard", None)
        send = partial(self._send, method, path, query, **kw)
        return json.loads(_body(self._call(verb, res, namespace, send, guard)))

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
        """All items (paginated with limit/continue), raw JSON, and the list's resourceVersion.

        Items come back with ``apiVersion``/``kind`` filled in (the wire leaves them out
        of list items), so an item from a list and one from a watch look the same. An
        expired continue token (410 mid-pagination) restarts the list from the top.
        """
        path = res.path(namespace)
        items: list[dict[str, Any]] = []
        token: str | None = None
        rv = ""
        while True:
            query = {
                "limit": limit,
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "continue": token,
            }
            try:
                page = self._json("list", res, namespace, "GET", path, query=query)
            except Gone:
                if token is None:
                    raise
                items, token, rv = [], None, ""  # the continue token expired: start over
                continue
            for obj in page.get("items") or ():
                obj.setdefault("apiVersion", res.api_version)
                obj.setdefault("kind", res.kind)
                items.append(obj)
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
        opened: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Raw watch events after ``resource_version`` (bookmarks included).

        Raises :class:`Gone` on 410 (relist), :class:`StreamBroken` when the stream is
        cut mid-way (re-watch from the last resourceVersion seen). ``opened`` receives
        the HTTP response so another thread can shut it down to stop the watch.
        """
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
            "labelSelector": label_selector,
        }
        timeout = (self.timeout, timeout_seconds + 30)
        send = partial(self._send, "GET", res.path(namespace), query, timeout=timeout)
        raw = self._call("watch", res, namespace, send)
        if opened is not None:
            opened(raw)
        try:
            for line in _lines(raw, res):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    raise _watch_error(res, event.get("object") or {})
                yield event
        finally:
            raw.release_conn()

    def get(
        self, res: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            obj = self._json("get", res, namespace, "GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return obj  # type: ignore[no-any-return]

    # -- writes --------------------------------------------------------------------

    def apply(
        self,
        obj: dict[str, Any],
        res: Resource,
        *,
        force: bool = False,
        dry_run: bool = False,
        guard: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` with field manager ``gitops-edge``; 409 conflicts raise.

        ``guard``: asked before each attempt goes out (see :meth:`_call`).
        """
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        query = {
            "fieldManager": FIELD_MANAGER,
            "force": "true" if force else "false",
            "dryRun": "All" if dry_run else None,
        }
        return self._json(  # type: ignore[no-any-return]
            "apply",
            res,
            namespace,
            "PATCH",
            res.path(namespace, meta["name"]),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
            guard=guard,
        )

    def delete(
        self,
        res: Resource,
        name: str,
        *,
        namespace: str | None = None,
        guard: Callable[[], bool] | None = None,
    ) -> bool:
        """Delete with background propagation; False when it was already gone."""
        try:
            self._json(
                "delete",
                res,
                namespace,
                "DELETE",
                res.path(namespace, name),
                body={"propagationPolicy": "Background"},
                guard=guard,
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _lines(raw: Any, res: Resource) -> Iterator[str]:
    """Non-empty lines of a watch stream; a cut stream becomes :class:`StreamBroken`."""
    try:
        for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]
            if line:
                yield line
    except NETWORK_ERRORS as exc:
        raise StreamBroken(
            f"watch {res.describe()} stream broke: {network_cause(exc)}", status=0
        ) from None


def _watch_error(res: Resource, status: dict[str, Any]) -> KubeError:
    """The ERROR event of a watch as an exception (410: :class:`Gone`)."""
    code = int(status.get("code") or 0)
    if code == 410:
        return Gone(f"{res.describe()}: watch expired (410 Gone)", status=410, reason="Expired")
    return KubeError(
        f"watch {res.describe()} failed ({code}): {status.get('message', status)}",
        status=code,
        reason=str(status.get("reason") or ""),
    )
