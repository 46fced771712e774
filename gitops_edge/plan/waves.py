"""Rollout waves: a change spanning many sites goes out wave by wave.

Wave N+1 starts when every online site of wave N is done (eggo run succeeded,
Applications healthy) and the wave has no more failed sites than it tolerates:
``rollout.maxFailures`` is the number of failed sites a wave tolerates (0: one failed
site holds the next waves; 1: two do). A failed, blocked or invalid site counts. An offline
(deferred) or suspended site never holds a wave back: it is caught up when its
node returns, independently of the wave that is running then.
"""

from __future__ import annotations

from dataclasses import replace

from gitops_edge.plan.model import SitePlan

NEUTRAL = ("deferred", "suspended", "removed")


def gate_waves(
    sites: list[SitePlan], *, max_failures: int, feedback: bool
) -> tuple[list[SitePlan], int | None]:
    """Hold back later waves; returns the updated site plans and the wave in progress.

    ``feedback`` is False when the live source cannot report run outcomes (a
    directory sink): there is nothing to wait for, so every wave goes at once.
    """
    if not feedback:
        return sites, None
    waves = sorted({s.wave for s in sites})
    hold_reason = ""
    current: int | None = None
    out: dict[str, SitePlan] = {}
    for wave in waves:
        members = [s for s in sites if s.wave == wave]
        if hold_reason:
            for s in members:
                if s.gate == "ready" and s.pending():
                    s = replace(s, gate="waiting", reason=hold_reason)
                elif s.gate == "failed" and s.pending():
                    # the gate keeps saying failed; its other changes wait for their wave
                    s = replace(s, held=hold_reason, reason=f"{s.reason}; its changes wait: {hold_reason}")
                out[s.site] = s
            continue
        for s in members:
            out[s.site] = s
        counted = [s for s in members if s.gate not in NEUTRAL and s.in_repo]
        failed = [s for s in counted if s.failed or s.gate in ("blocked", "failed", "invalid")]
        done = [s for s in counted if s.done]
        if len(failed) > max_failures:
            hold_reason = f"wave {wave} halted: {len(failed)} site(s) failed ({', '.join(s.site for s in failed[:5])}); rollout.maxFailures={max_failures} tolerates {max_failures}"
            current = wave
        elif len(done) + len(failed) < len(counted):
            hold_reason = f"waiting for wave {wave}: {len(done)}/{len(counted)} online site(s) done"
            current = wave
    return [out[s.site] for s in sites], current
