"""How gitops-edge runs git: no hooks, no fsmonitor, no prompts, only safe transports.

The ops repo and the rendered-manifests repo are remote content; nothing in them may
make this machine run a program. Hooks and ``core.fsmonitor`` are disabled on every
call, transports are limited by ``GIT_ALLOW_PROTOCOL`` (no ``ext::``), and credential
prompts are off so a daemon never hangs on a terminal that is not there.
"""

from __future__ import annotations

import re

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
