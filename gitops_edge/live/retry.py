"""How a Kubernetes API caller backs off: a value, free of the client library.

Kept apart from :mod:`gitops_edge.live.client` so that the command line can name its
retry policy (``kubeargs.CLI_RETRY``) without importing the ``kubernetes`` package,
which costs about a second and is needed only by the commands that talk to a cluster.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; a server's Retry-After wins (up to the cap)."""

    attempts: int = 6
    base: float = 0.2
    cap: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return float(min(self.cap, self.base * (2**attempt)) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
