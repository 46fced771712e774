"""A record of every request the server answered, for assertions about API traffic.

Many behaviours worth testing are about *how often* the API is called (an
informer must not relist on every tick; a backoff must not hammer a throttled
endpoint), which only the server side can count reliably.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    verb: str  # list, watch, get, create, update, patch, delete, deletecollection
    status: int  # 0 when the connection was dropped without a response
    resource: str | None = None  # plural, e.g. "nodes"
    group: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    content_type: str | None = None
    at: float = field(default_factory=time.time)


class RequestLog:
    """Thread-safe append-only log with simple filters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def filter(
        self,
        *,
        verb: str | None = None,
        path: str | None = None,
        path_regex: str | None = None,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        """Records matching every given criterion (``path`` is exact, ``path_regex`` searched)."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.records
            if (verb is None or r.verb == verb)
            and (path is None or r.path == path)
            and (pattern is None or pattern.search(r.path))
            and (method is None or r.method == method.upper())
            and (resource is None or r.resource == resource)
            and (namespace is None or r.namespace == namespace)
            and (status is None or r.status == status)
        ]

    def count(
        self,
        *,
        verb: str | None = None,
        path: str | None = None,
        path_regex: str | None = None,
        method: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        status: int | None = None,
    ) -> int:
        """``count(verb="list", path="/api/v1/nodes")``: same criteria as ``filter``."""
        return len(
            self.filter(
                verb=verb, path=path, path_regex=path_regex, method=method,
                resource=resource, namespace=namespace, status=status,
            )
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records)
