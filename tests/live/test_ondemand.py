"""OnDemand: the first read answers what it holds; anything else reads the rest, once."""

from __future__ import annotations

from gitops_edge.live.ondemand import OnDemand


def test_the_rest_is_read_once_and_the_first_read_stays_as_read() -> None:
    reads: list[int] = []

    def rest() -> dict[str, int]:
        reads.append(1)
        return {"a": 100, "b": 2, "c": 3}

    m = OnDemand({"a": 1}, rest)
    assert m["a"] == 1 and "a" in m and m.get("a") == 1 and not reads
    assert not m.whole
    assert m.get("b") == 2 and reads == [1] and m.whole
    assert m == {"a": 1, "b": 2, "c": 3} and len(m) == 3 and sorted(m) == ["a", "b", "c"]
    assert m.get("zz") is None and "zz" not in m and reads == [1]


def test_asking_for_the_keys_reads_the_rest() -> None:
    m = OnDemand({"a": 1}, lambda: {"b": 2})
    assert list(m.items()) == [("a", 1), ("b", 2)] and m.whole
