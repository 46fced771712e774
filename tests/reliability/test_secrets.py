"""No credential leaves the daemon: not in an emitted file, an annotation or a log line.

``gitops-edge run`` runs as a subprocess with ``--log-level debug`` (the chattiest
setting: GitPython logs every command line it runs) and JSON logs on stderr. It follows
the bundled sample fleet on a private smart-HTTP remote that requires Basic credentials,
given as ``http://user:token@host/ops.git``, with a webhook secret. The remote fails for
a while (errors quoting the URL get logged), webhooks arrive with the right secret and
with wrong ones, and a commit adds hostile sites: an eggo ``password``, and a Secret
holding an SSH private key in an edge bundle. Afterwards the token, its Basic-auth
encoding, the webhook secret, the password and the key are nowhere in stderr, stdout
or the emitted tree, while the logs do show the URL without its credentials (proof it
was logged, not simply never mentioned).
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders import git, province, write_site
from tests.daemon.harness import (
    ROOT,
    Spawned,
    free_port,
    github_signature,
    http,
    metric,
    wait_for,
)
from tests.reliability.gitserver import GitHTTPServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = ROOT / "sample-repo"
USER = "ops-bot"
TOKEN = "glpat-Rel1abil1tyT0ken9f8e7d"
WEBHOOK_SECRET = "whsec-Rel1abil1ty-5c4b3a2918"
PASSWORD = "Hunter2-Rel1abil1ty-Pw"
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQRel1abil1tyKey"
PRIVATE_KEY = (
    f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
)
FORBIDDEN = (
    TOKEN,
    base64.b64encode(f"{USER}:{TOKEN}".encode()).decode(),
    WEBHOOK_SECRET,
    PASSWORD,
    KEY_BODY,
    "PRIVATE KEY-----\n",
)


def leaks(text: str) -> list[str]:
    found = [s for s in FORBIDDEN if s in text]
    if "BEGIN OPENSSH PRIVATE KEY" in text and "*** -----END" not in text:
        found.append("an unmasked PEM block")
    return found


def tree_text(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def hostile_commit(work: Path) -> None:
    """Credentials where they must never be: refused, and never echoed."""
    leaky = province("zz-leaky")
    leaky["spec"]["eggo"]["password"] = PASSWORD
    leaky["spec"]["eggo"]["username"] = "root"
    write_site(work, "zz-leaky", leaky)
    write_site(work, "zz-keyed", province("zz-keyed"))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "eggo-ssh"},
        "type": "kubernetes.io/ssh-auth",
        "stringData": {"ssh-privatekey": PRIVATE_KEY},
    }
    edge = work / "provinces" / "zz-keyed" / "edge"
    edge.mkdir(parents=True)
    (edge / "eggo-ssh.yaml").write_text(yaml.safe_dump(secret, sort_keys=False))


def test_no_token_password_key_or_webhook_secret_in_logs_or_emitted_files(tmp_path: Path) -> None:
    srv, work, out = tmp_path / "srv", tmp_path / "work", tmp_path / "out"
    srv.mkdir()
    git(srv, "init", "-q", "--bare", "-b", "main", str(srv / "ops.git"))
    shutil.copytree(SAMPLE, work)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the sample fleet")
    git(work, "push", "-q", str(srv / "ops.git"), "main")
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    with GitHTTPServer(srv, auth=(USER, TOKEN)) as server:
        url = server.url("ops.git", userinfo=f"{USER}:{TOKEN}")
        with Spawned(
            "run", "--repo", url, "--emit", f"dir:{out}", "--cache-dir", tmp_path / "cache",
            "--listen", f"127.0.0.1:{port}", "--webhook-secret-file", secret_file,
            "--poll-interval", "0.5", "--log-level", "debug", "--log-format", "json",
            cwd=tmp_path,
        ) as daemon:  # fmt: skip
            wait_for(
                lambda: (out / "zhejiang-ningbo").is_dir() and len(list(out.iterdir())) >= 37,
                timeout=90,
                what=f"the first render ({daemon.log_path})",
            )
            # the remote fails: git's errors (which quote the URL) are logged
            server.fail("unavailable")
            wait_for(lambda: metric(port, "gitops_edge_git_errors_total") >= 1, timeout=30)
            server.heal()

            # webhooks: the secret as GitLab sends it, a signed push, and forgeries
            body = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
            deliveries = [
                ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": WEBHOOK_SECRET}, 202),
                ({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": WEBHOOK_SECRET[:-1]}, 403),
                ({"X-GitHub-Event": "push",
                  "X-Hub-Signature-256": github_signature(WEBHOOK_SECRET.encode(), body)}, 202),
                ({"X-GitHub-Event": "push",
                  "X-Hub-Signature-256": github_signature(b"guessed", body)}, 403),
            ]  # fmt: skip
            for headers, status in deliveries:
                assert http("POST", f"{base}/webhook", body=body, headers=headers)[0] == status

            # hostile sites arrive
            hostile_commit(work)
            git(work, "add", "-A")
            git(work, "commit", "-q", "-m", "credentials where they do not belong")
            git(work, "push", "-q", str(srv / "ops.git"), "main")
            sha = git(work, "rev-parse", "HEAD")

            def reconciled() -> bool:
                for line in daemon.log().splitlines():
                    if line.startswith("{"):
                        event = json.loads(line)
                        if event.get("event") in ("reconciled", "reconcile incomplete") and (
                            event.get("revision") == sha
                        ):
                            return True
                return False

            wait_for(reconciled, timeout=60, what=f"the hostile commit ({daemon.log_path})")
            assert not (out / "zz-keyed").exists() and not (out / "zz-leaky").exists()
            assert metric(port, 'gitops_edge_sites{state="invalid"}') == 2
            assert daemon.stop(signal.SIGTERM) == 0
            log = daemon.log()

        # one-shot, as CI or an operator runs it: the report names the refused fields
        once = subprocess.run(
            [sys.executable, "-m", "gitops_edge", "run", "--repo", url, "--once",
             "--emit", f"dir:{tmp_path / 'once'}", "--cache-dir", str(tmp_path / "cache-once"),
             "--log-level", "debug"],
            capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
        )  # fmt: skip
        assert once.returncode == 1, once.stderr[-3000:]  # two invalid sites
        assert "must not be stored in Git" in once.stdout and "zz-keyed" in once.stdout
        assert len([p for p in (tmp_path / "once").iterdir() if p.is_dir()]) == 37

    lines = [line for line in log.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e.get("level") == "debug" for e in events)
    # the URL was logged with its credentials taken out; git errors and the hostile
    # sites were reported
    assert server.url("ops.git") in log
    assert any("cannot read the ops repo" in str(e.get("event")) for e in events)
    assert '"zz-keyed", "zz-leaky"' in log  # the hostile commit was read and planned
    for name, text in [("daemon log", log), ("--once stdout", once.stdout),
                       ("--once stderr", once.stderr)]:  # fmt: skip
        assert not leaks(text), f"{name} leaks {leaks(text)}"
    for tree in (out, tmp_path / "once"):
        for path, text in tree_text(tree).items():
            assert not leaks(text), f"{path} leaks {leaks(text)}"


def test_a_token_in_an_application_repo_url_is_refused_not_emitted(tmp_path: Path) -> None:
    repo, out = tmp_path / "ops", tmp_path / "out"
    doc = province("beijing")
    doc["spec"]["applications"][0]["source"]["repoURL"] = (
        f"https://deploy:{TOKEN}@git.example/ops.git"
    )
    write_site(repo, "beijing", doc)
    done = subprocess.run(
        [sys.executable, "-m", "gitops_edge", "render", str(repo), "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    emitted = "".join(tree_text(out).values()) if out.is_dir() else ""
    assert TOKEN not in emitted and TOKEN not in done.stdout + done.stderr
    assert done.returncode == 1 and "repoURL" in done.stdout + done.stderr
