"""Every hostile input of the corpus through the real command line, next to two good sites.

For each case the repository is built in a fresh directory and ``gitops-edge validate
--output json`` runs in a subprocess (``render`` too for a subset). What must hold:

- the command returns within :data:`TIME_BOUND` (an alias bomb or a FIFO must not hang)
  and no traceback reaches stdout or stderr;
- one error names the case's file and field and says what is wrong, on one line;
- the good sites stay valid and are rendered; nothing is written for the hostile one
  (for a repo-wide input, every site is held and nothing is written at all);
- no shell payload reaches a rendered file, and every eggo Job runs the fixed argv.

The commands of all selected cases run in a thread pool (each is a separate process)
so the corpus costs what the machine's cores allow, not the sum of ~100 start-ups.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_edge.render.eggo_job import eggo_argv
from tests.builders import province, write_site
from tests.hostile.cases import BAD, CASES, CORPUS, GOOD, Case

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TIME_BOUND = 20.0
"""Seconds any one command may take on any hostile input."""
EGGO_ARGV = ["eggo", "deploy", "-f", "/etc/eggo/config/deploy.yaml"]


@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


@dataclass(frozen=True)
class CaseRun:
    root: Path
    out: Path
    validate: Run
    render: Run | None


_PYCACHE = Path(tempfile.gettempdir()) / "gitops-edge-hostile-pycache"


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment, the package importable, and byte code cached.

    Byte code goes to a private cache directory (never into the work tree), so that
    with PYTHONDONTWRITEBYTECODE set the ~100 commands do not each compile the package.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    return {**env, **(extra or {})}


def cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """``python -m gitops_edge ARGS`` as a user runs it; TimeoutExpired past the bound."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gitops_edge", *(os.fspath(a) for a in args)],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        timeout=TIME_BOUND,
        check=False,
    )
    return Run(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        time.monotonic() - start,
    )


def build_repo(case: Case, base: Path) -> Path:
    root = base / "repo"
    root.mkdir()
    for name in GOOD:
        write_site(root, name, province(name))
    case.build(root)
    return root


def run_case(case: Case, base: Path) -> CaseRun:
    root = build_repo(case, base)
    out = base / "out"
    validate = cli("validate", root, "--output", "json", cwd=base)
    render = (
        cli("render", root, "--out", out, "--output", "json", cwd=base) if case.render else None
    )
    return CaseRun(root, out, validate, render)


def _selected(session: pytest.Session) -> set[str]:
    ids: set[str] = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case):
            ids.add(case.id)
    return ids


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[CaseRun]]:
    """Every selected case, run concurrently once; the slow ones are started first."""
    wanted = _selected(request.session)
    chosen = sorted(
        (c for c in CASES if c.id in wanted), key=lambda c: (not c.id.startswith("huge"), c.id)
    )
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    request.addfinalizer(pool.shutdown)
    return {c.id: pool.submit(run_case, c, tmp_path_factory.mktemp(c.id)) for c in chosen}


def _params() -> list[Any]:
    marks = {c.id: pytest.mark.xfail(strict=True, reason=c.bug) for c in CASES if c.bug}
    return [pytest.param(c, id=c.id, marks=marks.get(c.id, ())) for c in CASES]


def _clean(run: Run, what: str) -> None:
    assert "Traceback" not in run.stdout + run.stderr, f"{what}:\n{run.stdout}\n{run.stderr}"
    assert run.seconds < TIME_BOUND, f"{what} took {run.seconds:.1f}s"


def _errors(report: dict[str, Any]) -> list[dict[str, str]]:
    return [*report["errors"], *(e for s in report["sites"] for e in s["errors"])]


