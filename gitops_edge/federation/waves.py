"""Federation waves: which rollout waves' clusters may receive federated workloads now.

The first wave is always released. Wave N+1 is released when every cluster of the
waves up to N is done: registered, Ready, and every federated workload bound to it is
applied and healthy there (``ResourceBinding.status.aggregatedStatus``). A deferred
cluster (its province offline) never holds a wave back, as in the central rollout: it
is caught up when it returns, and its binding is kept meanwhile (the policies tolerate
``cluster.karmada.io/unreachable``).
"""

from __future__ import annotations

from collections.abc import Mapping


def released_through(
    cluster_waves: Mapping[str, int], done: set[str], deferred: set[str]
) -> int | None:
    """The last released wave (None: no federated cluster, so nothing to hold)."""
    waves = sorted(set(cluster_waves.values()))
    if not waves:
        return None
    released = waves[0]
    for wave in waves:
        members = [c for c, w in cluster_waves.items() if w == wave and c not in deferred]
        if any(c not in done for c in members):
            return released
        released = wave
        later = [w for w in waves if w > wave]
        if later:
            released = later[0]
    return released
