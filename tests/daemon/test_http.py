"""The daemon's HTTP server over real sockets: probes, metrics, routing and refusals."""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

import pytest
import structlog
from prometheus_client import CollectorRegistry

from gitops_edge.daemon.http import WEBHOOK, DaemonHTTP, Headers, Request, Response
from gitops_edge.observe.metrics import Metrics


@dataclass
class Flags:
    ready: bool = True
    healthy: bool = True
    seen: list[Request] = field(default_factory=list)


@dataclass
class Served:
    server: DaemonHTTP
    flags: Flags
    metrics: Metrics

    def get(
        self, path: str, *, method: str = "GET", data: bytes | None = None, **headers: str
    ) -> tuple[int, bytes, Message]:
        url = f"http://127.0.0.1:{self.server.port}{path}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - http literal above
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers


@pytest.fixture
def served() -> Iterator[Served]:
    flags = Flags()
    metrics = Metrics()
    server = DaemonHTTP(
        "127.0.0.1",
        0,
        registry=metrics.registry,
        ready=lambda: flags.ready,
        healthy=lambda: flags.healthy,
        max_body=1024,
        read_timeout=0.5,
    )
    server.start()
    yield Served(server, flags, metrics)
    server.stop()


def raw(served: Served, payload: bytes, *, shut_write: bool = False) -> bytes:
    """Send bytes as they are and read the reply until the server closes or 2 s pass."""
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=2) as sock:
        sock.sendall(payload)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


# -- built-in endpoints ---------------------------------------------------------------


def test_port_zero_binds_a_free_port(served: Served) -> None:
    assert served.server.port > 0


def test_healthz_and_readyz_follow_their_callables(served: Served) -> None:
    assert served.get("/healthz")[:2] == (200, b"ok\n")
    assert served.get("/readyz")[:2] == (200, b"ok\n")
    served.flags.ready = False
    assert served.get("/readyz")[:2] == (503, b"not ready\n")
    assert served.get("/healthz")[0] == 200
    served.flags.healthy = False
    assert served.get("/healthz")[:2] == (503, b"not healthy\n")


def test_a_probe_that_raises_is_a_failed_probe() -> None:
    def broken() -> bool:
        raise RuntimeError("database on fire")

    server = DaemonHTTP(
        "127.0.0.1", 0, registry=CollectorRegistry(), ready=broken, healthy=lambda: True
    )
    server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=5)
        assert err.value.code == 503
        assert b"fire" not in err.value.read()
    finally:
        server.stop()


def test_metrics_serves_the_registry_in_text_format(served: Served) -> None:
    served.metrics.queue_depth.set(7)
    status, body, headers = served.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"gitops_edge_queue_depth 7.0" in body
    assert b'gitops_edge_sites{state="unchanged"} 0.0' in body


