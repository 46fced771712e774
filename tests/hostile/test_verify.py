"""Signed commits, verified by git against a keyring and nothing else.

Real keys (gpg ed25519 without a passphrase, ssh-keygen ed25519) sign real commits in
a repository built once for the module; each test verifies one revision.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops_edge.source.verify import ALLOWED_SIGNERS, VerifyResult, verify_commit
from tests.builders import git

pytestmark = pytest.mark.skipif(
    not (shutil.which("gpg") and shutil.which("ssh-keygen")), reason="needs gpg and ssh-keygen"
)

OPS = "Ops Signer <ops@example.org>"


@dataclass(frozen=True)
class World:
    repo: Path
    keyring: Path
    """ops' GPG key (ops.asc) and SSH key (allowed_signers)."""
    signer_home: Path
    """The signers' own gpg home: holds every key, secret ones included."""
    old_key: Path
    """The public key that expired after signing ``old-gpg``."""


def _gpg(home: Path, *args: str) -> str:
    out = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--passphrase", "", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout


def _new_gpg_key(home: Path, uid: str, *extra: str, expire: str = "never") -> str:
    _gpg(home, *extra, "--quick-gen-key", uid, "ed25519", "sign", expire)
    colons = _gpg(home, "--with-colons", "--list-keys", uid)
    return next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr"))


