"""``apply`` starts from the sink's record: a one-site commit plans one site, any doubt is full."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitops_edge.cli import main
from gitops_edge.emit.dirsink import RECORD, DirSink
from gitops_edge.record import loads
from gitops_edge.sinks import RECORD as KUBE_RECORD
from gitops_edge.sinks import record_data
from tests.builders import git, git_init_commit, province, write_site
from tests.kubeapi import KubeAPIServer
from tests.plan.fleet import add_edge_node

SITES = ("guangdong", "guangxi", "hunan")


def _repo(root: Path) -> Path:
    for sid in SITES:
        write_site(root, sid, province(sid))
    git_init_commit(root)
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    """``gitops-edge ARGV -o json -q``: exit code and report."""
    capsys.readouterr()
    rc = main([*argv, "-o", "json", "-q"])
    return rc, json.loads(capsys.readouterr().out)


def _apply(repo: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    return _run(capsys, "apply", str(repo), "--emit", f"dir:{out}", *extra)


def _applied(capsys: pytest.CaptureFixture[str], repo: Path, *emit: str) -> dict[str, Any]:
    """The report of an ``apply`` into ``emit`` (``--emit X`` and its flags) that exits 0."""
    rc, report = _run(capsys, "apply", str(repo), *emit)
    assert rc == 0, report
    return report


def _planned(report: dict[str, Any]) -> list[str]:
    return sorted(s["site"] for s in report["sites"])


def _commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != RECORD
    }


def _bump(repo: Path, sid: str, revision: str) -> None:
    doc = province(sid)
    doc["spec"]["applications"][0]["source"]["targetRevision"] = revision
    write_site(repo, sid, doc)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return _repo(tmp_path / "ops")


def test_a_one_site_commit_plans_that_site_and_writes_what_a_full_run_writes(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, ref = tmp_path / "out", tmp_path / "ref"
    rc, first = _apply(repo, out, capsys)
    assert rc == 0 and "full run: no record of an earlier apply" in first["emit"]["note"]
    assert _planned(first) == ["guangdong", "guangxi", "hunan"]
    _apply(repo, ref, capsys)
    old = git(repo, "rev-parse", "HEAD")

    _bump(repo, "guangxi", "v2")
    new = _commit(repo)
    rc, second = _apply(repo, out, capsys)
    assert rc == 0
    assert f"incremental: 1 of 3 sites changed since {old[:12]}" in second["emit"]["note"]
    assert _planned(second) == ["guangxi"] and second["emit"]["written"] == 1

    rc, full = _apply(repo, ref, capsys, "--full")  # the same history, every site planned
    assert rc == 0 and _planned(full) == ["guangdong", "guangxi", "hunan"]
    assert full["emit"]["written"] == 1
    assert _tree(out) == _tree(ref)
    record = loads(DirSink(out).read_record())
    assert record is not None and record.revision == new
    assert sorted(record.identities) == ["guangdong", "guangxi", "hunan"] and not record.pending

    rc, third = _apply(repo, out, capsys)
    assert rc == 0 and _planned(third) == [] and "incremental: 0 of 3 sites" in third["emit"]["note"]


def test_a_removed_site_is_planned_and_removed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    shutil.rmtree(repo / "provinces" / "hunan")
    _commit(repo, "remove hunan")
    rc, report = _apply(repo, out, capsys)
    assert rc == 0 and "incremental: 1 of 2 sites" in report["emit"]["note"]
    assert _planned(report) == ["hunan"] and report["emit"]["deleted"] > 0
    assert not (out / "hunan").exists() and (out / "guangdong").is_dir()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("dirty", "uncommitted changes"),
        ("settings", "gitops-edge.yaml changed"),
        ("bundle", "edge-bundle/argocd-cm.yaml changed"),
        ("rewritten", "is not an ancestor of HEAD"),
        ("forced", "full run: --full"),
        ("rendered", "no record of an earlier apply"),
    ],
)
def test_any_doubt_is_a_full_run_that_says_why(
    name: str, why: str, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    extra: tuple[str, ...] = ()
    if name == "dirty":
        _bump(repo, "guangxi", "v3")
    elif name == "settings":
        (repo / "gitops-edge.yaml").write_text(
            "apiVersion: gitops-edge.io/v1alpha1\nkind: OpsRepo\nmetadata: {name: ops}\n"
            "spec: {prune: {maxDeletions: 5}}\n"
        )
        _commit(repo)
    elif name == "bundle":
        (repo / "edge-bundle").mkdir()
        (repo / "edge-bundle" / "argocd-cm.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\ndata: {a: b}\n"
        )
        _commit(repo)
    elif name == "rewritten":
        _bump(repo, "guangxi", "v4")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--amend", "-m", "rewritten")  # the old one is still there
    elif name == "forced":
        extra = ("--full",)
    elif name == "rendered":  # another writer changed the directory since the record
        _bump(repo, "guangxi", "v5")
        assert main(["render", str(repo), "--out", str(out), "-q"]) == 0
        git(repo, "checkout", "-q", "--", ".")  # the edit is gone, its render is not
    rc, report = _apply(repo, out, capsys, *extra)
    assert rc == 0, report
    assert why in report["emit"]["note"], report["emit"]["note"]
    assert _planned(report) == ["guangdong", "guangxi", "hunan"]
    if name == "rendered":
        assert report["emit"]["written"] > 0  # the full run put the committed guangxi back
        assert b"v5" not in b"".join(_tree(out / "guangxi").values())


def test_a_shallow_clone_without_the_recorded_commit_is_a_full_run(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    _bump(repo, "guangxi", "v2")
    _commit(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    rc, report = _apply(clone, out, capsys)
    assert rc == 0
    assert "is not in this shallow clone" in report["emit"]["note"]
    assert _planned(report) == ["guangdong", "guangxi", "hunan"]


def test_a_clash_makes_the_untouched_site_invalid_too_and_it_stays_planned_until_fixed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    copy = province("guangxi")
    copy["spec"]["eggo"]["cluster-id"] = "guangdong-paas"  # guangdong's cluster id: a copied directory
    write_site(repo, "guangxi", copy)
    _commit(repo, "copy")
    rc, report = _apply(repo, out, capsys)
    assert rc == 1
    gates = {s["site"]: s["gate"] for s in report["sites"]}
    assert gates == {"guangdong": "invalid", "guangxi": "invalid"}  # guangdong did not change, and is shown too
    record = loads(DirSink(out).read_record())
    assert record is not None and record.pending == {"guangdong", "guangxi"}

    write_site(repo, "guangxi", province("guangxi"))
    _commit(repo, "fix")
    rc, report = _apply(repo, out, capsys)
    assert rc == 0
    assert {s["site"]: s["gate"] for s in report["sites"]} == {"guangdong": "ready", "guangxi": "ready"}, report["emit"]["note"]
    assert "1 of 3 sites changed" in report["emit"]["note"] and "2 not in sync" in report["emit"]["note"]


def test_an_invalid_site_is_planned_again_by_every_incremental_run(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    write_site(repo, "hunan", "spec: [not, a, mapping]\n")
    _commit(repo, "break hunan")
    rc, _ = _apply(repo, out, capsys)
    assert rc == 1
    _bump(repo, "guangxi", "v2")
    _commit(repo)
    rc, report = _apply(repo, out, capsys)
    assert rc == 1 and _planned(report) == ["guangxi", "hunan"]


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the sites validated from now on (in this process), in order."""
    from gitops_edge.specs import repo as repo_module

    validated: list[str] = []
    real = repo_module.validate_site

    def counting(d: Any, *args: Any, **kwargs: Any) -> Any:
        validated.append(d.id)
        return real(d, *args, **kwargs)

    monkeypatch.setattr(repo_module, "validate_site", counting)
    return validated


