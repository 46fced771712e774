"""Metrics: private registries, site states from a plan, and what /metrics exposes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gitops_edge.daemon.sitestate import SiteStates
from gitops_edge.emit.result import EmitResult, SiteResult
from gitops_edge.observe.metrics import SITE_STATES, Metrics, site_state
from gitops_edge.plan.model import ObjectChange, Plan, SitePlan
from gitops_edge.plan.waves import gate_waves

CM = ("v1", "ConfigMap", "gitops-edge-guangdong", "eggo-config")


def change(action: str) -> ObjectChange:
    return ObjectChange(action=action, key=CM)  # type: ignore[arg-type]


def sites(metrics: Metrics) -> dict[str, float | None]:
    return {
        state: metrics.registry.get_sample_value("gitops_edge_sites", {"state": state})
        for state in SITE_STATES
    }


def small_plan() -> Plan:
    return Plan(
        revision="0123abcd",
        sites=(
            SitePlan("guangdong", 0, "ready", changes=(change("update"), change("unchanged"))),
            SitePlan("hunan", 0, "ready", changes=(change("unchanged"),)),
            SitePlan("hubei", 0, "ready"),
            SitePlan("xizang", 1, "deferred", reason="edge node offline"),
            SitePlan("qinghai", 1, "blocked", reason="rebuild not allowed"),
            SitePlan("gansu", 1, "suspended"),
            SitePlan("ningxia", 1, "suspended"),
            SitePlan("hainan", 2, "invalid"),
            SitePlan("yunnan", 2, "waiting"),
            SitePlan("old-site", 0, "removed", changes=(change("delete"),)),
        ),
    )


def test_each_instance_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()  # no "Duplicated timeseries"
    assert one.registry is not two.registry
    one.queue_depth.set(3)
    assert two.registry.get_sample_value("gitops_edge_queue_depth") == 0.0


def test_a_given_registry_is_used() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    assert metrics.registry is registry
    assert registry.get_sample_value("gitops_edge_leader") == 0.0


def test_observe_plan_counts_sites_by_state_with_ready_and_nothing_to_do_as_unchanged() -> None:
    metrics = Metrics()
    metrics.observe_plan(small_plan())
    assert sites(metrics) == {
        "ready": 1.0,
        "unchanged": 2.0,
        "deferred": 1.0,
        "blocked": 1.0,
        "failed": 0.0,
        "suspended": 2.0,
        "invalid": 1.0,
        "waiting": 1.0,
        "removed": 1.0,
    }


def test_a_later_plan_resets_states_it_no_longer_has() -> None:
    metrics = Metrics()
    metrics.observe_plan(small_plan())
    metrics.observe_plan(Plan(revision="feed", sites=(SitePlan("hunan", 0, "ready"),)))
    expected = dict.fromkeys(SITE_STATES, 0.0)
    expected["unchanged"] = 1.0
    assert sites(metrics) == expected


def test_site_state() -> None:
    assert site_state(SitePlan("a", 0, "ready", changes=(change("create"),))) == "ready"
    assert site_state(SitePlan("a", 0, "ready", changes=(change("unchanged"),))) == "unchanged"
    assert site_state(SitePlan("a", 0, "deferred", changes=(change("create"),))) == "deferred"


def test_exposition_has_every_series() -> None:
    metrics = Metrics()
    metrics.observe_plan(small_plan())
    metrics.reconcile_seconds.labels(result="ok").observe(0.3)
    metrics.git_errors.inc()
    metrics.mark_synced("guangdong", at=1_795_000_000.0)
    metrics.leader.set(1)
    metrics.emitted_objects.labels(action="update").inc(2)
    metrics.queue_depth.set(4)
    text = generate_latest(metrics.registry).decode()
    for line in (
        'gitops_edge_reconcile_duration_seconds_bucket{le="0.5",result="ok"} 1.0',
        'gitops_edge_reconcile_duration_seconds_count{result="error"} 0.0',
        "gitops_edge_queue_depth 4.0",
        'gitops_edge_sites{state="unchanged"} 2.0',
        'gitops_edge_sites{state="removed"} 1.0',
        "gitops_edge_git_errors_total 1.0",
        'gitops_edge_last_successful_sync_timestamp_seconds{site="guangdong"} 1.795e+09',
        "gitops_edge_leader 1.0",
        'gitops_edge_emitted_objects_total{action="update"} 2.0',
        'gitops_edge_emitted_objects_total{action="delete"} 0.0',
    ):
        assert line in text, line


def test_a_removed_site_leaves_no_series_behind() -> None:
    metrics = Metrics()
    metrics.mark_synced("guangdong")
    metrics.mark_synced("hunan")
    metrics.forget_site("guangdong")
    metrics.forget_site("never-seen")
    text = generate_latest(metrics.registry).decode()
    assert 'site="guangdong"' not in text
    assert 'site="hunan"' in text


def test_process_platform_gc_and_build_info_are_on_the_daemons_registry() -> None:
    from gitops_edge import __version__

    metrics = Metrics()
    registry = metrics.registry
    assert registry.get_sample_value("gitops_edge_build_info", _build_labels()) == 1.0
    assert _build_labels()["version"] == __version__
    text = generate_latest(registry).decode()
    assert "python_info{" in text
    assert "python_gc_collections_total{" in text
    if Path("/proc/self/stat").exists():  # ProcessCollector reads /proc
        rss = registry.get_sample_value("process_resident_memory_bytes")
        assert rss is not None and rss > 1e6


def _build_labels() -> dict[str, str]:
    import platform

    from gitops_edge import __version__

    return {
        "version": __version__,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def test_per_site_false_keeps_no_site_label() -> None:
    metrics = Metrics(per_site=False)
    states = SiteStates(metrics)
    plan = small_plan()
    states.record(plan, EmitResult("dir:out"), full=True)
    text = generate_latest(metrics.registry).decode()
    assert "site=" not in text
    assert sites(metrics)["unchanged"] == 2.0  # fleet series stay
    with_sites = Metrics()
    SiteStates(with_sites).record(plan, EmitResult("dir:out"), full=True)
    assert 'site="hunan"' in generate_latest(with_sites.registry).decode()


def test_fleet_series_by_wave_failures_and_the_oldest_deferral() -> None:
    metrics = Metrics()
    states = SiteStates(metrics)
    result = EmitResult("kube")
    result.sites["hunan"] = SiteResult("hunan", errors=["apply: 500 Internal Server Error"])
    states.record(small_plan(), result, full=True)
    value = metrics.registry.get_sample_value
    assert value("gitops_edge_wave_sites", {"wave": "0", "state": "unchanged"}) == 2.0
    assert value("gitops_edge_wave_sites", {"wave": "1", "state": "suspended"}) == 2.0
    assert value("gitops_edge_wave_sites", {"wave": "2", "state": "waiting"}) == 1.0
    assert value("gitops_edge_sites_failed") == 1.0
    assert value("gitops_edge_emit_errors_total") == 1.0
    first = value("gitops_edge_oldest_deferral_timestamp_seconds")
    assert first is not None and first > 0
    # a later reconcile keeps the first deferral time; the node back online clears it
    states.record(small_plan(), EmitResult("kube"), full=True)
    assert value("gitops_edge_oldest_deferral_timestamp_seconds") == first
    assert value("gitops_edge_sites_failed") == 0.0
    back = Plan("feed", (SitePlan("xizang", 1, "ready"),))
    states.record(back, EmitResult("kube"), full=False)
    assert value("gitops_edge_oldest_deferral_timestamp_seconds") == 0.0
    assert value("gitops_edge_wave_sites", {"wave": "1", "state": "deferred"}) == 0.0


def test_a_wave_halted_by_failures_is_seen_as_the_planner_words_it() -> None:
    """Uses the real :func:`gate_waves`, so a change of its wording fails here."""
    sites_in = [
        SitePlan("a", 0, "ready", failed=True),
        SitePlan("b", 0, "ready", failed=True),
        SitePlan("c", 1, "ready", changes=(change("update"),)),
    ]
    gated, current = gate_waves(sites_in, max_failures=1, feedback=True)
    metrics = Metrics()
    SiteStates(metrics).record(
        Plan("feed", tuple(gated), current_wave=current), EmitResult("kube"), full=True
    )
    assert metrics.registry.get_sample_value("gitops_edge_wave_halted") == 1.0
    assert metrics.registry.get_sample_value("gitops_edge_wave_current") == 0.0
    waiting, current = gate_waves(
        [SitePlan("a", 0, "ready"), SitePlan("c", 1, "ready", changes=(change("update"),))],
        max_failures=1,
        feedback=True,
    )
    SiteStates(metrics).record(
        Plan("feed", tuple(waiting), current_wave=current), EmitResult("kube"), full=True
    )
    assert metrics.registry.get_sample_value("gitops_edge_wave_halted") == 0.0  # waiting only
    assert metrics.registry.get_sample_value("gitops_edge_wave_current") == 0.0


def test_exposition_passes_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    metrics = Metrics()
    SiteStates(metrics).record(small_plan(), EmitResult("dir:out"), full=True)
    metrics.reconcile_seconds.labels(result="ok").observe(0.3)
    text = generate_latest(metrics.registry).decode()
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
