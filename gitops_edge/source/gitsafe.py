"""How gitops-edge runs git: no hooks, no fsmonitor, no prompts, only safe transports.

The ops repo and the rendered-manifests repo are remote content; nothing in them may
make this machine run a program. Hooks and ``core.fsmonitor`` are disabled on every
call, transports are limited by ``GIT_ALLOW_PROTOCOL`` (no ``ext::``), and credential
prompts are off so a daemon never hangs on a terminal that is not there.

Credentials never travel in argv, in a URL written to ``.git/config``, or in a git
child's environment: :func:`split_userinfo` takes them out of a ``--repo`` URL,
:class:`GitAuth` hands them over as an included config file that lives in memory, and
:func:`run_git` starts git with an allow-listed environment (:data:`ENV_ALLOW`).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import git

SAFE_CONFIG = ["core.hooksPath=/dev/null", "core.fsmonitor=false", "protocol.ext.allow=never"]
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
SAFE_ENV = {
    "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "/bin/true",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
}
_SCP_LIKE = re.compile(
    r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:/.*"
)


def check_url(url: str) -> str | None:
    """Why ``url`` is not an acceptable repository location, or None.

    Accepted: https/http/ssh/git URLs, scp-like ``user@host:path``, and local paths.
    Refused: ``ext::`` and other transport helpers, ``file::`` tricks, option injection.
    """
    if url.startswith("-"):
        return f"repository {url!r} must not start with '-'"
    if "::" in url:
        return f"repository {url!r} uses a git transport helper ('::'), which is not allowed"
    if "://" in url:
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        host = rest.split("/", 1)[0].rpartition("@")[2]
        if host.startswith("-"):
            return f"repository host {host!r} must not start with '-'"
        if scheme not in ("https", "http", "ssh", "git", "file"):
            return (
                f"repository scheme {scheme!r} is not allowed; use https, ssh, git or a local path"
            )
        return None
    if _SCP_LIKE.match(url):
        if url.split("@", 1)[1].startswith("-"):
            return "repository host must not start with '-'"
        return None
    if any(c in url for c in "\n\r\0"):
        return "repository path contains control characters"
    return None


def git_call(repo: git.Repo | None, command: str, *args: str, **kwargs: object) -> str:
    """Run one git command with the safety settings (they apply to a single call in GitPython)."""
    runner = repo.git if repo is not None else git.Git()
    runner.update_environment(**SAFE_ENV)
    out = getattr(runner(c=SAFE_CONFIG), command)(*args, **kwargs)
    return str(out)


# -- credentials and the environment of git children -------------------------------

ENV_ALLOW = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SSH_AUTH_SOCK",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_SYSTEM",
    "XDG_CONFIG_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
"""What a git child inherits from the daemon; everything else (the webhook secret, API
tokens, ``GITOPS_EDGE_*``) stays in the daemon. ``LC_*`` is kept too."""


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of this process's environment, the safety settings, ``extra``."""
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW or k.startswith("LC_")}
    env.update(SAFE_ENV)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class SplitURL:
    """A repository URL without its ``user:password@`` part, and that part."""

    url: str
    username: str = ""
    password: str = ""