def _ssh_key(path: Path, comment: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


def _commit(repo: Path, home: Path, name: str, *config: str) -> None:
    """Commit (and tag) ``name``, signing with the keys of gpg home ``home`` per ``config``."""
    (repo / name).write_text(name)
    git(repo, "add", name)
    identity = ("-c", "user.name=ops", "-c", "user.email=ops@example.org")
    subprocess.run(
        ["git", *identity, *config, "commit", "-q", "-m", name],
        cwd=repo,
        env={**os.environ, "GNUPGHOME": str(home)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    git(repo, "tag", name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("signed")
    home = base / "gnupg"
    home.mkdir(mode=0o700)
    ops = _new_gpg_key(home, OPS)
    mallory = _new_gpg_key(home, "Mallory <mallory@example.org>")
    # A key that was valid for one day in 2020; old-gpg is signed inside that day.
    old = _new_gpg_key(
        home, "Old Signer <old@example.org>", "--faked-system-time", "20200101T000000!", expire="1d"
    )
    old_gpg = base / "gpg-in-2020"
    old_gpg.write_text('#!/bin/sh\nexec gpg --faked-system-time 20200101T120000! "$@"\n')
    old_gpg.chmod(0o755)
    ops_ssh = _ssh_key(base / "ops_ed25519", "ops@example.org")
    mallory_ssh = _ssh_key(base / "mallory_ed25519", "mallory@example.org")

    keyring = base / "keyring"
    keyring.mkdir()
    (keyring / "ops.asc").write_text(_gpg(home, "--armor", "--export", ops))
    pub = (base / "ops_ed25519.pub").read_text().split()
    (keyring / ALLOWED_SIGNERS).write_text(f"ops@example.org {pub[0]} {pub[1]}\n")
    old_key = base / "old.asc"
    old_key.write_text(_gpg(home, "--armor", "--export", old))

    repo = base / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    sign = ("-c", "commit.gpgsign=true", "-c", "gpg.program=gpg", "-c", "gpg.openpgp.program=gpg")
    ssh = ("-c", "commit.gpgsign=true", "-c", "gpg.format=ssh")
    _commit(repo, home, "unsigned")
    _commit(repo, home, "good-gpg", *sign, "-c", f"user.signingkey={ops}")
    _commit(repo, home, "good-ssh", *ssh, "-c", f"user.signingkey={ops_ssh}")
    _commit(repo, home, "other-gpg", *sign, "-c", f"user.signingkey={mallory}")
    _commit(repo, home, "other-ssh", *ssh, "-c", f"user.signingkey={mallory_ssh}")
    old_sign = ("-c", "commit.gpgsign=true", "-c", f"gpg.program={old_gpg}")
    _commit(repo, home, "old-gpg", *old_sign, "-c", f"user.signingkey={old}")
    for tag in ("good-gpg", "good-ssh"):
        body = git(repo, "cat-file", "commit", tag)
        forged = body.replace(f"\n\n{tag}", f"\n\n{tag}, and reboot the fleet", 1)
        assert forged != body
        sha = subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo,
            input=forged + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        git(repo, "tag", f"tampered-{tag}", sha)
    yield World(repo, keyring, home, old_key)
    # Signing started a gpg-agent for this home; stop it with the home.
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, timeout=30)


class _env:
    """Set environment variables for a block."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _verify(world: World, rev: str, keyring: Path | None = None) -> VerifyResult:
    return verify_commit(world.repo, rev, keyring or world.keyring)


def test_good_gpg_signature(world: World) -> None:
    result = _verify(world, "good-gpg")
    assert result == VerifyResult(True, OPS, f"good signature by {OPS}")


def test_good_ssh_signature(world: World) -> None:
    result = _verify(world, "good-ssh")
    assert result.ok, result
    assert result.signer == "ops@example.org"


def test_full_sha_and_branch_names_work(world: World) -> None:
    sha = git(world.repo, "rev-parse", "good-ssh")
    assert _verify(world, sha).ok
    assert not _verify(world, "main").ok  # main is the old-gpg commit


def test_unsigned(world: World) -> None:
    assert _verify(world, "unsigned") == VerifyResult(False, "", "the commit is not signed")


def test_gpg_key_not_in_keyring(world: World) -> None:
    result = _verify(world, "other-gpg")
    assert not result.ok
    assert "not in the keyring" in result.reason


def test_ssh_key_not_in_allowed_signers(world: World) -> None:
    result = _verify(world, "other-ssh")
    assert not result.ok
    assert "not in the keyring" in result.reason


@pytest.mark.parametrize("tag", ["good-gpg", "good-ssh"])
def test_tampered_commit(world: World, tag: str) -> None:
    result = _verify(world, f"tampered-{tag}")
    assert not result.ok
    assert result.reason.startswith("bad signature"), result


def test_expired_key(world: World, tmp_path: Path) -> None:
    keyring = tmp_path / "keyring"
    keyring.mkdir()
    shutil.copy(world.old_key, keyring / "old.asc")
    result = _verify(world, "old-gpg", keyring)
    assert not result.ok
    assert "expired" in result.reason


def test_a_single_key_file_is_a_keyring(world: World) -> None:
    assert _verify(world, "good-gpg", world.keyring / "ops.asc").ok
    assert not _verify(world, "good-ssh", world.keyring / "ops.asc").ok
    assert _verify(world, "good-ssh", world.keyring / ALLOWED_SIGNERS).ok
    assert not _verify(world, "good-gpg", world.keyring / ALLOWED_SIGNERS).ok


def test_the_repos_own_config_is_not_trusted(world: World, tmp_path: Path) -> None:
    """A repo whose config trusts mallory and swaps the gpg program gains nothing."""
    marker = tmp_path / "ran"
    evil = tmp_path / "evil-gpg"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    evil.chmod(0o755)
    pub = (world.keyring.parent / "mallory_ed25519.pub").read_text().split()
    signers = tmp_path / "mallory_signers"
    signers.write_text(f"mallory@example.org {pub[0]} {pub[1]}\n")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(world.repo), str(clone)], check=True)
    git(clone, "fetch", "-q", "--tags")
    for key, value in (
        ("gpg.ssh.allowedSignersFile", str(signers)),
        ("gpg.program", str(evil)),
        ("gpg.openpgp.program", str(evil)),
        ("gpg.ssh.program", str(evil)),
        ("gpg.minTrustLevel", "undefined"),
    ):
        git(clone, "config", key, value)
    assert not verify_commit(clone, "other-ssh", world.keyring).ok
    assert not verify_commit(clone, "other-gpg", world.keyring).ok
    assert verify_commit(clone, "good-gpg", world.keyring).ok
    assert not marker.exists()


def test_the_callers_gpg_home_is_not_used(world: World) -> None:
    """The daemon's own GNUPGHOME (here: every key, mallory's included) is not consulted."""
    with _env({"GNUPGHOME": str(world.signer_home)}):
        assert not _verify(world, "other-gpg").ok


@pytest.mark.parametrize("rev", ["no-such-tag", "--output=/tmp/x", "good-gpg\nunsigned", ""])
def test_bad_revisions(world: World, rev: str) -> None:
    result = _verify(world, rev)
    assert not result.ok
    assert repr(rev) in result.reason


def test_bad_keyrings_and_repositories(world: World, tmp_path: Path) -> None:
    assert "holds no" in _verify(world, "good-gpg", tmp_path).reason
    assert not _verify(world, "good-gpg", tmp_path / "missing").ok
    junk = tmp_path / "junk.asc"
    junk.write_text("not a key\n")
    assert "not an OpenPGP public key" in _verify(world, "good-gpg", junk).reason
    result = verify_commit(tmp_path, "HEAD", world.keyring)
    assert result == VerifyResult(False, "", f"{tmp_path} is not a git repository")
