"""Webhook verification and decisions for GitHub, GitLab, Gitea, Gogs and generic senders."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gitops_edge.daemon.webhooks import decide

SECRET = b"s3cret-for-tests"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()


def sig(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def d(headers: dict[str, str], body: bytes = PUSH, branch: str = "main"):  # type: ignore[no-untyped-def]
    return decide(headers, body, secret=SECRET, branch=branch)


def test_github_push_to_the_branch_is_accepted() -> None:
    got = d({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig(PUSH)})
    assert (got.action, got.status, got.provider, got.after) == ("accept", 202, "github", "a" * 40)


def test_header_names_are_case_insensitive_and_hex_case_is_not_significant() -> None:
    got = d({"x-github-event": "push", "x-hub-signature-256": "sha256=" + sig(PUSH).upper()})
    assert got.action == "accept"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig(PUSH, b"wrong")}, 403),
        ({"X-GitHub-Event": "push", "X-Hub-Signature-256": sig(PUSH)}, 403),  # no sha256= prefix
        ({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256="}, 403),
        ({"X-GitHub-Event": "push"}, 401),
        ({"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=abc"}, 401),
        ({}, 401),
        ({"X-Gitlab-Event": "Push Hook"}, 401),
        ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, 403),
        ({"X-Gitea-Signature": sig(b"other body")}, 403),
        ({"X-Gogs-Signature": "zz"}, 403),
        ({"X-Signature-256": "sha256=" + sig(PUSH, b"wrong")}, 403),
    ],
)
def test_unsigned_or_badly_signed_deliveries_are_refused(
    headers: dict[str, str], status: int
) -> None:
    got = d(headers)
    assert (got.action, got.status) == ("refuse", status)


def test_a_tampered_body_fails_the_signature() -> None:
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig(PUSH)}
    assert d(headers, body=PUSH.replace(b"main", b"evil")).status == 403


@pytest.mark.parametrize(
    ("event", "body", "reason"),
    [
        ("ping", b"{}", "ping"),
        ("pull_request", PUSH, "not a push"),
        ("push", json.dumps({"ref": "refs/heads/feature"}).encode(), "refs/heads/feature"),
        ("push", json.dumps({"ref": "refs/tags/v1"}).encode(), "refs/tags/v1"),
    ],
)
def test_github_other_events_and_branches_are_ignored(event: str, body: bytes, reason: str) -> None:
    got = d({"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + sig(body)}, body)
    assert (got.action, got.status) == ("ignore", 200)
    assert reason in got.reason


def test_gitlab_token_and_event() -> None:
    ok = d({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET.decode()})
    assert (ok.action, ok.provider) == ("accept", "gitlab")
    tag = d({"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": SECRET.decode()})
    assert tag.action == "ignore"


@pytest.mark.parametrize("provider", ["Gitea", "Gogs"])
def test_gitea_and_gogs_hex_signatures(provider: str) -> None:
    headers = {
        f"X-{provider}-Event": "push",
        f"X-{provider}-Signature": sig(PUSH),
        # Gitea also sends GitHub's headers; its own signature is the one checked
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": "sha256=" + sig(PUSH, b"not-checked"),
    }
    got = d(headers)
    assert (got.action, got.provider) == ("accept", provider.lower())
    other = d(headers, branch="release")
    assert other.action == "ignore"


def test_generic_sender_with_or_without_a_ref() -> None:
    empty = d({"X-Signature-256": "sha256=" + sig(b"")}, b"")
    assert (empty.action, empty.status, empty.provider) == ("accept", 202, "generic")
    body = json.dumps({"ref": "refs/heads/other"}).encode()
    assert d({"X-Signature-256": "sha256=" + sig(body)}, body).action == "ignore"
    assert d({"X-Signature-256": "sha256=" + sig(PUSH)}).action == "accept"


def test_a_signed_but_malformed_payload_is_a_bad_request() -> None:
    body = b"not json"
    got = d({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig(body)}, body)
    assert (got.action, got.status) == ("refuse", 400)
    no_ref = b"{}"
    got = d({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig(no_ref)}, no_ref)
    assert got.status == 400


def test_a_secret_is_required() -> None:
    with pytest.raises(ValueError, match="secret"):
        decide({}, b"", secret=b"", branch="main")
