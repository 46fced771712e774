"""``gitops-edge run``'s listener and metrics flags, parsed as the CLI parses them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gitops_edge.commands import run
from gitops_edge.daemon.config import RunOptions
from gitops_edge.sinks import SinkSpecError


def _options(tmp_path: Path, *argv: str) -> RunOptions:
    parser = argparse.ArgumentParser()
    run.add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "--repo", str(tmp_path), *argv])
    return run.options(args)


def test_defaults_keep_one_listener_and_per_site_series(tmp_path: Path) -> None:
    opts = _options(tmp_path)
    assert (opts.host, opts.port, opts.webhook_port) == ("0.0.0.0", 8080, None)  # noqa: S104
    assert opts.metrics_per_site is True


def test_webhook_listen_gives_webhooks_their_own_address(tmp_path: Path) -> None:
    opts = _options(tmp_path, "--listen", "127.0.0.1:9000", "--webhook-listen", ":9292")
    assert (opts.host, opts.port) == ("127.0.0.1", 9000)
    assert (opts.webhook_host, opts.webhook_port) == ("0.0.0.0", 9292)  # noqa: S104


def test_webhook_listen_on_the_metrics_address_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SinkSpecError, match="is --listen's address"):
        _options(tmp_path, "--listen", ":8080", "--webhook-listen", "0.0.0.0:8080")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--metrics-per-site=false"], False),
        (["--metrics-per-site", "no"], False),
        (["--metrics-per-site=true"], True),
        (["--metrics-per-site"], True),
    ],
)
def test_metrics_per_site(tmp_path: Path, argv: list[str], expected: bool) -> None:
    assert _options(tmp_path, *argv).metrics_per_site is expected


def test_metrics_per_site_refuses_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _options(tmp_path, "--metrics-per-site=maybe")
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err
