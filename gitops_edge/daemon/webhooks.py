"""Push webhooks: verify who sent them, then say whether they should trigger a poll (pure).

A webhook only ever *hints* that the branch moved: the daemon answers at once (202)
and polls the remote itself, so a forged or replayed payload can at worst cause one
extra ``ls-remote``. Still, nothing unauthenticated is acted on or even parsed:
every provider's secret is checked first, with :func:`hmac.compare_digest`, and a
daemon without a secret does not accept webhooks at all.

Providers, told apart by their signature header:

* GitLab: ``X-Gitlab-Token`` equal to the secret, ``X-Gitlab-Event: Push Hook``;
* Gitea / Gogs: ``X-Gitea-Signature`` / ``X-Gogs-Signature``, hex HMAC-SHA256 of the
  body (checked before GitHub's header, which Gitea also sends);
* GitHub: ``X-Hub-Signature-256: sha256=<hex>``, ``X-GitHub-Event: push`` (``ping`` is
  answered and ignored);
* generic (any CI job): ``X-Signature-256: sha256=<hex>``; a JSON body with ``ref`` is
  branch-filtered, any other body just asks for a poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["accept", "ignore", "refuse"]


@dataclass(frozen=True)
class Decision:
    """What to do with one delivery, and the HTTP status that says so."""

    action: Action
    status: int
    reason: str
    provider: str = ""
    after: str = ""
    """The pushed commit, when the payload names one (for logs; the poll decides)."""


def _accept(provider: str, reason: str, after: str = "") -> Decision:
    return Decision("accept", 202, reason, provider, after)


def _ignore(provider: str, reason: str) -> Decision:
    return Decision("ignore", 200, reason, provider)


def _refuse(status: int, reason: str, provider: str = "") -> Decision:
    return Decision("refuse", status, reason, provider)


def hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _signature_ok(secret: bytes, body: bytes, given: str, *, prefix: str = "") -> bool:
    if prefix:
        if not given.startswith(prefix):
            return False
        given = given[len(prefix) :]
    expected = hmac_hex(secret, body)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def decide(headers: Mapping[str, str], body: bytes, *, secret: bytes, branch: str) -> Decision:
    """Verify a delivery and decide: accept (202, poll now), ignore (200) or refuse (4xx)."""
    if not secret:
        raise ValueError("a webhook secret is required")
    h = {k.lower(): v for k, v in headers.items()}
    if "x-gitlab-token" in h or "x-gitlab-event" in h:
        token = h.get("x-gitlab-token", "")
        if not token:
            return _refuse(401, "GitLab delivery without X-Gitlab-Token", "gitlab")
        if not hmac.compare_digest(token.encode(), secret):
            return _refuse(403, "X-Gitlab-Token does not match the webhook secret", "gitlab")
        if h.get("x-gitlab-event") != "Push Hook":
            return _ignore("gitlab", f"event {h.get('x-gitlab-event', '')!r} is not a push")
        return _push("gitlab", body, branch)
    for provider, header, event in (
        ("gitea", "x-gitea-signature", "x-gitea-event"),
        ("gogs", "x-gogs-signature", "x-gogs-event"),
    ):
        if header in h:
            if not _signature_ok(secret, body, h[header]):
                return _refuse(403, f"{header} does not match the body's HMAC", provider)
            if h.get(event, "push") != "push":
                return _ignore(provider, f"event {h.get(event)!r} is not a push")
            return _push(provider, body, branch)
    if "x-hub-signature-256" in h:
        if not _signature_ok(secret, body, h["x-hub-signature-256"], prefix="sha256="):
            return _refuse(403, "X-Hub-Signature-256 does not match the body's HMAC", "github")
        event = h.get("x-github-event", "")
        if event == "ping":
            return _ignore("github", "ping: webhook is set up")
        if event != "push":
            return _ignore("github", f"event {event!r} is not a push")
        return _push("github", body, branch)
    if "x-signature-256" in h:
        if not _signature_ok(secret, body, h["x-signature-256"], prefix="sha256="):
            return _refuse(403, "X-Signature-256 does not match the body's HMAC", "generic")
        return _push("generic", body, branch, ref_required=False)
    if "x-hub-signature" in h:
        return _refuse(401, "SHA-1 signatures are not accepted: configure the SHA-256 one")
    return _refuse(
        401,
        "no signature: send X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature, "
        "X-Gogs-Signature or X-Signature-256",
    )


def _push(provider: str, body: bytes, branch: str, *, ref_required: bool = True) -> Decision:
    """Branch filter on a verified push payload."""
    payload: Any = None
    if body.strip():
        try:
            payload = json.loads(body)
        except ValueError:
            return _refuse(400, "body is not JSON", provider)
    if not isinstance(payload, dict):
        if ref_required:
            return _refuse(400, "push payload is not a JSON object", provider)
        return _accept(provider, "poll requested")
    ref = payload.get("ref")
    after = payload.get("after") if isinstance(payload.get("after"), str) else ""
    if ref is None and not ref_required:
        return _accept(provider, "poll requested", str(after))
    if not isinstance(ref, str):
        return _refuse(400, "push payload has no 'ref'", provider)
    if ref != f"refs/heads/{branch}":
        return _ignore(provider, f"push to {ref}, not refs/heads/{branch}")
    return _accept(provider, f"push to {ref}", str(after))
