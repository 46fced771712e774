"""A mapping holding part of what a full read holds, refusing questions about the rest.

A one-shot run of a few sites reads their live objects and edge nodes alone
(:func:`gitops_edge.live.snapshot.read_live` with ``sites``). Anything else asked of
such a view (another site's objects or nodes, the keys) raises
:class:`~gitops_edge.live.state.Unread` naming the full read, which the planner's
caller makes before planning again (:func:`~gitops_edge.live.state.read_as_asked`).
So whatever the planner asks, the answer is the one a full read gives, and no read
happens inside the planner; a partial read can only make a run slower. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar

from gitops_edge.live.state import LiveState, Unread

K = TypeVar("K")
V = TypeVar("V")


class Partial(dict[K, V]):
    """``read`` as read; asking about anything else raises :class:`Unread`.

    :meth:`_answered` says which keys the read answers (present or not); asking about
    any other key, or for the keys, raises with ``whole``: the full read.
    """

    def __init__(self, read: Mapping[K, V], whole: Callable[[], LiveState], what: str) -> None:
        super().__init__(read)
        self._whole = whole
        self._what = what

    def _answered(self, key: object) -> bool:
        return dict.__contains__(self, key)

    def _unread(self, about: str) -> NoReturn:
        whole = self._whole
        raise Unread(f"{self._what} {about}", lambda _live: whole())

    def _ask(self, key: object) -> None:
        if not self._answered(key):
            self._unread(f"of {key!r}")

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
        self._unread("of the whole fleet")

    def __len__(self) -> int:
        self._unread("of the whole fleet")

    def keys(self) -> Any:
        self._unread("of the whole fleet")

    def values(self) -> Any:
        self._unread("of the whole fleet")

    def items(self) -> Any:
        self._unread("of the whole fleet")

    def copy(self) -> dict[K, V]:
        self._unread("of the whole fleet")

    def __eq__(self, other: object) -> bool:
        self._unread("of the whole fleet")

    __hash__ = None