def test_metrics_speaks_openmetrics_when_asked(served: Served) -> None:
    status, body, headers = served.get(
        "/metrics", Accept="application/openmetrics-text; version=1.0.0"
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_head_is_answered_by_get_without_a_body(served: Served) -> None:
    status, body, headers = served.get("/healthz", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "3"


def test_no_python_banner(served: Served) -> None:
    _, _, headers = served.get("/healthz")
    assert headers["Server"] == "gitops-edge"


# -- routing --------------------------------------------------------------------------


def test_routes_get_method_path_query_headers_and_body(served: Served) -> None:
    def hook(request: Request) -> Response:
        served.flags.seen.append(request)
        return Response(202, b'{"queued":1}', "application/json")

    served.server.route("POST", "/hooks/git", hook)
    status, body, headers = served.get(
        "/hooks/git?site=guangdong&force=",
        method="POST",
        data=b'{"ref":"refs/heads/main"}',
        **{"X-Gitea-Event": "push", "Content-Type": "application/json"},
    )
    assert (status, body) == (202, b'{"queued":1}')
    assert headers["Content-Type"] == "application/json"
    (request,) = served.flags.seen
    assert request.method == "POST"
    assert request.path == "/hooks/git"
    assert request.query == {"site": "guangdong", "force": ""}
    assert request.body == b'{"ref":"refs/heads/main"}'
    assert request.headers["x-gitea-event"] == "push"
    assert request.headers["X-GITEA-EVENT"] == "push"
    assert "content-type" in request.headers


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    assert served.get("/nope")[0] == 404
    assert served.get("/healthz/")[0] == 404  # exact paths only
    status, _, headers = served.get("/hooks/git")
    assert status == 405
    assert headers["Allow"] == "POST"
    status, _, headers = served.get("/metrics", method="DELETE")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_a_handler_exception_is_a_bare_500_and_logged(served: Served) -> None:
    def explode(request: Request) -> Response:
        raise RuntimeError("token=s3cr3t at /srv/ops/provinces/guangdong")

    served.server.route("GET", "/boom", explode)
    with structlog.testing.capture_logs() as logs:
        status, body, _ = served.get("/boom")
    assert (status, body) == (500, b"internal server error\n")
    (entry,) = [e for e in logs if e["event"] == "http handler failed"]
    assert entry["log_level"] == "error"
    assert entry["path"] == "/boom"
    assert entry["exc_info"] is True


def test_a_handler_returning_something_else_is_a_500(served: Served) -> None:
    served.server.route("GET", "/wrong", lambda r: "ok")  # type: ignore[arg-type,return-value]
    assert served.get("/wrong")[0] == 500


def test_route_refuses_builtins_duplicates_and_nonsense(served: Served) -> None:
    with pytest.raises(ValueError, match="served by DaemonHTTP"):
        served.server.route("GET", "/metrics", lambda r: Response(200))
    served.server.route("get", "/x", lambda r: Response(200))
    with pytest.raises(ValueError, match="already routed"):
        served.server.route("GET", "/x", lambda r: Response(200))
    with pytest.raises(ValueError, match="method"):
        served.server.route("BREW", "/coffee", lambda r: Response(418))
    with pytest.raises(ValueError, match="start with"):
        served.server.route("GET", "relative", lambda r: Response(200))


# -- request bodies -------------------------------------------------------------------


def test_a_body_over_the_cap_is_413(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    assert served.get("/hooks/git", method="POST", data=b"x" * 1024)[0] == 204
    status, body, headers = served.get("/hooks/git", method="POST", data=b"x" * 1025)
    assert status == 413
    assert b"larger than 1024 bytes" in body
    assert headers["Connection"] == "close"


def test_an_announced_huge_body_is_refused_before_it_is_sent(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    reply = raw(
        served,
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 6000000\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 413 ")


def test_expect_100_continue_with_a_huge_body_gets_413_not_continue(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    reply = raw(
        served,
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 6000000\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in reply


def test_the_default_cap_is_five_mebibytes() -> None:
    server = DaemonHTTP(
        "127.0.0.1", 0, registry=CollectorRegistry(), ready=lambda: True, healthy=lambda: True
    )
    assert server.max_body == 5 * 1024 * 1024


def test_a_body_that_never_arrives_times_out_with_408(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    reply = raw(served, b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_chunked_bodies_are_read_and_capped(served: Served) -> None:
    bodies: list[bytes] = []

    def hook(request: Request) -> Response:
        bodies.append(request.body)
        return Response(204)

    served.server.route("POST", "/hooks/git", hook)
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=5)
    conn.request("POST", "/hooks/git", body=iter([b"hello ", b"world"]), encode_chunked=True)
    assert conn.getresponse().status == 204
    conn.close()
    assert bodies == [b"hello world"]
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=5)
    conn.request("POST", "/hooks/git", body=iter([b"x" * 800] * 2), encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


def test_malformed_lengths_are_400(served: Served) -> None:
    served.server.route("POST", "/hooks/git", lambda r: Response(204))
    for length in (b"-1", b"ten"):
        reply = raw(
            served,
            b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n",
        )
        assert reply.startswith(b"HTTP/1.1 400 "), reply


# -- lifecycle ------------------------------------------------------------------------


def test_keep_alive_connections_are_reused_and_stop_closes_them(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"ok\n")
    served.server.stop()
    served.server.stop()  # idempotent
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/healthz")
        conn.getresponse()
    conn.close()


def test_headers_mapping_is_case_insensitive_and_joins_repeats() -> None:
    headers = Headers([("X-A", "1"), ("x-a", "2"), ("Accept", "text/plain")])
    assert headers["x-A"] == "1, 2"
    assert headers.get("ACCEPT") == "text/plain"
    assert headers.get("missing") is None
    assert list(headers) == ["X-A", "Accept"]
    assert len(headers) == 2


# -- listeners ------------------------------------------------------------------------


def _get(port: int, path: str, method: str = "GET") -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - http literal above
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_webhook_routes_on_their_own_listener_are_served_there_only() -> None:
    metrics = Metrics()
    server = DaemonHTTP(
        "127.0.0.1",
        0,
        registry=metrics.registry,
        ready=lambda: True,
        healthy=lambda: True,
        webhook=("127.0.0.1", 0),
    )
    server.route("POST", "/webhook", lambda r: Response(202), listener=WEBHOOK)
    server.route("GET", "/fleet", lambda r: Response(200))  # internal by default
    server.start()
    try:
        assert server.separate_webhooks and server.webhook_port != server.port
        assert _get(server.webhook_port, "/webhook", "POST") == 202
        assert _get(server.port, "/webhook", "POST") == 404
        for path in ("/metrics", "/healthz", "/readyz", "/fleet"):
            assert _get(server.port, path) == 200, path
            assert _get(server.webhook_port, path) == 404, path
        value = metrics.registry.get_sample_value
        assert value("gitops_edge_http_requests_total", {"listener": "webhook", "code": "404"}) == 4
        assert value("gitops_edge_http_requests_total", {"listener": "webhook", "code": "202"}) == 1
        assert value("gitops_edge_http_requests_total", {"listener": "metrics", "code": "404"}) == 1
    finally:
        server.stop()
    # stopped: its series leave the registry, so another server can take its place
    assert (
        metrics.registry.get_sample_value(
            "gitops_edge_http_requests_total", {"listener": "webhook", "code": "202"}
        )
        is None
    )


def test_without_a_webhook_address_webhook_routes_share_the_metrics_listener(
    served: Served,
) -> None:
    with structlog.testing.capture_logs() as events:
        served.server.route("POST", "/webhook", lambda r: Response(202), listener=WEBHOOK)
    assert not served.server.separate_webhooks
    assert served.server.webhook_port == served.server.port
    assert served.get("/webhook", method="POST", data=b"")[0] == 202
    assert any("--webhook-listen" in e["event"] for e in events)
    with pytest.raises(ValueError, match="no listener"):
        served.server.route("GET", "/x", lambda r: Response(200), listener="public")


def test_a_taken_webhook_port_fails_start_and_frees_the_metrics_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        metrics = Metrics()
        server = DaemonHTTP(
            "127.0.0.1",
            0,
            registry=metrics.registry,
            ready=lambda: True,
            healthy=lambda: True,
            webhook=("127.0.0.1", busy),
        )
        with pytest.raises(OSError):
            server.start()
        assert server.listeners["metrics"]._server is None
