"""GitSource and LocalSource against real repositories: cost, diffs, force-pushes, outages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops_edge.daemon.affected import Change, affected_sites
from gitops_edge.daemon.localtree import LocalSource
from gitops_edge.daemon.queue import ALL, Backoff
from gitops_edge.daemon.source import ForcePush, GitSource, SourceError, Update
from gitops_edge.source.gitsafe import CredentialError, GitAuth, run_git, split_userinfo
from tests.builders import git, git_init_commit, province, write_site
from tests.daemon.gitremote import OpsRemote, edge_config_map


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def remote(tmp_path: Path) -> OpsRemote:
    return OpsRemote(tmp_path)


def source(remote: OpsRemote, tmp_path: Path, **kw: object) -> GitSource:
    return GitSource(remote.url, branch="main", cache_dir=tmp_path / "cache", **kw)  # type: ignore[arg-type]


def test_first_poll_clones_and_checks_out_the_head(remote: OpsRemote, tmp_path: Path) -> None:
    src = source(remote, tmp_path)
    update = src.prepare()
    assert isinstance(update, Update)
    assert update.revision == remote.head() and update.changes is None  # unknown: everything
    assert (src.root / "provinces/guangdong/shenzhen-1/cluster.yaml").is_file()
    with src.reading() as (root, revision):
        assert (root, revision) == (src.root, remote.head())


def test_a_quiet_poll_costs_one_ls_remote_and_nothing_else(
    remote: OpsRemote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    src.prepare()
    before = src.git_calls
    assert src.poll() is None
    assert src.poll() is None
    assert src.git_calls - before == 2  # one ls-remote per poll: no fetch, no checkout


def test_a_new_commit_is_fetched_checked_out_and_diffed_since_the_last_reconcile(
    remote: OpsRemote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    first = src.prepare()
    assert isinstance(first, Update)
    src.mark_reconciled(first.revision)
    remote.write_site("beijing", suspend=True)
    sha = remote.commit("suspend beijing")
    update = src.poll()
    assert isinstance(update, Update)
    assert (update.revision, update.previous, update.forced) == (sha, first.revision, False)
    assert update.changes == (Change("M", "provinces/beijing/cluster.yaml"),)
    assert "suspend: true" in (src.root / "provinces/beijing/cluster.yaml").read_text()
    # not marked reconciled: the next diff still starts at the first commit
    remote.write("provinces/guangdong/edge/cm.yaml", edge_config_map("cm"))
    remote.commit("guangdong edge")
    update = src.poll()
    assert isinstance(update, Update) and update.changes is not None
    assert affected_sites(update.changes) == {"beijing", "guangdong"}


def test_a_deleted_file_leaves_the_checkout(remote: OpsRemote, tmp_path: Path) -> None:
    src = source(remote, tmp_path)
    src.mark_reconciled(str(remote.head()))
    src.prepare()
    remote.remove("provinces/guangdong/shenzhen-1")
    remote.commit("remove shenzhen-1")
    update = src.poll()
    assert isinstance(update, Update) and update.changes is not None
    assert affected_sites(update.changes) == {"guangdong-shenzhen-1"}
    assert not (src.root / "provinces/guangdong/shenzhen-1").exists()


def test_force_push_is_refused_once_then_costs_one_call_until_a_descendant_returns(
    remote: OpsRemote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    src.prepare()
    good = remote.commit("second")
    src.poll()
    assert src.served == good
    rewritten = remote.rewrite()
    refused = src.poll()
    assert isinstance(refused, ForcePush)
    assert (refused.served, refused.head) == (good, rewritten)
    assert "force-pushed" in refused.describe() and "still serving" in refused.describe()
    assert src.served == good and src.blocked == refused
    assert not (src.root / "provinces/beijing/edge/rewritten.yaml").exists()
    before = src.git_calls
    assert src.poll() is None  # reported once; the same head again is one ls-remote
    assert src.git_calls - before == 1
    remote.reset_to(good)
    remote.write_site("beijing", suspend=True)
    descendant = remote.commit("back on the reviewed history")
    update = src.poll()
    assert isinstance(update, Update) and update.revision == descendant
    assert src.blocked is None


def test_force_push_is_followed_when_asked(remote: OpsRemote, tmp_path: Path) -> None:
    src = source(remote, tmp_path, on_force_push="follow")
    src.prepare()
    remote.commit("second")
    src.poll()
    rewritten = remote.rewrite()
    update = src.poll()
    assert isinstance(update, Update) and update.forced and update.revision == rewritten
    assert (src.root / "provinces/beijing/edge/rewritten.yaml").is_file()


def test_remote_down_keeps_the_checkout_backs_off_and_recovers(
    remote: OpsRemote, tmp_path: Path
) -> None:
    clock = Clock()
    src = source(remote, tmp_path, clock=clock, backoff=Backoff(base=1.0, cap=8.0))
    src.prepare()
    served = src.served
    away = tmp_path / "away.git"
    remote.bare.rename(away)
    with pytest.raises(SourceError, match="ls-remote"):
        src.poll()
    assert (src.errors, src.failures, src.served) == (1, 1, served)
    assert (src.root / "provinces/beijing/cluster.yaml").is_file()
    calls = src.git_calls
    assert src.backing_off and src.poll() is None and src.git_calls == calls  # not hammered
    clock.now += 1.0
    with pytest.raises(SourceError):
        src.poll()
    assert src.failures == 2 and src.backing_off
    clock.now += 2.0
    away.rename(remote.bare)
    sha = remote.commit("while it was down")
    update = src.poll()
    assert isinstance(update, Update) and update.revision == sha
    assert (src.failures, src.last_error, src.errors) == (0, "", 2)


def test_garbage_where_the_remote_was_is_an_error_not_a_crash(
    remote: OpsRemote, tmp_path: Path
) -> None:
    src = source(remote, tmp_path)
    src.prepare()
    shutil.rmtree(remote.bare)
    remote.bare.mkdir()
    (remote.bare / "HEAD").write_text("garbage\n")
    with pytest.raises(SourceError):
        src.poll(force=True)
    assert src.served is not None


def test_a_restart_serves_the_cached_checkout_without_cloning(
    remote: OpsRemote, tmp_path: Path
) -> None:
    first = source(remote, tmp_path)
    first.prepare()
    (first.root / "stray.txt").write_text("left by a crash")
    again = source(remote, tmp_path)
    assert again.prepare() is None  # same head: nothing new
    assert again.served == remote.head()
    assert not (again.root / "stray.txt").exists()


def test_a_broken_cache_is_cloned_again(remote: OpsRemote, tmp_path: Path) -> None:
    src = source(remote, tmp_path)
    src.prepare()
    shutil.rmtree(src.workdir / ".git" / "objects")
    again = source(remote, tmp_path)
    update = again.prepare()
    assert isinstance(update, Update) and update.revision == remote.head()


def test_ops_tree_in_a_subdirectory(tmp_path: Path) -> None:
    remote = OpsRemote(tmp_path, subdir="fleet")
    src = GitSource(remote.url, path="fleet", cache_dir=tmp_path / "cache")
    src.mark_reconciled(remote.head())
    src.prepare()
    assert (src.root / "provinces/beijing/cluster.yaml").is_file()
    (remote.work / "apps").mkdir()
    (remote.work / "apps/x.yaml").write_text("a: 1\n")
    remote.write_site("beijing", suspend=True)
    remote.commit("two trees")
    update = src.poll()
    assert isinstance(update, Update)
    assert update.changes == (Change("M", "provinces/beijing/cluster.yaml"),)


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "-uhelp", "fd::17", "gopher://example.org/x"],
)
def test_unsafe_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        GitSource(url, cache_dir=tmp_path)


@pytest.mark.parametrize("path", ["/etc", "../outside", "a/../../b"])
def test_ops_tree_must_stay_inside_the_repo(path: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="--path"):
        GitSource("https://git.example/ops.git", path=path, cache_dir=tmp_path)


def test_local_work_tree_is_read_in_place_and_commits_are_diffed(tmp_path: Path) -> None:
    write_site(tmp_path, "beijing", province("beijing"))
    write_site(tmp_path, "hebei", province("hebei"))
    first = git_init_commit(tmp_path)
    src = LocalSource(tmp_path)
    update = src.prepare()
    assert isinstance(update, Update) and update.revision == first and update.changes is None
    src.mark_reconciled(first)
    assert src.poll() is None
    write_site(tmp_path, "hebei", province("hebei", suspend=True))
    assert src.poll() == Update(first + "-dirty", first, None)  # edits: the watcher knows more
    git(tmp_path, "commit", "-qam", "suspend hebei")
    update = src.poll()
    assert isinstance(update, Update)
    assert update.changes == (Change("M", "provinces/hebei/cluster.yaml"),)


def test_plain_directory_is_unversioned(tmp_path: Path) -> None:
    write_site(tmp_path, "beijing", province("beijing"))
    src = LocalSource(tmp_path)
    update = src.prepare()
    assert isinstance(update, Update) and update.revision == "unversioned"
    with src.reading() as (root, revision):
        assert (root, revision) == (tmp_path, "unversioned")
    missing = LocalSource(tmp_path, path="nope")
    with pytest.raises(SourceError, match="not a directory"):
        missing.prepare()
    assert ALL == "*"


# -- credentials ------------------------------------------------------------------------


def test_userinfo_is_taken_out_of_the_url_and_sent_as_a_header_from_memory(
    tmp_path: Path,
) -> None:
    split = split_userinfo("https://deploy:t%40ken@git.example:8443/ops.git")
    assert split.url == "https://git.example:8443/ops.git"
    assert (split.username, split.password) == ("deploy", "t@ken")
    assert split_userinfo("git@git.example:ops.git").url == "git@git.example:ops.git"
    auth = GitAuth(split.url, username=split.username, password=split.password)
    env = auth.env()
    assert "t@ken" not in repr(env) and env["GIT_CONFIG_KEY_0"] == "include.path"
    included = Path(env["GIT_CONFIG_VALUE_0"]).read_text()
    assert '[http "https://git.example:8443/"]' in included
    assert "Authorization: Basic ZGVwbG95OnRAa2Vu" in included  # base64("deploy:t@ken")
    assert not str(env["GIT_CONFIG_VALUE_0"]).startswith(str(tmp_path))
    auth.close()


def test_credential_files_are_read_on_every_call_and_bad_ones_named(tmp_path: Path) -> None:
    creds = tmp_path / "git-credentials"
    creds.write_text("https://other:x@elsewhere.example\nhttps://bot:tok1@git.example\n")
    auth = GitAuth("https://git.example/ops.git", credentials_file=creds)
    assert auth.header() == "Authorization: Basic Ym90OnRvazE="
    creds.write_text("https://bot:tok2@git.example\n")  # the Secret was rotated
    assert auth.header() == "Authorization: Basic Ym90OnRvazI="
    creds.write_text("bot:tok\n")
    with pytest.raises(CredentialError, match="line 1: expected https://USER:TOKEN@HOST"):
        auth.header()
    header = tmp_path / "header"
    header.write_text("Bearer abc\n")
    assert GitAuth("https://git.example/x", header_file=header).header() == (
        "Authorization: Bearer abc"
    )
    with pytest.raises(CredentialError, match="is empty"):
        header.write_text("")
        GitAuth("https://git.example/x", header_file=header).header()
    # an optional Secret that is not mounted: no credentials, no error
    assert GitAuth("https://git.example/x", header_file=tmp_path / "absent").env() == {}


def test_git_children_get_an_allow_listed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_EDGE_WEBHOOK_SECRET", "whsec-x")
    monkeypatch.setenv("KUBE_TOKEN", "tok")
    monkeypatch.setenv("LC_ALL", "C")
    done = run_git(["var", "GIT_EDITOR"], env={"GIT_EDITOR": "true"})
    assert done.returncode == 0
    env = run_git(["-c", "alias.env=!env", "env"]).stdout
    assert "whsec-x" not in env and "KUBE_TOKEN" not in env
    assert "LC_ALL=C" in env and "GIT_TERMINAL_PROMPT=0" in env


def test_a_cache_made_with_a_token_in_its_url_is_dropped(tmp_path: Path) -> None:
    import hashlib

    remote = OpsRemote(tmp_path)
    url = f"http://bot:glpat-old@127.0.0.1:9/{remote.bare.name}"
    legacy = tmp_path / "cache" / "repos" / hashlib.sha256(f"{url}#main".encode()).hexdigest()[:16]
    (legacy / ".git").mkdir(parents=True)
    (legacy / ".git" / "config").write_text(f'[remote "origin"]\n\turl = {url}\n')
    source = GitSource(url, cache_dir=tmp_path / "cache")
    assert not legacy.exists()
    assert source.url == f"http://127.0.0.1:9/{remote.bare.name}" and source.had_userinfo
    assert "glpat-old" not in source.describe()