def split_userinfo(url: str) -> SplitURL:
    """``https://user:token@host/x`` -> (``https://host/x``, user, token); others unchanged."""
    if "://" not in url:
        return SplitURL(url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return SplitURL(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return SplitURL(clean, unquote(user), unquote(password))


def _url_prefix(url: str) -> str:
    """``scheme://host[:port]/``: what ``http.<url>.extraHeader`` is scoped to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _quote(value: str) -> str:
    if any(c in value for c in "\n\r\0"):
        raise ValueError("a credential must be one line")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class GitAuth:
    """Credentials for one repository URL, handed to git children without argv, env or disk.

    git reads them from a config file included through ``GIT_CONFIG_COUNT`` /
    ``GIT_CONFIG_KEY_0=include.path`` (an environment variable naming a *path*, not a
    secret). The file is an anonymous in-memory file (``memfd_create``), reached as
    ``/proc/<daemon pid>/fd/<n>``: it never exists on a disk, and only processes of the
    same user may open it. It holds one ``http.<scheme://host/>.extraHeader``, so the
    header goes to the repository's host and nowhere else (not to a redirect target).

    Sources, read again on every call so a rotated Secret is picked up:

    * ``header_file``: one line, an HTTP header (``Authorization: Bearer ...``) or just
      its value (``Bearer ...``, ``Basic ...``);
    * ``credentials_file``: git-credential-store lines (``https://user:token@host``);
      the line for the repository's host is sent as HTTP Basic;
    * ``username``/``password`` taken out of ``--repo https://user:token@host/...``.

    A file that does not exist means no credentials (deploy/ mounts an optional
    Secret); one that exists but is empty or malformed is an error naming it.

    Where ``memfd_create`` is missing (not Linux), a 0600 file in a private 0700
    temporary directory is used and removed by :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        header_file: Path | None = None,
        credentials_file: Path | None = None,
    ) -> None:
        self.url = url
        self.prefix = _url_prefix(url) if "://" in url else ""
        self._basic = (username, password) if (username or password) else None
        self.header_file = header_file
        self.credentials_file = credentials_file
        self._fd: int | None = None
        self._tmpdir: str | None = None
        self._path = ""
        self._content = b""
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(
            self.prefix
            and (self._basic or self.header_file is not None or self.credentials_file is not None)
        )

    def header(self) -> str:
        """The ``Authorization`` header line to send; "" when there is none for this host."""
        if self.header_file is not None:
            text = _read_secret(self.header_file, "--git-auth-header-file")
            if not text:
                return ""
            if ":" in text.split(" ", 1)[0]:
                return text
            return f"Authorization: {text}"
        basic = self._basic
        if self.credentials_file is not None:
            text = _read_secret(self.credentials_file, "--git-credentials-file", lines=True)
            basic = _credential_for(text, self.url, self.credentials_file) if text else None
        if basic is None:
            return ""
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        return f"Authorization: Basic {token}"

    def env(self) -> dict[str, str]:
        """``GIT_CONFIG_*`` variables that make a git child include the credential file."""
        if not self.configured:
            return {}
        header = self.header()
        if not header:
            return {}
        content = f"[http {_quote(self.prefix)}]\n\textraHeader = {_quote(header)}\n".encode()
        with self._lock:
            path = self._write(content)
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "include.path",
            "GIT_CONFIG_VALUE_0": path,
        }

    def _write(self, content: bytes) -> str:
        if content == self._content and self._path:
            return self._path
        if self._fd is None and hasattr(os, "memfd_create"):
            self._fd = os.memfd_create("gitops-edge-git-auth")
            self._path = f"/proc/{os.getpid()}/fd/{self._fd}"
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, content, 0)
        else:
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="gitops-edge-auth-")
                self._path = str(Path(self._tmpdir) / "auth.config")
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        self._content = content
        return self._path

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
            self._path, self._content = "", b""


class CredentialError(ValueError):
    """A credential file cannot be used; the message names the file and the fix."""


def _read_secret(path: Path, flag: str, *, lines: bool = False) -> str:
    """The file's text; "" when it does not exist (an optional Secret that is not there)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise CredentialError(f"{flag} {path}: {exc.strerror or exc}") from None
    if not text:
        raise CredentialError(f"{flag} {path} is empty")
    if not lines and "\n" in text:
        raise CredentialError(f"{flag} {path}: expected one line (a header), found several")
    return text


def _credential_for(text: str, url: str, path: Path) -> tuple[str, str] | None:
    """The (user, password) of the git-credential-store line for ``url``'s host."""
    want = urlsplit(url)
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = split_userinfo(line)
        if entry.url == line:
            raise CredentialError(
                f"--git-credentials-file {path}, line {n}: expected "
                "https://USER:TOKEN@HOST (git-credential-store format)"
            )
        got = urlsplit(entry.url)
        if got.scheme.lower() == want.scheme.lower() and got.netloc.lower() == want.netloc.lower():
            return entry.username, entry.password
    return None


def run_git(
    args: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """``git <safety -c> ARGS`` with a scrubbed environment (``env`` added); never raises on exit status."""
    argv = ["git"]
    for setting in SAFE_CONFIG:
        argv += ["-c", setting]
    return subprocess.run(
        [*argv, *args],
        cwd=cwd,
        env=scrubbed_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