def _by_site(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_site: dict[str, list[dict[str, Any]]] = {}
    for entry in report["sites"]:
        by_site.setdefault(entry["site"], []).append(entry)
    return by_site


def check_validate(case: Case, run: Run) -> None:
    _clean(run, "validate")
    report = run.report()
    by_site = _by_site(report)
    errors = _errors(report)
    shown = json.dumps(errors, indent=1, ensure_ascii=False)
    for name in GOOD:
        (entry,) = by_site[name]
        if case.scope == "site":
            assert entry["valid"] and not entry["errors"], f"good site {name} hurt: {shown}"
        else:
            assert not entry["valid"], f"{name} used with a broken repo-wide file"
    if case.accepted:
        assert run.rc == 0, shown
        assert not errors
        assert all(e["valid"] for entries in by_site.values() for e in entries)
        return
    assert run.rc == 1, (run.rc, run.stderr)
    assert any(
        e["file"] == case.file
        and e["field"] == case.field
        and case.says.lower() in e["message"].lower()
        for e in errors
    ), f"no error {case.file!r} {case.field!r} {case.says!r} in {shown}"
    for e in errors:
        assert e["file"], f"an error names no file: {e}"
        assert "\n" not in e["message"], f"a message spans lines: {e['message']!r}"
    if case.site is None:
        assert set(by_site) == set(GOOD), f"the hostile input became a site: {set(by_site)}"
    else:
        assert by_site.get(case.site), f"site {case.site!r} not reported"
        assert not any(e["valid"] for e in by_site[case.site])


def _rendered(out: Path) -> dict[str, bytes]:
    if not out.exists():
        return {}
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def check_render(case: Case, result: CaseRun) -> None:
    run = result.render
    assert run is not None
    _clean(run, "render")
    assert run.rc == result.validate.rc, (run.rc, run.stderr)
    report = run.report()
    expected = set(GOOD) if case.scope == "site" else set()
    if case.accepted and case.site is not None:
        expected.add(case.site)
    written = {p.name for p in result.out.iterdir() if p.is_dir()} if result.out.exists() else set()
    assert written == expected, f"rendered {written}, expected {expected}"
    for entry in report["sites"]:
        assert entry["rendered"] == (entry["site"] in expected), entry
    files = _rendered(result.out)
    for name in expected:
        assert f"{name}/Kustomization" in files
    for path, data in files.items():
        assert case.render_lacks.encode() not in data, f"{case.render_lacks!r} reached {path}"
        if "-job-" in path:
            job = yaml.safe_load(data)
            (container,) = job["spec"]["template"]["spec"]["containers"]
            assert eggo_argv(container["command"]) == EGGO_ARGV, path
    if case.render_has:
        own = b"".join(data for path, data in files.items() if path.startswith(f"{BAD}/"))
        assert case.render_has.encode() in own


@pytest.mark.parametrize("case", _params())
def test_hostile_input(case: Case, runs: dict[str, Future[CaseRun]]) -> None:
    result = runs[case.id].result()
    check_validate(case, result.validate)
    if case.render:
        check_render(case, result)


def test_corpus_is_large_and_every_file_is_used() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    source = (Path(__file__).parent / "cases.py").read_text()
    unused = [p.name for p in CORPUS.iterdir() if f'"{p.name}"' not in source]
    assert not unused


def _case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def test_human_output_names_file_and_field(tmp_path: Path) -> None:
    root = build_repo(_case("cluster-id-newline"), tmp_path)
    run = cli("validate", root, cwd=tmp_path)
    _clean(run, "validate")
    assert run.rc == 1
    lines = run.stdout.splitlines()
    assert (
        "provinces/bad/cluster.yaml:6:5: spec.eggo.cluster-id: 'bad-paas\\n' is not a DNS-1123"
        in "\n".join(lines)
    )
    assert lines[-1] == "3 site(s): 2 valid, 1 invalid"




@pytest.mark.parametrize("case_id", ["id-not-utf8", "id-newline"])
def test_human_output_shows_a_hostile_directory_on_one_line(tmp_path: Path, case_id: str) -> None:
    root = build_repo(_case(case_id), tmp_path)
    run = cli("validate", root, cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    _clean(run, "validate")
    assert run.rc == 1
    *problems, summary = run.stdout.splitlines()
    assert summary == "3 site(s): 2 valid, 1 invalid"
    assert problems and all(line.startswith("provinces/") for line in problems), problems
