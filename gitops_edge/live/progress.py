"""Read progress off live objects: eggo Job outcome, Argo CD Application sync and health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

JobOutcome = Literal["pending", "running", "succeeded", "failed"]


def job_outcome(job: Mapping[str, Any]) -> JobOutcome:
    """A Job's outcome from its conditions (Complete / Failed), else its pod counters."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    if status.get("succeeded"):
        return "succeeded"
    if status.get("active"):
        return "running"
    return "pending"


def job_failure(job: Mapping[str, Any]) -> str:
    """Why a failed Job failed (reason: message), for reports."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": ")
    return "failed"


def app_status(app: Mapping[str, Any]) -> tuple[str, str]:
    """(sync, health) of an Argo CD Application; ``Unknown`` until its controller reports."""
    status = app.get("status") or {}
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    health = (status.get("health") or {}).get("status") or "Unknown"
    return str(sync), str(health)


JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
"""The labels the Job controller puts on a Job's Pods (the first since Kubernetes 1.27)."""
EGGO_CONTAINER = "eggo"


def run_reports(pods: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """eggo's summary per run: ``<namespace>/<job>`` -> the eggo container's termination message.

    The eggo container copies eggo's summary lines to its termination message
    (``status.containerStatuses[].state.terminated.message``). A Job may have run several
    Pods (``backoffLimit``); the one whose eggo exited 0 is the run that counted, else
    the last one that terminated.
    """
    best: dict[str, tuple[bool, str, str]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        job = next((labels[k] for k in JOB_NAME_LABELS if labels.get(k)), None)
        if not job:
            continue
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") != EGGO_CONTAINER:
                continue
            done = (cs.get("state") or {}).get("terminated")
            if not done:
                continue
            key = f"{meta.get('namespace') or ''}/{job}"
            rank = (done.get("exitCode") == 0, str(done.get("finishedAt") or ""))
            held = best.get(key)
            if held is None or rank > held[:2]:
                best[key] = (*rank, str(done.get("message") or ""))
    return {k: v[2] for k, v in best.items()}
