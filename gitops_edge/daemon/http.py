"""The daemon's small HTTP face: probes, metrics, and whatever routes the daemon adds.

The kubelet needs ``/healthz`` and ``/readyz``, Prometheus needs ``/metrics``, and Git
hosting needs a webhook endpoint; none of that justifies a web framework in a
controller image that runs on a 2-core machine. The stdlib ``ThreadingHTTPServer`` in
a daemon thread is enough, provided the parts a framework would give are here.

Routes live on *listeners*, each a socket with its own route table. The ``metrics``
listener always exists and serves the probes and ``/metrics``; given a second address
the daemon opens a ``webhook`` listener too, and routes placed there are served there
only. That is what lets an Ingress expose ``/webhook`` without exposing ``/metrics``
(which names every site) or anything else added to the metrics listener. Without a
second address, routes meant for the webhook listener share the metrics one, as
before. Every listener gets the same protections:

- exact routing with 404 for an unknown path and 405 (with ``Allow``) for a wrong method;
- request bodies capped (413 before reading, so a huge upload costs nothing) and read
  against a deadline (408), because the webhook port may face the internet;
- a failing handler becomes a bare 500: the traceback goes to the log, never to the
  client (it could carry paths, repository URLs or spec values);
- no HTML error pages and no ``Server: BaseHTTP/... Python/...`` banner.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import prometheus_client
import structlog
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

__all__ = [
    "MAX_BODY",
    "METRICS",
    "READ_TIMEOUT",
    "WEBHOOK",
    "DaemonHTTP",
    "Headers",
    "Listener",
    "Request",
    "Response",
]

log = structlog.get_logger(__name__)

MAX_BODY = 5 * 1024 * 1024
"""Largest request body accepted (a Git push webhook is a few KiB, rarely 1 MiB)."""
READ_TIMEOUT = 10.0
"""Seconds a client may take to send its request; a stalled one frees its thread after this."""
_CHUNK = 64 * 1024
_TEXT = "text/plain; charset=utf-8"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
BUILTIN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METRICS = "metrics"
"""The listener for probes, ``/metrics`` and internal routes (keep it off the Ingress)."""
WEBHOOK = "webhook"
"""The listener for routes Git hosting calls; the metrics one unless given its own address."""


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookup; repeated headers are joined by ``, ``."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        merged: dict[str, tuple[str, str]] = {}
        for key, value in items:
            low = key.lower()
            if low in merged:
                merged[low] = (merged[low][0], f"{merged[low][1]}, {value}")
            else:
                merged[low] = (key, value)
        self._items = merged

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({dict(self._items.values())!r})"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = _TEXT
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers (``WWW-Authenticate``, ``Content-Security-Policy``)."""


Handler = Callable[[Request], Response]


