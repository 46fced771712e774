"""The HTTP front: routing, authentication, fault injection, and response framing.

Tests talk to this server with the real ``kubernetes`` client over a real socket,
so serialization, query parameters, content types, chunked watch streams, retries
and connection handling are all exercised as in production; only the cluster is
fake.  The server runs in a background thread on an ephemeral 127.0.0.1 port.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from . import discovery, errors
from .errors import APIError, bad_request
from .faults import (
    CUT_WATCH,
    DROP,
    ERROR,
    FORBIDDEN,
    THROTTLE,
    UNAUTHORIZED,
    FaultInjector,
    FaultRule,
)
from .requestlog import RequestLog, RequestRecord
from .resources import DEFAULT_RESOURCES, ResourceRegistry, ResourceType
from .selectors import combine, field_predicate, label_predicate
from .store import DEFAULT_EVENT_WINDOW, ObjectStore, dumps, parse_resource_version
from .verbs import Verbs, WriteOptions, parse_body
from .watch import BOOKMARK, WatchRequest, WatchStream

Obj = dict[str, Any]

_METHOD_VERBS = {
    "GET": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass
class Route:
    """What a request addresses; ``rt`` is None for discovery and health endpoints."""

    verb: str
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    document: Obj | None = None  # discovery response, when the path is one
    text: str | None = None  # plain-text response (health checks)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: KubeAPIServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK would add ~40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.app._connections.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        self.app._connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    _record: dict[str, Any]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the request log has the same data."""

    # One entry point for every method: routing is by path and method together.
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # ----------------------------------------------------------------- framing

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self._log(code)

    def _log(self, code: int) -> None:
        rec = self._record
        if rec.get("logged"):
            return
        rec["logged"] = True
        route: Route | None = rec.get("route")
        rt = route.rt if route else None
        self.server.app.requests.append(
            RequestRecord(
                method=self.command,
                path=rec["path"],
                query=rec["query"],
                verb=route.verb if route else _METHOD_VERBS.get(self.command, "get"),
                status=code,
                resource=rt.plural if rt else None,
                group=rt.group if rt else None,
                namespace=route.namespace if route else None,
                name=route.name if route else None,
                subresource=route.subresource if route else None,
                content_type=self.headers.get("Content-Type"),
            )
        )

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, error: APIError) -> None:
        self._send(error.code, dumps(error.status()), headers=error.headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        """Close the connection without a response, as a crashed proxy would."""
        self._log(0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except (OSError, ValueError):
            return True

    # ---------------------------------------------------------------- dispatch

    def _handle(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        self._record = {"path": path, "query": query}
        body = self._read_body()
        try:
            route = app.route(self.command, path, query)
        except APIError as exc:
            self._record["route"] = Route(_METHOD_VERBS.get(self.command, "get"))
            self._send_error(exc)
            return
        self._record["route"] = route
        try:
            if app.token is not None and not self._authorized(app.token):
                raise errors.unauthorized()
            decision = app.faults.decide(self.command, path, route.verb)
            if decision.delay:
                time.sleep(decision.delay)
            rule = decision.rule
            if rule is not None and rule.action != CUT_WATCH:
                self._fault(rule, route, path)
                return
            if route.document is not None:
                self._send(200, dumps(route.document))
            elif route.text is not None:
                self._send(200, route.text.encode(), "text/plain; charset=utf-8")
            elif route.verb == "watch":
                self._watch(route, query, rule)
            else:
                self._resource(route, query, body)
        except APIError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._send_error(APIError(500, f"Internal error occurred: {exc!r}", "InternalError"))

    def _authorized(self, token: str) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {token}"

    def _fault(self, rule: FaultRule, route: Route, path: str) -> None:
        if rule.action == DROP:
            self._drop()
            return
        if rule.action == UNAUTHORIZED:
            raise errors.unauthorized()
        if rule.action == FORBIDDEN:
            raise errors.forbidden(
                rule.user,
                route.verb,
                route.rt,
                name=route.name,
                namespace=route.namespace or None,
                subresource=route.subresource,
                path=path,
            )
        if rule.action == THROTTLE:
            raise APIError(
                429,
                rule.message or "Too many requests, please try again later.",
                "TooManyRequests",
                {"retryAfterSeconds": rule.retry_after},
                {"Retry-After": str(rule.retry_after)},
            )
        if rule.action == ERROR:
            message = rule.message or "Internal error occurred: injected fault"
            raise APIError(
                rule.code,
                message,
                errors.REASONS.get(rule.code, "InternalError"),
                {"causes": [{"message": message}]},
            )
        raise APIError(500, f"unknown fault action {rule.action!r}", "InternalError")

    # --------------------------------------------------------------- resources

    def _write_options(self, query: dict[str, str], route: Route) -> WriteOptions:
        dry_run = query.get("dryRun", "")
        if dry_run not in ("", "All"):
            raise bad_request(f'unsupported dry run value "{dry_run}"; only "All" is supported')
        manager = query.get("fieldManager")
        agent = self.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
        return WriteOptions(
            dry_run=dry_run == "All",
            field_manager=manager or agent,
            explicit_manager=bool(manager),
            force=query.get("force", "").lower() in ("true", "1"),
            subresource=route.subresource or "",
        )

    def _resource(self, route: Route, query: dict[str, str], body: bytes) -> None:
        verbs = self.server.app.verbs
        rt = route.rt
        assert rt is not None
        ns = route.namespace or ""
        name = route.name or ""
        verb = route.verb
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0]
        content_type = content_type.strip().lower()
        if verb == "list":
            predicate = combine(
                label_predicate(query.get("labelSelector")),
                field_predicate(query.get("fieldSelector")),
            )
            limit = _int_param(query, "limit")
            data = verbs.list(rt, route.namespace, predicate, limit, query.get("continue"))
            self._send(200, data)
            return
        if verb == "get":
            self._send(200, verbs.get(rt, ns, name).json())
            return
        if verb in ("delete", "deletecollection"):
            options = parse_body(body) if body else {}
            if not isinstance(options, dict):
                raise bad_request("DeleteOptions must be an object")
            dry_run = query.get("dryRun") == "All" or "All" in (options.get("dryRun") or [])
            policy = query.get("propagationPolicy") or options.get("propagationPolicy")
            if verb == "delete":
                written = verbs.delete(rt, ns, name, options, policy, dry_run)
            else:
                predicate = combine(
                    label_predicate(query.get("labelSelector")),
                    field_predicate(query.get("fieldSelector")),
                )
                written = verbs.delete_collection(rt, route.namespace, predicate, policy, dry_run)
            self._send(written.code, written.body.json())
            return
        opts = self._write_options(query, route)
        if verb == "create":
            written = verbs.create(rt, ns, parse_body(body, content_type), opts)
        elif verb == "update":
            written = verbs.update(rt, ns, name, parse_body(body, content_type), opts)
        elif verb == "patch":
            written = verbs.patch(rt, ns, name, body, content_type, opts)
        else:
            raise errors.method_not_allowed(self.command)
        self._send(written.code, written.body.json())

    def _watch(self, route: Route, query: dict[str, str], cut: FaultRule | None) -> None:
        app = self.server.app
        assert route.rt is not None
        predicate = combine(
            label_predicate(query.get("labelSelector")),
            field_predicate(query.get("fieldSelector")),
        )
        timeout = _int_param(query, "timeoutSeconds")
        request = WatchRequest(
            rt=route.rt,
            namespace=route.namespace,
            predicate=predicate,
            resource_version=parse_resource_version(query.get("resourceVersion")),
            bookmarks=query.get("allowWatchBookmarks", "").lower() in ("true", "1"),
            bookmark_interval=app.bookmark_interval,
            timeout=float(timeout) if timeout else app.watch_timeout,
        )
        stream = WatchStream(app.store, request, self._client_gone)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        sent = 0
        write = self.wfile.write
        if cut is not None and cut.after_events <= 0:
            self._end_cut(cut)
            return
        for kind, line in stream:
            write(b"%x\r\n%s\r\n" % (len(line), line))
            if kind != BOOKMARK:
                sent += 1
                if cut is not None and sent >= cut.after_events:
                    self._end_cut(cut)
                    return
        write(b"0\r\n\r\n")

    def _end_cut(self, rule: FaultRule) -> None:
        if not rule.abrupt:
            self.wfile.write(b"0\r\n\r\n")
            return
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {value!r}") from exc
    if number < 0:
        raise bad_request(f"invalid {name}: {value!r}")
    return number


class KubeAPIServer:
    """A Kubernetes API server for tests, serving HTTP on 127.0.0.1.

    Use as a context manager::

        with KubeAPIServer() as kube:
            kube.store.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
            api = kubernetes.client.CoreV1Api(kube.api_client())

    ``store`` seeds and mutates objects directly, ``faults`` injects failures,
    ``requests`` records every request, and ``kubeconfig()`` writes a file the
    client's ``load_kube_config`` accepts.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        resources: Iterable[ResourceType] = DEFAULT_RESOURCES,
        bookmark_interval: float = 1.0,
        watch_timeout: float | None = 1800.0,
        event_window: int = DEFAULT_EVENT_WINDOW,
        strict_namespaces: bool = False,
        version: Obj | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.registry = ResourceRegistry(resources)
        self.store = ObjectStore(self.registry, event_window)
        self.verbs = Verbs(self.store, strict_namespaces=strict_namespaces)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.version = dict(version or discovery.DEFAULT_VERSION)
        self._host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --------------------------------------------------------------- lifecycle

    def start(self) -> KubeAPIServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kubeapi-{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.store.close()
        httpd.shutdown()
        for sock in list(self._connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # ----------------------------------------------------------------- routing

    def route(self, method: str, path: str, query: dict[str, str]) -> Route:
        """Map a request to a verb and resource, as the apiserver's URL scheme does."""
        segs = [s for s in path.split("/") if s]
        if method == "GET":
            static = self._static(segs)
            if static is not None:
                return static
        if len(segs) >= 2 and segs[0] == "api":
            group, version, rest = "", segs[1], segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise errors.not_found_path()
        if not rest:
            raise errors.method_not_allowed(method)
        registry = self.registry
        namespace: str | None = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and (inner := registry.by_plural(group, version, rest[2])) is not None
            and inner.namespaced
        ):
            namespace, rest = rest[1], rest[2:]
        rt = registry.by_plural(group, version, rest[0])
        if rt is None or len(rest) > 3 or (namespace is not None and not rt.namespaced):
            raise errors.not_found_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not rt.status_subresource):
            raise errors.not_found_path()
        if name is None:
            verbs = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
            verb = verbs.get(method)
            if verb == "list" and query.get("watch", "").lower() in ("true", "1"):
                verb = "watch"
        else:
            verb = _METHOD_VERBS.get(method) if method != "POST" else None
        if verb is None:
            raise errors.method_not_allowed(method)
        return Route(verb, rt, namespace, name, sub)

    def _static(self, segs: list[str]) -> Route | None:
        reg = self.registry
        doc: Obj | None = None
        if segs == ["version"]:
            doc = self.version
        elif segs in (["healthz"], ["livez"], ["readyz"]):
            return Route("get", text="ok")
        elif segs == ["api"]:
            doc = discovery.api_versions()
        elif len(segs) == 2 and segs[0] == "api":
            if not reg.has_group_version("", segs[1]):
                raise errors.not_found_path()
            doc = discovery.resource_list(reg, "", segs[1])
        elif segs == ["apis"]:
            doc = discovery.group_list(reg)
        elif len(segs) == 2 and segs[0] == "apis":
            doc = discovery.group(reg, segs[1])
            if doc is None:
                raise errors.not_found_path()
        elif len(segs) == 3 and segs[0] == "apis":
            if not reg.has_group_version(segs[1], segs[2]):
                raise errors.not_found_path()
            doc = discovery.resource_list(reg, segs[1], segs[2])
        if doc is None:
            return None
        return Route("get", document=doc)

    # ------------------------------------------------------------ client setup

    def configuration(self, token: str | None = None) -> Any:
        """A ``kubernetes.client.Configuration`` pointing at this server."""
        from kubernetes import client

        config = client.Configuration(host=self.url)
        bearer = token if token is not None else self.token
        if bearer:
            config.api_key = {"authorization": bearer}
            config.api_key_prefix = {"authorization": "Bearer"}
        return config

    def api_client(self, token: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for this server (close it, or use ``with``)."""
        from kubernetes import client

        return client.ApiClient(self.configuration(token))

    def kubeconfig(
        self,
        path: str | Path,
        context_name: str = "test",
        token: str | None = None,
        namespace: str = "default",
    ) -> Path:
        """Write (or add a context to) a kubeconfig file for this server and return its path.

        An existing file keeps its other contexts, so several servers (say a
        centre and its provinces) can share one kubeconfig with one context each.
        """
        target = Path(path)
        config: Obj = {}
        if target.exists():
            config = yaml.safe_load(target.read_text()) or {}
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        config.setdefault("preferences", {})
        bearer = token if token is not None else self.token
        user: Obj = {"token": bearer} if bearer else {}
        entries = {
            "clusters": {"name": context_name, "cluster": {"server": self.url}},
            "users": {"name": context_name, "user": user},
            "contexts": {
                "name": context_name,
                "context": {"cluster": context_name, "user": context_name, "namespace": namespace},
            },
        }
        for section, entry in entries.items():
            items = [e for e in config.get(section) or [] if e.get("name") != context_name]
            items.append(entry)
            config[section] = items
        config.setdefault("current-context", context_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target
