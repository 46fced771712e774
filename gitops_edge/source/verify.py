"""Signed commits: is a revision of the ops repo signed by a key the operators trust?

Pull requests on the ops repo are the fleet's change control; with ``--verify-commits
KEYRING`` a revision is only used when git itself verifies its signature against
KEYRING. KEYRING is the only source of trust: a directory holding OpenPGP public keys
(``*.asc``, ``*.gpg``) and/or an SSH ``allowed_signers`` file, or one such file.

Nothing the repository says is trusted. The repo's config could name another
allowed-signers file, a ``gpg.program`` that runs anything, or a trust level; every one
of those keys is set on the command line (``-c``), which wins over every config file,
and the user's and system's git config are not read. gpg runs with a private, temporary
home that holds exactly the keyring's keys (marked trusted: being in the keyring is
the trust decision) and never fetches keys from the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from gitops_edge.source.gitsafe import git_call

ALLOWED_SIGNERS = "allowed_signers"
GPG_KEY_SUFFIXES = (".asc", ".gpg")
GPG_CONF = "no-auto-key-retrieve\nno-auto-key-locate\nno-greeting\nbatch\n"
_FIELDS = "%G?%x00%GS%x00%GK%x00%GF"

_STATUS = {
    "B": "bad signature: the commit was changed after it was signed",
    "U": "signed by a key that is not in the keyring",
    "X": "the signature has expired",
    "Y": "signed by a key that has expired",
    "R": "signed by a key that has been revoked",
    "E": "the signature cannot be checked: the key is not in the keyring",
    "N": "the commit is not signed",
}
"""git's ``%G?`` letters other than ``G`` (good and trusted), as operators read them."""


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` only for a good signature by a key in the keyring; ``reason`` says why not."""

    ok: bool
    signer: str
    reason: str


def verify_commit(repo_path: Path, rev: str, keyring: Path) -> VerifyResult:
    """Verify the signature of commit ``rev`` of the repository at ``repo_path``."""
    if not rev or rev.startswith("-") or any(c.isspace() or not c.isprintable() for c in rev):
        return VerifyResult(False, "", f"revision {rev!r} is not a revision name")
    try:
        gpg_keys, signers = _keyring_files(keyring)
    except OSError as exc:
        return VerifyResult(False, "", f"keyring {keyring}: {exc.strerror or exc}")
    if not gpg_keys and signers is None:
        return VerifyResult(
            False, "", f"keyring {keyring} holds no *.asc/*.gpg key and no {ALLOWED_SIGNERS}"
        )
    try:
        repo = git.Repo(repo_path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return VerifyResult(False, "", f"{repo_path} is not a git repository")
    with tempfile.TemporaryDirectory(prefix="gitops-edge-gnupg-") as home:
        try:
            problem = _gpg_home(Path(home), gpg_keys)
            if problem:
                return VerifyResult(False, "", problem)
            return _verify(repo, rev, Path(home), signers)
        finally:
            _stop_gpg(Path(home))
            repo.close()


def _keyring_files(keyring: Path) -> tuple[list[Path], Path | None]:
    """The GPG key files and the allowed-signers file KEYRING names."""
    if keyring.is_dir():
        files = sorted(p for p in keyring.iterdir() if p.is_file())
    elif keyring.is_file():
        files = [keyring]
    else:
        raise FileNotFoundError(2, "no such file or directory")
    keys = [p.resolve() for p in files if p.suffix in GPG_KEY_SUFFIXES]
    signers = next((p.resolve() for p in files if p.name == ALLOWED_SIGNERS), None)
    return keys, signers


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_program("gpg"), "--homedir", str(home), "--batch", "--no-tty", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, "GNUPGHOME": str(home)},
    )


def _gpg_home(home: Path, keys: list[Path]) -> str | None:
    """Import ``keys`` into the fresh ``home`` and trust them; a reason on failure."""
    home.chmod(0o700)
    (home / "gpg.conf").write_text(GPG_CONF)
    for key in keys:
        done = _gpg(home, "--import", str(key))
        if done.returncode != 0:
            return f"keyring {key.name}: not an OpenPGP public key ({_last_line(done.stderr)})"
    if not keys:
        return None
    listed = _gpg(home, "--with-colons", "--list-keys")
    fingerprints = _primary_fingerprints(listed.stdout.decode(errors="replace"))
    trust = "".join(f"{fpr}:6:\n" for fpr in fingerprints).encode()
    done = _gpg(home, "--import-ownertrust", stdin=trust)
    if done.returncode != 0:
        return f"cannot trust the keyring's keys: {_last_line(done.stderr)}"
    return None


def _primary_fingerprints(colons: str) -> list[str]:
    """Fingerprints of primary keys in ``gpg --with-colons`` output (the line after ``pub``)."""
    out: list[str] = []
    after_pub = False
    for line in colons.splitlines():
        kind = line.split(":", 1)[0]
        if kind == "pub":
            after_pub = True
        elif kind == "fpr" and after_pub:
            out.append(line.split(":")[9])
            after_pub = False
    return out


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no detail"


def _program(name: str) -> str:
    return shutil.which(name) or name


def _config(signers: Path | None) -> list[str]:
    """``-c`` options that replace every signature setting a config file could make."""
    gpg = _program("gpg")
    settings = {
        "gpg.program": gpg,
        "gpg.openpgp.program": gpg,
        "gpg.x509.program": _program("false"),
        "gpg.ssh.program": _program("ssh-keygen"),
        "gpg.ssh.allowedSignersFile": str(signers) if signers else os.devnull,
        "gpg.ssh.revocationFile": os.devnull,
        "gpg.minTrustLevel": "fully",
    }
    out: list[str] = []
    for key, value in settings.items():
        out.extend(("-c", f"{key}={value}"))
    return out


def _verify(repo: git.Repo, rev: str, home: Path, signers: Path | None) -> VerifyResult:
    env = {
        "GNUPGHOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    options = _config(signers)
    # git_call(repo, "-c", "k=v", ..., "log", ...) runs `git <safety -c> -c k=v ... log ...`:
    # options before the subcommand, where they override every config file.
    try:
        sha = git_call(
            repo,
            *options,
            "rev-parse",
            "--verify",
            "--end-of-options",
            f"{rev}^{{commit}}",
            env=env,
        ).strip()
        out = git_call(repo, *options, "log", "-1", f"--format={_FIELDS}", sha, "--", env=env)
    except git.GitCommandError:
        return VerifyResult(False, "", f"revision {rev!r} is not a commit of this repository")
    status, signer, key, fingerprint = (*out.strip("\n").split("\x00"), "", "", "", "")[:4]
    who = signer or fingerprint or key
    if status == "G":
        return VerifyResult(True, who, f"good signature by {who}")
    reason = _STATUS.get(status, f"unexpected signature status {status!r}")
    if who and status not in ("N", "E"):
        reason += f" ({who})"
    elif key and status == "E":
        reason += f" (key {key})"
    return VerifyResult(False, who, reason)


def _stop_gpg(home: Path) -> None:
    """Stop any gpg-agent or dirmngr started for the temporary home (best effort)."""
    gpgconf = shutil.which("gpgconf")
    if gpgconf is not None:
        subprocess.run(
            [gpgconf, "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            check=False,
            timeout=30,
        )
