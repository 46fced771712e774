"""The sink's record: read back whole or not at all, and what each kind of run leaves in it."""

from __future__ import annotations

from gitops_edge.emit.result import EmitResult
from gitops_edge.plan.model import ObjectChange, Plan, SitePlan
from gitops_edge.plan.standing import Standing
from gitops_edge.record import FORMAT, Record, after_run, dumps, loads
from gitops_edge.specs.fleet import Identity

OLD, NEW = "a" * 40, "b" * 40
GD = Identity("gd", "provinces/gd/cluster.yaml", "gd-paas", (("10.0.0.1", "spec.eggo.masters[0].ip"),))
GX = Identity("gx", "provinces/gx/cluster.yaml", "gx-paas", (), "edge-gx")


def _change() -> ObjectChange:
    return ObjectChange("update", ("v1", "ConfigMap", "ns", "cm"), {}, {})


def test_a_record_reads_back_as_written_and_a_damaged_one_not_at_all() -> None:
    standing = {
        "gd": Standing("gd", 2, False, True, 3, "", (("zone", "south"),), "arm64"),
        "gx": Standing("gx", 0, True, False, 0, "edge-gx"),
    }
    record = Record(OLD, "digest", 0, frozenset({"gx"}), {"gd": GD, "gx": GX}, standing)
    assert loads(dumps(record)) == record
    data = dumps(record)
    assert loads(data[: len(data) // 2]) is None
    older = data.replace(f'"format":{FORMAT}'.encode(), f'"format":{FORMAT - 1}'.encode())
    assert older != data and loads(older) is None
    assert loads(data.replace(OLD.encode(), OLD.encode() + b"-dirty")) is None
    assert loads(None) is None and loads(b"") is None


def test_a_full_run_records_what_it_did_not_bring_to_its_commit() -> None:
    plan = Plan(
        NEW,
        (
            SitePlan("gd", 0, "ready", changes=(_change(),)),
            SitePlan("gx", 0, "ready", changes=(_change(),)),
            SitePlan("hn", 0, "invalid"),
            SitePlan("old", 0, "removed", "held back", in_repo=False),
            SitePlan("sus", 0, "suspended", changes=(_change(),)),
        ),
    )
    result = EmitResult("dir:x")
    result.site("gx").errors.append("cannot write")
    record = after_run(plan, result, scope="full", settings="d", identities=[GD, GX], previous=None)
    assert record is not None and record.revision == NEW
    assert record.pending == {"gx", "hn", "old"}
    assert set(record.identities) == {"gd", "gx"}


def test_a_dirty_run_drops_the_record_and_a_refused_one_keeps_it() -> None:
    previous = Record(OLD, "d", identities={"gd": GD})
    dirty = Plan(NEW + "-dirty", (SitePlan("gd", 0, "ready"),))
    assert after_run(dirty, EmitResult("x"), scope="full", settings="d", identities=[], previous=previous) is None
    refused = Plan(NEW, (SitePlan("gd", 0, "ready"),), refused="too many deletions")
    assert after_run(refused, EmitResult("x"), scope="incremental", settings="d", identities=[], previous=previous) is previous


def test_a_named_run_keeps_the_recorded_commit_and_marks_its_sites() -> None:
    previous = Record(OLD, "d", 0, frozenset(), {"gd": GD, "gx": GX})
    plan = Plan(NEW, (SitePlan("gx", 0, "ready", changes=(_change(),)),))
    record = after_run(plan, EmitResult("x"), scope="named", settings="d", identities=[GX], previous=previous)
    assert record is not None and record.revision == OLD and record.pending == {"gx"}
    same = Plan(OLD, (SitePlan("gx", 0, "ready", changes=(_change(),)),))
    again = after_run(same, EmitResult("x"), scope="named", settings="d", identities=[GX], previous=record)
    assert again is not None and again.pending == frozenset()  # brought to the recorded commit


def test_an_incremental_run_moves_the_commit_and_replaces_what_it_planned() -> None:
    was = {"gd": Standing("gd", 1), "gx": Standing("gx", 1)}
    previous = Record(OLD, "d", 0, frozenset({"hn"}), {"gd": GD, "gx": GX}, was)
    moved = Identity("gx", GX.file, "gx-paas-2")
    later = Standing("gx", 3, applications=2)
    plan = Plan(NEW, (SitePlan("gx", 0, "ready"), SitePlan("hn", 0, "ready")))
    record = after_run(
        plan, EmitResult("x"), scope="incremental", settings="d", identities=[moved],
        standing=[later, Standing("hn")], previous=previous,
    )  # fmt: skip
    assert record is not None and record.revision == NEW and record.pending == frozenset()
    assert record.identities == {"gd": GD, "gx": moved}
    # what waves read of a site is replaced with its identity; a site without an
    # identity (it did not load cleanly) has no standing either: it is planned again
    assert record.standing == {"gd": was["gd"], "gx": later}
