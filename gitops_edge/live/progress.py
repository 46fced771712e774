"""Read progress off live objects: eggo Job outcome, Argo CD Application sync and health."""

from __future__ import annotations

from collections.abc import Mapping
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
