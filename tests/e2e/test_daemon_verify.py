"""``run --verify-commits``: only commits signed by an allowed key are reconciled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_edge.emit.dirsink import RECORD
from tests.builders import province, write_site

pytestmark = pytest.mark.e2e

ENV = {
    "GIT_AUTHOR_NAME": "ops",
    "GIT_AUTHOR_EMAIL": "ops@example.org",
    "GIT_COMMITTER_NAME": "ops",
    "GIT_COMMITTER_EMAIL": "ops@example.org",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **ENV, "HOME": str(repo.parent)}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


def ssh_key(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", str(path)], check=True
    )
    return path


def commit(repo: Path, message: str, key: Path | None) -> None:
    git(repo, "add", "-A")
    sign = (
        ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-S"]
        if key
        else ["commit"]
    )
    git(repo, *sign, "-q", "-m", message)


def run_once(repo: Path, keyring: Path, out: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gitops_edge",
            "run",
            "--repo",
            str(repo),
            "--once",
            "--emit",
            f"dir:{out}",
            "--cache-dir",
            str(cache),
            "--verify-commits",
            str(keyring),
            "--log-format",
            "text",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_signed_head_is_reconciled_and_unsigned_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "ops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    allowed = ssh_key(tmp_path / "ops_key")
    intruder = ssh_key(tmp_path / "intruder_key")
    keyring = tmp_path / "keyring"
    keyring.mkdir()
    (keyring / "allowed_signers").write_text(
        f"ops@example.org {(tmp_path / 'ops_key.pub').read_text()}"
    )
    out, cache = tmp_path / "out", tmp_path / "cache"

    write_site(repo, "gd", province("gd"))
    commit(repo, "unsigned", None)
    res = run_once(repo, keyring, out, cache)
    assert res.returncode == 1
    assert "not signed" in res.stderr and "refused" in res.stderr
    assert not (out / "gd").exists()

    write_site(repo, "hb", province("hb"))
    commit(repo, "signed by someone else", intruder)
    res = run_once(repo, keyring, out, cache)
    assert res.returncode == 1 and "refused" in res.stderr
    assert not out.exists() or not any(out.iterdir())

    write_site(repo, "hn", province("hn"))
    commit(repo, "signed", allowed)
    res = run_once(repo, keyring, out, cache)
    assert res.returncode == 0, res.stderr
    assert {p.name for p in out.iterdir()} == {"gd", "hb", "hn", "Kustomization", RECORD}