class _RequestError(Exception):
    """A request the server refuses before any handler sees it (400, 408, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: Listener

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        self.app._track(sock, add=True)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        self.app._track(request, add=False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is routine; anything else is logged, not printed raw."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("http client went away", peer=client_address[0], error=str(exc))
        else:
            log.exception("http connection failed", peer=client_address[0])


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gitops-edge"
    sys_version = ""
    timeout = READ_TIMEOUT
    disable_nagle_algorithm = True
    """Headers and body are two writes: without TCP_NODELAY a keep-alive client's delayed
    ACK holds every response back ~40 ms."""
    error_content_type = _TEXT
    error_message_format = "%(code)d %(message)s\n"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Per server rather than the class-wide ``timeout``, so tests can shorten it.
        self.connection.settimeout(self.server.app.owner.read_timeout)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Access and protocol-error lines go to the structured log at debug level."""
        log.debug("http", peer=self.client_address[0], message=format % args)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        try:
            _content_length(self.headers.get("Content-Length"), self.server.app.owner.max_body)
        except _RequestError as exc:
            self._write(exc.status, f"{exc}\n".encode(), _TEXT, {"Connection": "close"})
            self.close_connection = True
            return False
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        try:
            body = self._read_body(app.owner.max_body)
        except _RequestError as exc:
            # The rest of the body (if any) is unread: this connection cannot be reused.
            self.close_connection = True
            self._write(exc.status, f"{exc}\n".encode(), _TEXT, {"Connection": "close"})
            return
        request = Request(
            method=self.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=Headers(list(self.headers.items())),
            body=body,
        )
        response, extra = app.handle(request)
        self._write(response.status, response.body, response.content_type, extra)

    def _write(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.server.app.owner.count(self.server.app.name, status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self, limit: int) -> bytes:
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        deadline = time.monotonic() + self.server.app.owner.read_timeout
        try:
            if encoding == "chunked":
                return self._read_chunked(limit, deadline)
            if encoding not in ("", "identity"):
                raise _RequestError(400, f"unsupported Transfer-Encoding {encoding!r}")
            length = _content_length(self.headers.get("Content-Length"), limit)
            return self._read_exact(length, deadline)
        except TimeoutError:
            raise _RequestError(408, "request body not received in time") from None

    def _read_exact(self, length: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        left = length
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError
            part = self.rfile.read1(min(left, _CHUNK))
            if not part:
                raise _RequestError(400, "request body shorter than its Content-Length")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def _read_chunked(self, limit: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _RequestError(400, "malformed chunked request body") from None
            if size < 0:
                raise _RequestError(400, "malformed chunked request body")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are read and dropped
                return b"".join(parts)
            total += size
            if total > limit:
                raise _RequestError(413, f"request body larger than {limit} bytes")
            parts.append(self._read_exact(size, deadline))
            self.rfile.readline(1024)


def _content_length(value: str | None, limit: int) -> int:
    if value is None or value.strip() == "":
        return 0
    try:
        length = int(value)
    except ValueError:
        raise _RequestError(400, "invalid Content-Length") from None
    if length < 0:
        raise _RequestError(400, "invalid Content-Length")
    if length > limit:
        raise _RequestError(413, f"request body larger than {limit} bytes")
    return length


class Listener:
    """One socket (``host:port``, port 0: any free port) and its own route table.

    Routes match the exact (percent-decoded) path; HEAD is answered by a GET route.
    """

    def __init__(self, name: str, host: str, port: int, owner: DaemonHTTP) -> None:
        self.name = name
        self.host = host
        self._port = port
        self.owner = owner
        self._routes: dict[str, dict[str, Handler]] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def paths(self) -> list[str]:
        """The routed paths, sorted (what this listener answers other than 404)."""
        return sorted(self._routes)

    def add(self, method: str, path: str, handler: Handler) -> None:
        method = method.upper()
        if method not in _METHODS or method == "HEAD":
            raise ValueError(f"unsupported method {method!r}: use one of GET POST PUT PATCH DELETE")
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        with self._lock:
            handlers = dict(self._routes.get(path, {}))
            if method in handlers:
                raise ValueError(f"{method} {path} is already routed")
            handlers[method] = handler
            routes = dict(self._routes)
            routes[path] = handlers
            self._routes = routes  # copy-on-write: request threads read without the lock

    def handle(self, request: Request) -> tuple[Response, dict[str, str]]:
        """The response (and extra headers) for ``request``: routing and error containment."""
        handlers = self._routes.get(request.path)
        if handlers is None:
            return Response(404, b"not found\n"), {}
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers.get(method)
        if handler is None:
            allow = sorted({*handlers, *(("HEAD",) if "GET" in handlers else ())})
            return Response(405, b"method not allowed\n"), {"Allow": ", ".join(allow)}
        try:
            response = handler(request)
            if not isinstance(response, Response):
                raise TypeError(f"handler returned {type(response).__name__}, not Response")
        except Exception:
            log.exception("http handler failed", method=request.method, path=request.path)
            return Response(500, b"internal server error\n"), {}
        return response, dict(response.headers)

    @property
    def port(self) -> int:
        """The bound port once started (so ``port=0`` works), else the configured one."""
        server = self._server
        return int(server.server_address[1]) if server is not None else self._port

    def start(self) -> None:
        if self._server is not None:
            return
        cls = _Server6 if ":" in self.host else _Server
        server = cls((self.host, self._port), _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"http-{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "http server listening",
            listener=self.name,
            host=self.host,
            port=self.port,
            paths=self.paths(),
        )

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(sock)
            else:
                self._connections.discard(sock)


class _Responses(Collector):
    """``gitops_edge_http_requests_total{listener,code}``, from the owner's counts.

    A collector rather than a ``Counter`` so a test can build several servers on one
    registry in turn: it is registered on :meth:`DaemonHTTP.start` and removed on stop.
    """

    def __init__(self, owner: DaemonHTTP) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "gitops_edge_http_requests",
            "HTTP responses by listener and status code (400, 408, 413: refused before "
            "any handler).",
            labels=["listener", "code"],
        )
        for (listener, code), n in sorted(self.owner.counts().items()):
            family.add_metric([listener, str(code)], n)
        yield family


class DaemonHTTP:
    """Probes and metrics on ``host:port``; webhooks on ``webhook`` (an address) when given.

    ``ready`` and ``healthy`` are called per probe; one that raises counts as False.
    :meth:`route` places a route on a listener: ``METRICS`` (the default: internal, never
    meant for an Ingress) or ``WEBHOOK``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: prometheus_client.CollectorRegistry,
        ready: Callable[[], bool],
        healthy: Callable[[], bool],
        webhook: tuple[str, int] | None = None,
        max_body: int = MAX_BODY,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.host = host
        self.registry = registry
        self.max_body = max_body
        self.read_timeout = read_timeout
        self._ready = ready
        self._healthy = healthy
        self.listeners: dict[str, Listener] = {METRICS: Listener(METRICS, host, port, self)}
        if webhook is not None:
            self.listeners[WEBHOOK] = Listener(WEBHOOK, webhook[0], webhook[1], self)
        self._counts: dict[tuple[str, int], int] = {}
        self._counts_lock = threading.Lock()
        self._collector: _Responses | None = None
        metrics = self.listeners[METRICS]
        metrics.add("GET", "/healthz", self._healthz)
        metrics.add("GET", "/readyz", self._readyz)
        metrics.add("GET", "/metrics", self._metrics)

    # -- routes ----------------------------------------------------------------------

    def listener(self, name: str) -> Listener:
        """The listener ``name`` stands for: ``WEBHOOK`` is ``METRICS`` unless it has its own."""
        if name == WEBHOOK:
            return self.listeners.get(WEBHOOK, self.listeners[METRICS])
        if name not in self.listeners:
            raise ValueError(f"no listener {name!r}: use {METRICS!r} or {WEBHOOK!r}")
        return self.listeners[name]

    @property
    def separate_webhooks(self) -> bool:
        """True when webhook routes have a socket of their own."""
        return WEBHOOK in self.listeners

    def mount(self, routes: Iterable[tuple[str, str, Handler]]) -> None:
        """Serve a module's ``(method, path, handler)`` routes (the fleet page, say) on the
        internal metrics listener: a page that names every site stays off the webhook port."""
        for method, path, handler in routes:
            self.route(method, path, handler, listener=METRICS)

    def route(self, method: str, path: str, handler: Handler, *, listener: str = METRICS) -> None:
        """Serve ``method path`` with ``handler`` on ``listener``; safe to call while serving."""
        if path in BUILTIN_PATHS:
            raise ValueError(f"{path} is served by DaemonHTTP itself")
        self.listener(listener).add(method, path, handler)
        if listener == WEBHOOK and not self.separate_webhooks:
            log.warning(
                "webhooks share the metrics listener: exposing them exposes /metrics too; "
                "give them their own with --webhook-listen",
                path=path,
            )

    def handle(self, request: Request) -> tuple[Response, dict[str, str]]:
        """What the metrics listener answers ``request`` (no socket involved)."""
        return self.listeners[METRICS].handle(request)

    def count(self, listener: str, status: int) -> None:
        with self._counts_lock:
            key = (listener, status)
            self._counts[key] = self._counts.get(key, 0) + 1

    def counts(self) -> dict[tuple[str, int], int]:
        with self._counts_lock:
            return dict(self._counts)

    # -- built-in endpoints ----------------------------------------------------------

    @staticmethod
    def _probe(check: Callable[[], bool], what: str) -> Response:
        try:
            ok = bool(check())
        except Exception:
            log.exception("probe check failed", probe=what)
            ok = False
        return Response(200, b"ok\n") if ok else Response(503, f"not {what}\n".encode())

    def _healthz(self, _request: Request) -> Response:
        return self._probe(self._healthy, "healthy")

    def _readyz(self, _request: Request) -> Response:
        return self._probe(self._ready, "ready")

    def _metrics(self, request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept") or "")
        return Response(200, encoder(self.registry), content_type)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The metrics listener's bound port once started, else the configured one."""
        return self.listeners[METRICS].port

    @property
    def webhook_port(self) -> int:
        """Where webhooks are served: their own listener's port, else the metrics one."""
        return self.listener(WEBHOOK).port

    def start(self) -> None:
        """Bind every listener and serve each in a daemon thread; a second call does nothing.

        A listener that cannot bind (port taken) stops the ones already started, then
        the ``OSError`` propagates.
        """
        if self._collector is None:
            self._collector = _Responses(self)
            self.registry.register(self._collector)
        started: list[Listener] = []
        try:
            for listener in self.listeners.values():
                listener.start()
                started.append(listener)
        except OSError:
            for listener in started:
                listener.stop()
            self._unregister()
            raise

    def stop(self) -> None:
        """Stop accepting, close open connections, and wait for the serving threads."""
        for listener in self.listeners.values():
            listener.stop()
        self._unregister()

    def _unregister(self) -> None:
        collector, self._collector = self._collector, None
        if collector is not None:
            with contextlib.suppress(KeyError):
                self.registry.unregister(collector)