def test_apply_site_loads_only_the_named_site(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    validated = _count_validations(monkeypatch)
    out = tmp_path / "out"
    rc, report = _apply(repo, out, capsys, "--site", "guangxi")
    assert rc == 0 and _planned(report) == ["guangxi"] and validated == ["guangxi"]


def test_apply_site_still_sees_a_clash_with_a_site_it_does_not_load(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = province("guangxi")
    copy["spec"]["eggo"]["masters"][0]["ip"] = province("guangdong")["spec"]["eggo"]["masters"][0]["ip"]
    write_site(repo, "guangxi", copy)
    _commit(repo)
    rc, report = _apply(repo, tmp_path / "out", capsys, "--site", "guangxi")
    assert rc == 1
    site = report["sites"][0]
    assert site["site"] == "guangxi" and site["gate"] == "invalid"
    assert "also used by site guangdong" in site["reason"]


def test_a_site_applied_alone_is_planned_again_even_when_head_goes_back(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    recorded = git(repo, "rev-parse", "HEAD")
    _bump(repo, "guangxi", "v2")
    _commit(repo)
    rc, report = _apply(repo, out, capsys, "--site", "guangxi")
    assert rc == 0 and report["emit"]["written"] == 1
    record = loads(DirSink(out).read_record())
    assert record is not None and record.revision == recorded and record.pending == {"guangxi"}

    git(repo, "reset", "-q", "--hard", recorded)  # back to what the record says
    rc, report = _apply(repo, out, capsys)
    assert rc == 0 and "incremental: 0 of 3 sites changed" in report["emit"]["note"]
    assert _planned(report) == ["guangxi"] and report["emit"]["written"] == 1
    assert b"v2" not in b"".join(_tree(out / "guangxi").values())


def test_apply_site_takes_unchanged_identities_from_the_record_and_scans_the_changed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops_edge.reconcile as reconcile_module

    out = tmp_path / "out"
    _apply(repo, out, capsys)
    scanned: list[str] = []
    real = reconcile_module.scan_identities

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        scanned.extend(i.site for i in found)
        return found

    monkeypatch.setattr(reconcile_module, "scan_identities", spy)
    copy = province("hunan")
    copy["spec"]["eggo"]["cluster-id"] = "guangxi-paas"  # changed since the record
    write_site(repo, "hunan", copy)
    _commit(repo)
    rc, report = _apply(repo, out, capsys, "--site", "guangxi")
    assert scanned == ["hunan"]  # guangdong's identity came from the record
    assert rc == 1 and "also used by site hunan" in report["sites"][0]["reason"]


def test_apply_site_of_a_removed_site_loads_every_site_the_record_cannot_vouch_for(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    shutil.rmtree(repo / "provinces" / "hunan")
    write_site(repo, "guangdong", "spec: [not, a, mapping]\n")  # changed since the record
    _commit(repo)
    _, report = _apply(repo, out, capsys, "--site", "hunan")
    site = report["sites"][0]
    assert site["site"] == "hunan" and "held back" in site["reason"]
    assert report["emit"]["deleted"] == 0 and (out / "hunan").is_dir()


def test_a_git_branch_keeps_the_record_as_a_note_on_its_tip(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "rendered.git"
    remote.mkdir()
    git(remote, "init", "-q", "--bare", "-b", "main")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = f"git:{remote}#rendered"

    def apply(*extra: str) -> dict[str, Any]:
        return _applied(capsys, repo, "--emit", target, *extra)

    first = apply()
    assert "full run: no record of an earlier apply" in first["emit"]["note"]
    old = git(repo, "rev-parse", "HEAD")
    tip = git(remote, "rev-parse", "rendered")
    assert loads(git(remote, "notes", "--ref=gitops-edge", "show", tip).encode()).revision == old

    _bump(repo, "guangxi", "v2")
    _commit(repo)
    second = apply()
    assert f"incremental: 1 of 3 sites changed since {old[:12]}" in second["emit"]["note"]
    assert _planned(second) == ["guangxi"]
    assert git(remote, "rev-list", "--count", "rendered") == "2"  # no commit for the record

    # someone else pushes to the branch: its tip has no note, the next run is full
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "rendered", str(remote), str(other))
    (other / "README").write_text("hand edit\n")
    git(other, "add", "-A")
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "by hand")
    git(other, "push", "-q", "origin", "rendered")
    _bump(repo, "hunan", "v3")
    _commit(repo)
    third = apply()
    assert "full run: no record of an earlier apply" in third["emit"]["note"]
    assert _planned(third) == list(SITES)


def test_the_cluster_keeps_the_record_in_a_configmap_and_says_what_it_cannot_see(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kube_api: KubeAPIServer
) -> None:
    for sid in SITES:
        add_edge_node(kube_api, f"{sid}-edge-01", sid)
    kubeconfig = str(kube_api.kubeconfig(tmp_path / "kubeconfig"))

    def apply(*extra: str) -> dict[str, Any]:
        emit = ("--emit", "kube", "--kubeconfig", kubeconfig, "--record-namespace", "ops")
        return _applied(capsys, repo, *emit, *extra)

    first = apply()
    assert "full run: no record of an earlier apply" in first["emit"]["note"]
    old = git(repo, "rev-parse", "HEAD")
    kept = kube_api.store.get("v1", "ConfigMap", KUBE_RECORD, "ops")
    assert kept is not None and "managed-by" not in json.dumps(kept["metadata"])  # never pruned
    record = loads(record_data(kept))
    assert record is not None and record.revision == old and set(record.identities) == set(SITES)

    _bump(repo, "guangxi", "v2")
    _commit(repo)
    second = apply()
    assert f"incremental: 1 of 3 sites changed since {old[:12]}" in second["emit"]["note"]
    assert "drift on the sites not planned is not looked at: --full" in second["emit"]["note"]
    assert _planned(second) == ["guangxi"]
    (app,) = kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-guangxi")
    assert app["spec"]["source"]["targetRevision"] == "v2"

    kube_api.store.delete("v1", "ConfigMap", KUBE_RECORD, "ops")  # no record: a full run
    assert _planned(apply()) == list(SITES)


def test_a_hand_edit_inside_a_rendered_site_makes_the_next_apply_a_full_run_that_repairs_it(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _apply(repo, out, capsys)
    (edited,) = [p for p in (out / "hunan").glob("*.yaml") if b"targetRevision: main" in p.read_bytes()]
    # in place (same inode, no rename): the site directory's mtime stays as it was
    edited.write_bytes(edited.read_bytes().replace(b"targetRevision: main", b"targetRevision: hand"))
    _bump(repo, "guangxi", "v2")
    _commit(repo)
    rc, report = _apply(repo, out, capsys)
    assert rc == 0 and "full run: no record of an earlier apply" in report["emit"]["note"]
    assert _planned(report) == list(SITES)
    repaired = edited.read_bytes()  # as rendered (at the new commit: its revision stamp)
    assert b"targetRevision: main" in repaired and b"targetRevision: hand" not in repaired


def test_into_the_cluster_waves_gate_a_one_site_commit_on_the_recorded_standing_of_the_rest(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other sites' wave, edge node and counts come from the record, their progress
    from the cluster: the waves hold as in a full run, and only the changed site loads."""
    from tests.plan.fleet import finish_jobs, heal_apps

    repo = tmp_path / "ops"
    for sid, wave in (("guangdong", 0), ("guangxi", 0), ("hunan", 1)):
        write_site(repo, sid, province(sid, rollout={"wave": wave}))
        add_edge_node(kube_api, f"{sid}-edge-01", sid)
    git_init_commit(repo)
    kubeconfig = str(kube_api.kubeconfig(tmp_path / "kubeconfig"))

    def apply() -> dict[str, Any]:
        return _applied(capsys, repo, "--emit", "kube", "--kubeconfig", kubeconfig, "--record-namespace", "ops")

    def gates(report: dict[str, Any]) -> dict[str, str]:
        return {s["site"]: s["gate"] for s in report["sites"]}

    def settle(*sites: str) -> None:
        for sid in sites:
            finish_jobs(kube_api, f"edge-{sid}")
            heal_apps(kube_api, f"edge-{sid}")

    assert gates(apply())["hunan"] == "waiting"  # wave 0 is not done yet
    settle("guangdong", "guangxi")
    assert gates(apply()) == {"hunan": "ready"}  # left waiting: planned again, now it goes
    settle("hunan")
    record = loads(record_data(kube_api.store.get("v1", "ConfigMap", KUBE_RECORD, "ops")))
    assert record is not None and not record.pending
    assert {sid: st.wave for sid, st in record.standing.items()} == {"guangdong": 0, "guangxi": 0, "hunan": 1}

    validated = _count_validations(monkeypatch)
    # an Application of wave 0 stops being healthy, then a commit touches wave 1
    (app,) = kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-guangxi")
    kube_api.store.touch(
        "argoproj.io/v1alpha1", "Application", app["metadata"]["name"], "edge-guangxi",
        patch={"status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Progressing"}}},
    )  # fmt: skip
    doc = province("hunan", rollout={"wave": 1})
    doc["spec"]["applications"][0]["source"]["targetRevision"] = "v2"
    write_site(repo, "hunan", doc)
    _commit(repo)
    held = apply()
    assert "incremental: 1 of 3 sites changed" in held["emit"]["note"]
    assert validated == ["hunan"]  # the others' standing is the record's
    (site,) = held["sites"]
    assert site["gate"] == "waiting" and "waiting for wave 0: 1/2" in site["reason"], site
    (live_app,) = kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-hunan")
    assert live_app["spec"]["source"]["targetRevision"] == "main"  # held back, not written
    heal_apps(kube_api, "edge-guangxi")
    validated.clear()
    assert gates(apply()) == {"hunan": "ready"} and validated == ["hunan"]
    (live_app,) = kube_api.store.list("argoproj.io/v1alpha1", "Application", "edge-hunan")
    assert live_app["spec"]["source"]["targetRevision"] == "v2"
