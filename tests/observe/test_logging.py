"""Logging: the redaction processor on its own, and the configured JSON output on stderr."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from gitops_edge.observe.logging import MASK, configure_logging, redact, scrub

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def run(event_dict: dict[str, Any]) -> dict[str, Any]:
    return dict(redact(None, "info", event_dict))


# -- the processor ------------------------------------------------------------------


def test_sensitive_keys_are_masked_at_any_depth_and_case() -> None:
    out = run(
        {
            "event": "loaded",
            "Password": "hunter2",
            "config": {
                "webhook_secret": "abc",
                "git": {"Authorization": "Basic dXNlcjpwYXNz", "url": "https://git.example/x"},
                "hosts": [{"name": "m1", "passwd": "p"}, {"name": "m2", "ssh-privatekey": PEM}],
            },
            "private_key": {"nested": "anything"},
            "GIT_TOKEN": "t",
        }
    )
    assert out["Password"] == MASK
    assert out["config"]["webhook_secret"] == MASK
    assert out["config"]["git"] == {"Authorization": MASK, "url": "https://git.example/x"}
    assert out["config"]["hosts"] == [
        {"name": "m1", "passwd": MASK},
        {"name": "m2", "ssh-privatekey": MASK},
    ]
    assert out["private_key"] == MASK
    assert out["GIT_TOKEN"] == MASK
    assert out["event"] == "loaded"


def test_credentials_inside_strings_are_masked_anywhere() -> None:
    out = run(
        {
            "event": "fetch https://oauth2:glpat-XYZ@git.example/ops.git failed",
            "remotes": ["ssh://git@git.example/ops.git", "https://git.example/public.git"],
            "detail": {"header": "Authorization: Bearer eyJhbGciOi.J9.sig", "key": PEM},
            "cmd": ("git", "clone", "https://user:pa%40ss@h/x"),
        }
    )
    assert out["event"] == "fetch https://***@git.example/ops.git failed"
    assert out["remotes"] == ["ssh://***@git.example/ops.git", "https://git.example/public.git"]
    assert out["detail"]["header"] == "Authorization: Bearer ***"
    assert "b3BlbnNzaC1rZXkt" not in out["detail"]["key"]
    assert out["detail"]["key"].startswith("-----BEGIN OPENSSH PRIVATE KEY----- ***")
    assert out["cmd"] == ("git", "clone", "https://***@h/x")


def test_scrub_covers_query_strings_json_text_and_cut_off_keys() -> None:
    assert scrub("GET /hook?access_token=abc123&site=gd") == "GET /hook?access_token=***&site=gd"
    assert scrub('{"password": "x", "site": "gd"}') == '{"password": "***", "site": "gd"}'
    assert scrub("key: -----BEGIN RSA PRIVATE KEY-----\nMIIE...") == (
        "key: -----BEGIN RSA PRIVATE KEY----- *** -----END RSA PRIVATE KEY-----"
    )
    assert scrub("edge node gd-edge-01 offline since 03:12Z") == (
        "edge node gd-edge-01 offline since 03:12Z"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a-" * 100_000 + "=x",
        "a." * 100_000 + "://",
        '"' + 'a"' * 100_000 + ':"x"',
        "token" * 40_000,
    ],
)
def test_scrubbing_stays_linear_on_hostile_input(text: str) -> None:
    start = time.perf_counter()
    scrub(text)
    assert time.perf_counter() - start < 1.0


def test_values_that_name_a_secret_stay_readable() -> None:
    out = run({"sshKeySecretName": "gd-eggo-ssh", "secret_ref": "ns/name", "token": None})
    assert out == {"sshKeySecretName": "gd-eggo-ssh", "secret_ref": "ns/name", "token": None}


def test_the_callers_objects_are_not_changed() -> None:
    spec = {"eggo": {"password": "p", "masters": [{"ip": "10.0.0.1", "token": "t"}]}}
    before = copy.deepcopy(spec)
    out = run({"event": "x", "spec": spec})
    assert spec == before
    assert out["spec"]["eggo"]["masters"][0] == {"ip": "10.0.0.1", "token": MASK}


def test_other_objects_are_masked_through_their_text() -> None:
    err = RuntimeError("push to https://bot:tok@git.example/ops.git refused")
    path = Path("/srv/ops")
    out = run({"error": err, "path": path, "count": 3, "ok": True, "ratio": 0.5})
    assert out["error"] == "push to https://***@git.example/ops.git refused"
    assert out["path"] is path  # nothing to hide: left as it was
    assert (out["count"], out["ok"], out["ratio"]) == (3, True, 0.5)


def test_absurd_nesting_is_masked_not_recursed_forever() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    out = run({"loop": cyclic})
    depth, node = 0, out["loop"]
    while isinstance(node, dict):
        node, depth = node["self"], depth + 1
    assert node == MASK
    assert depth <= 25


# -- the configured chain ------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("kubernetes", "urllib3")}
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)
    logging.captureWarnings(False)


def lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_on_stderr_with_bound_keys_and_no_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True, level="info")
    log = structlog.get_logger("gitops_edge.daemon").bind(site="guangdong")
    log.info(
        "applied",
        revision="0123abcd",
        repo="https://ci:ghp_SECRETSECRET@git.example/ops.git",
        webhook_secret="whsec",
    )
    log.debug("not at info level")
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = lines(err)
    assert line["event"] == "applied"
    assert line["level"] == "info"
    assert line["logger"] == "gitops_edge.daemon"
    assert line["site"] == "guangdong"
    assert line["revision"] == "0123abcd"
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    assert line["repo"] == "https://***@git.example/ops.git"
    assert line["webhook_secret"] == MASK
    assert "SECRETSECRET" not in err and "whsec" not in err


@pytest.mark.usefixtures("restore_logging")
def test_stdlib_records_and_tracebacks_go_through_the_same_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    logging.getLogger("git.cmd").warning("fetch %s failed", "https://u:pw@h/x")
    try:
        raise RuntimeError("Authorization: Bearer abc.def.ghi rejected")
    except RuntimeError:
        structlog.get_logger("gitops_edge.live").exception("call failed", site="hunan")
    first, second = lines(capsys.readouterr().err)
    assert (first["logger"], first["level"]) == ("git.cmd", "warning")
    assert first["event"] == "fetch https://***@h/x failed"
    assert second["site"] == "hunan"
    assert "RuntimeError" in second["exception"]
    assert "abc.def.ghi" not in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_reconfiguring_replaces_the_handler_and_console_mode_is_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    configure_logging(json=False, level="debug")
    structlog.get_logger("gitops_edge").debug("rendered", site="hubei", password="p")
    err = capsys.readouterr().err
    assert err.count("rendered") == 1
    assert "site=hubei" in err
    assert "password=***" in err
    assert logging.getLogger("urllib3").level == logging.WARNING  # bodies stay out of logs


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging(level="loud")
