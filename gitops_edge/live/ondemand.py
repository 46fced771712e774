"""A mapping of which a first read holds a part and the rest is read once, on first use.

A one-shot run of a few sites reads their live objects and edge nodes up front and the
fleet's only if a question needs it (:func:`gitops_edge.live.snapshot.read_live`): a
join checking every site's live cluster, an earlier wave's progress, another site's
nodes. Whatever the planner asks, the answer is the one a full read gives; a partial
read can only make a run slower. Pure: the reading is a callable handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class OnDemand(dict[K, V]):
    """``first`` as read; everything else from ``read_rest``, called at most once.

    :meth:`_answered` says which keys the first read answers (present or not);
    asking about any other key, or for the keys, reads the rest. What the first read
    holds stays as read, so what a run has already planned against does not change
    under it.
    """

    def __init__(self, first: Mapping[K, V], read_rest: Callable[[], Mapping[K, V]]) -> None:
        super().__init__(first)
        self._read_rest: Callable[[], Mapping[K, V]] | None = read_rest

    @property
    def whole(self) -> bool:
        """True once the rest has been read."""
        return self._read_rest is None

    def _answered(self, key: object) -> bool:
        return dict.__contains__(self, key)

    def _fill(self) -> None:
        read, self._read_rest = self._read_rest, None
        if read is not None:
            for key, value in read().items():
                if not self._answered(key):
                    dict.__setitem__(self, key, value)
            self._filled()

    def _filled(self) -> None:
        """Called once the rest is in (a subclass drops what it derived from the part)."""

    def _ask(self, key: object) -> None:
        if not self._answered(key):
            self._fill()

    def __getitem__(self, key: K) -> V:
        self._ask(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        self._ask(key)
        return dict.__contains__(self, key)

    def get(self, key: K, default: Any = None) -> Any:
        self._ask(key)
        return dict.get(self, key, default)

    def __iter__(self) -> Iterator[K]:
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._fill()
        return dict.keys(self)

    def values(self) -> Any:
        self._fill()
        return dict.values(self)

    def items(self) -> Any:
        self._fill()
        return dict.items(self)

    def copy(self) -> dict[K, V]:
        self._fill()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._fill()
        return dict.__eq__(self, other)

    __hash__ = None
