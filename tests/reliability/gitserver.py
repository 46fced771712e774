"""A git smart-HTTP server for tests, in front of ``git http-backend``, that misbehaves on demand.

A ``file://`` remote answers instantly and never half-fails, so it cannot show what the
daemon does when the Git server of a province link is slow, down, behind a crashing
proxy, or returns bytes that are not git. This server runs the real ``git
http-backend`` (CGI) for every request, so a healthy server is a real remote that
``git clone``/``ls-remote``/``fetch`` speak protocol v2 to, and :attr:`mode` turns it into
one of these:

``ok``
    serve normally;
``unavailable``
    ``503 Service Unavailable`` for every request;
``drop``
    close the connection without an answer, as a crashing proxy does;
``garbage``
    ``200`` with the right content type and random bytes as the body;
``truncated_fetch``
    ref listing works (the new head is visible), but a pack download is cut in the
    middle: the connection closes after half of the real response;
``slow``
    answer nothing for :attr:`delay` seconds (or until healed), then serve.

``refused`` (nothing listening) is :meth:`stop`, then :meth:`start` again on the same
port. ``auth`` makes the server require HTTP Basic credentials, as a forge does for a
private repo. Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MODES = ("ok", "unavailable", "drop", "garbage", "truncated_fetch", "slow")


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    status: int  # 0: no answer (dropped, cut, or the client gave up)
    at: float  # when the request arrived (time.monotonic())
    fetch: bool = False  # a protocol v2 ``command=fetch`` (a pack download)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: GitHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: :attr:`GitHTTPServer.requests` has the same data."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        app = self.server.app
        started = time.monotonic()
        url = urlsplit(self.path)
        body = self._body()
        plain = body
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            with contextlib.suppress(OSError, EOFError):
                plain = gzip.decompress(body)
        fetch = b"command=fetch" in plain
        mode = app.mode
        if app.auth is not None and not self._authorized(app.auth):
            self._answer(401, b"auth required\n", {"WWW-Authenticate": 'Basic realm="ops"'})
            app.record(started, self.command, url.path, 401, fetch)
            return
        if mode == "slow":
            app.healed.wait(app.delay)
        elif mode == "unavailable":
            self._answer(503, b"upstream unavailable\n")
            app.record(started, self.command, url.path, 503, fetch)
            return
        elif mode == "drop":
            app.record(started, self.command, url.path, 0, fetch)
            self._cut()
            return
        elif mode == "garbage":
            junk = os.urandom(1500)
            kind = (
                "application/x-git-upload-pack-advertisement"
                if url.path.endswith("/info/refs")
                else "application/x-git-upload-pack-result"
            )
            self._answer(200, junk, {"Content-Type": kind})
            app.record(started, self.command, url.path, 200, fetch)
            return
        status, headers, out = self._backend(url.path, url.query, body)
        if mode == "truncated_fetch" and fetch:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out[: len(out) // 2])
            self.wfile.flush()
            app.record(started, self.command, url.path, 0, fetch)
            self._cut()
            return
        try:
            self._answer(status, out, headers)
        except OSError:  # the client gave up (its timeout) while we were slow
            app.record(started, self.command, url.path, 0, fetch)
            self.close_connection = True
            return
        app.record(started, self.command, url.path, status, fetch)

    # -- plumbing ------------------------------------------------------------------

    def _authorized(self, auth: tuple[str, str]) -> bool:
        expected = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _body(self) -> bytes:
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

    def _backend(self, path: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Run ``git http-backend`` as the CGI it is; (status, headers, body)."""
        app = self.server.app
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(app.root),
            "GIT_PROJECT_ROOT": str(app.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": app.auth[0] if app.auth else "",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        raw = done.stdout
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            head, sep, rest = raw.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers[key.strip()] = value.strip()
        return status, headers, rest

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "text/plain")
        for key, value in headers.items():
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class GitHTTPServer:
    """Serves every bare repository below ``root`` at ``http://127.0.0.1:PORT/<name>``."""

    def __init__(
        self, root: Path, *, auth: tuple[str, str] | None = None, delay: float = 30.0
    ) -> None:
        self.root = root
        self.auth = auth
        self.delay = delay
        self.mode = "ok"
        self.healed = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[GitRequest] = []
        self._port = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> GitHTTPServer:
        if self._httpd is not None:
            return self
        deadline = time.monotonic() + 10
        while True:
            try:
                httpd = _Server(("127.0.0.1", self._port), _Handler)
                break
            except OSError:  # the old socket of this port is not released yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        httpd.app = self
        self._port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: the next connection is refused."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.healed.set()  # release slow answers
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> GitHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults --------------------------------------------------------------------

    def fail(self, mode: str) -> None:
        """Start misbehaving (``refused`` stops the listener)."""
        if mode == "refused":
            self.stop()
            return
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.healed.clear()
        self.mode = mode

    def heal(self) -> None:
        """Serve normally again (and listen again after ``refused``)."""
        self.mode = "ok"
        self.healed.set()
        self.start()

    # -- looking -------------------------------------------------------------------

    def url(self, name: str, *, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self._port}/{name}"

    def record(self, at: float, method: str, path: str, status: int, fetch: bool) -> None:
        with self._lock:
            self._requests.append(GitRequest(method, path, status, at, fetch))

    @property
    def requests(self) -> list[GitRequest]:
        with self._lock:
            return list(self._requests)

    def attempts(self, since: float = 0.0) -> list[float]:
        """Start times of ref listings (one per ``ls-remote``/``fetch`` the client began)."""
        return [
            r.at
            for r in self.requests
            if r.at >= since and r.method == "GET" and r.path.endswith("/info/refs")
        ]
