"""Partial: the read answers what it holds; anything else raises Unread, which reads
the whole and plans again at the edge (read_as_asked), never inside the caller."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitops_edge.live.partial import Partial
from gitops_edge.live.state import LiveState, Unread, read_as_asked

AT = datetime(2026, 1, 1, tzinfo=UTC)


def whole() -> LiveState:
    return LiveState(observed_at=AT, objects={"a": [{"n": 100}], "b": [{"n": 2}]})


def partial() -> LiveState:
    return LiveState(
        observed_at=AT,
        objects=Partial({"a": [{"n": 1}]}, whole, "the live objects"),
        scope=frozenset({"a"}),
    )


def test_the_read_answers_what_it_holds_and_refuses_the_rest() -> None:
    m = partial().objects
    assert m["a"] == [{"n": 1}] and "a" in m and m.get("a") == [{"n": 1}]
    for ask in (lambda: m["b"], lambda: "b" in m, lambda: m.get("b"), lambda: list(m),
                lambda: len(m), lambda: m.items(), lambda: m == {}):  # fmt: skip
        with pytest.raises(Unread) as raised:
            ask()
        assert raised.value.read(partial()).objects == whole().objects
    with pytest.raises(Unread, match="not read: the live objects of 'b'"):
        m["b"]


def test_read_as_asked_reads_between_two_calls_and_plans_against_one_state() -> None:
    seen: list[LiveState] = []

    def plan(live: LiveState) -> list[dict[str, int]]:
        seen.append(live)
        return [*live.site_objects("a"), *live.site_objects("b")]

    assert read_as_asked(plan, partial()) == [{"n": 100}, {"n": 2}]  # a as the whole read has it
    assert len(seen) == 2 and seen[-1].scope is None


def test_a_read_that_needs_another_read_first_gets_it() -> None:
    def index(live: LiveState) -> LiveState:  # like index_holdings: asks for every site
        return LiveState(observed_at=AT, objects={k: v for k, v in live.objects.items()})

    def plan(live: LiveState) -> int:
        if live.holdings is None and not live.run_reports:
            raise Unread("every site", lambda lv: _marked(index(lv)))
        return len(live.objects)

    assert read_as_asked(plan, partial()) == 2


def _marked(live: LiveState) -> LiveState:
    return LiveState(observed_at=AT, objects=dict(live.objects), run_reports={"x": "y"})
