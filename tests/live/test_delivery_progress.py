"""Delivery from ObjectSync records, eggo Job outcomes and Argo CD Application status (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_edge.live.delivery import delivery_of, index_object_syncs
from gitops_edge.live.progress import app_status, job_failure, job_outcome
from tests.live.objects import application, config_map, eggo_job, object_sync


def _with_identity(obj: dict[str, Any], uid: str, rv: str) -> dict[str, Any]:
    obj["metadata"].update(uid=uid, resourceVersion=rv)
    return obj


CM = _with_identity(config_map("eggo-deploy", "gd"), "u-1", "42")


@pytest.mark.parametrize(
    ("acked", "state"),
    [("42", "delivered"), ("41", "stale"), (None, "pending")],
)
def test_delivery_compares_acked_version_with_the_object(acked: str | None, state: str) -> None:
    syncs = index_object_syncs([object_sync("gd-edge-01", CM, acked)])
    got = delivery_of(CM, "gd-edge-01", syncs)
    assert got.state == state
    assert (got.kind, got.namespace, got.name, got.node) == (
        "ConfigMap",
        "edge-gd",
        "eggo-deploy",
        "gd-edge-01",
    )
    assert got.edge_version == acked


def test_no_record_at_all_is_pending_and_records_are_per_node() -> None:
    syncs = index_object_syncs([object_sync("gd-edge-01", CM, "42")])
    assert delivery_of(CM, "gd-edge-02", syncs).state == "pending"
    assert delivery_of(CM, "gd-edge-01", {}).state == "pending"


def test_index_object_syncs_keys_by_node_and_uid() -> None:
    syncs = index_object_syncs(
        [object_sync("a", CM, "1"), object_sync("b", CM, None), {"metadata": {}}]
    )
    assert syncs == {"a.u-1": "1", "b.u-1": ""}


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "running", "pending"])
def test_job_outcome_from_status(outcome: str) -> None:
    assert job_outcome(eggo_job("eggo-deploy", "gd", outcome=outcome)) == outcome


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}, "succeeded"),
        ({"conditions": [{"type": "FailureTarget", "status": "True"}], "active": 1}, "failed"),
        ({"conditions": [{"type": "Failed", "status": "False"}], "active": 1}, "running"),
        ({"succeeded": 1}, "succeeded"),
        ({}, "pending"),
    ],
)
def test_job_outcome_edge_cases(status: dict[str, Any], outcome: str) -> None:
    assert job_outcome({"status": status}) == outcome


def test_job_failure_names_reason_and_message() -> None:
    job = eggo_job("eggo-deploy", "gd", outcome="failed")
    assert job_failure(job) == "BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert job_failure({"status": {}}) == "failed"


def test_app_status_reads_sync_and_health_with_unknown_default() -> None:
    assert app_status(application("base", "gd", sync="OutOfSync", health="Degraded")) == (
        "OutOfSync",
        "Degraded",
    )
    assert app_status({"status": {}}) == ("Unknown", "Unknown")
    assert app_status({}) == ("Unknown", "Unknown")
