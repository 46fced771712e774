"""Fault injection: make chosen requests slow, fail, or break the connection.

Retry, backoff and relist code only runs when the API server misbehaves, so tests
need a server that misbehaves on demand and in the ways real ones do: throttling
with ``Retry-After``, RBAC denials, expired credentials, 5xx, connections reset
mid-request and watches cut mid-stream.  Rules are matched per request and can be
added or removed while the server runs.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

LATENCY = "latency"
ERROR = "error"
THROTTLE = "throttle"
FORBIDDEN = "forbidden"
UNAUTHORIZED = "unauthorized"
DROP = "drop"
CUT_WATCH = "cut_watch"


@dataclass
class FaultRule:
    """One rule.  ``path`` is a regex searched in the URL path (anchor it to be exact).

    ``method`` (e.g. ``"GET"``) and ``verb`` (``list``, ``watch``, ``get``, ``create``,
    ``update``, ``patch``, ``delete``...) narrow the match.  ``times`` limits how
    many requests the rule fires for (None: unlimited); ``hits`` counts them.
    """

    action: str
    path: str = ".*"
    method: str | None = None
    verb: str | None = None
    times: int | None = None
    seconds: float = 0.0
    code: int = 500
    retry_after: int = 1
    user: str = "system:anonymous"
    after_events: int = 0
    abrupt: bool = True
    message: str | None = None
    hits: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str, verb: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        if self.verb is not None and self.verb != verb:
            return False
        return self._regex.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class Decision:
    """What the server should do for one request."""

    delay: float = 0.0
    rule: FaultRule | None = None


class FaultInjector:
    """The active rule set.  Latency rules add up; the first other matching rule wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str, verb: str) -> Decision:
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, verb):
                    continue
                if rule.action == LATENCY:
                    rule.hits += 1
                    decision.delay += rule.seconds
                elif decision.rule is None:
                    rule.hits += 1
                    decision.rule = rule
        return decision

    # Convenience constructors; each returns the rule so a test can remove it.

    def latency(self, path: str, seconds: float, **kw: Any) -> FaultRule:
        """Sleep ``seconds`` before handling matching requests (then serve normally)."""
        return self.add(FaultRule(LATENCY, path, seconds=seconds, **kw))

    def error(self, path: str, code: int = 500, **kw: Any) -> FaultRule:
        """Answer with a Status of ``code`` (500 InternalError, 503, 504...)."""
        return self.add(FaultRule(ERROR, path, code=code, **kw))

    def throttle(self, path: str, retry_after: int = 1, **kw: Any) -> FaultRule:
        """429 TooManyRequests with a ``Retry-After`` header."""
        return self.add(
            FaultRule(THROTTLE, path, code=429, retry_after=retry_after, **kw)
        )

    def forbidden(self, path: str, user: str = "system:anonymous", **kw: Any) -> FaultRule:
        """403 with the RBAC message naming ``user``, the verb and the resource."""
        return self.add(FaultRule(FORBIDDEN, path, code=403, user=user, **kw))

    def unauthorized(self, path: str = ".*", **kw: Any) -> FaultRule:
        """401, as when a token has expired or been revoked."""
        return self.add(FaultRule(UNAUTHORIZED, path, code=401, **kw))

    def drop_connection(self, path: str, **kw: Any) -> FaultRule:
        """Close the socket without sending a response."""
        return self.add(FaultRule(DROP, path, **kw))

    def cut_watch(
        self, path: str, after_events: int = 0, *, abrupt: bool = True, **kw: Any
    ) -> FaultRule:
        """Send ``after_events`` watch events, then end the stream.

        ``abrupt`` closes the socket without the terminating chunk (the client sees
        a protocol error, as on a network cut); otherwise the stream ends cleanly,
        as when the apiserver's own watch timeout fires.
        """
        kw.setdefault("verb", "watch")
        return self.add(
            FaultRule(CUT_WATCH, path, after_events=after_events, abrupt=abrupt, **kw)
        )
