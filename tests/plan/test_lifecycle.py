"""eggo lifecycle (pure): from the applied cluster spec to the next eggo operation."""

from __future__ import annotations

from typing import Any

from gitops_edge.plan.eggo_lifecycle import next_step
from gitops_edge.specs.eggo import DeployConfig
from tests.builders import eggo_spec


def conf(**changes: Any) -> DeployConfig:
    raw = eggo_spec("gd-paas")
    raw.update(changes)
    return DeployConfig.model_validate(raw)


def host(name: str, ip: str) -> dict[str, Any]:
    return {"name": name, "ip": ip, "port": 22, "arch": "arm64"}


def test_first_run_deploys() -> None:
    step = next_step(None, conf())
    assert step.kind == "deploy"
    assert step.result == conf()


def test_same_spec_needs_nothing() -> None:
    assert next_step(conf(), conf()).kind == "none"


def test_added_worker_joins() -> None:
    before = conf()
    after = conf(workers=[*eggo_spec()["workers"], host("w2", "10.20.0.22")])
    step = next_step(before, after)
    assert step.kind == "join"
    assert [h.name for h in step.hosts] == ["w2"]
    assert step.result == after


def test_removed_worker_is_deleted() -> None:
    before = conf(workers=[*eggo_spec()["workers"], host("w2", "10.20.0.22")])
    after = conf()
    step = next_step(before, after)
    assert step.kind == "delete"
    assert [h.name for h in step.hosts] == ["w2"]
    assert step.result == after


def test_join_before_delete_and_result_keeps_hosts_still_to_delete() -> None:
    before = conf(workers=[*eggo_spec()["workers"], host("w2", "10.20.0.22")])
    after = conf(workers=[*eggo_spec()["workers"], host("w3", "10.20.0.23")])
    first = next_step(before, after)
    assert first.kind == "join"
    assert first.result is not None
    assert {h.name for h in first.result.workers} == {"m1", "w1", "w2", "w3"}
    second = next_step(first.result, after)
    assert second.kind == "delete"
    assert [h.name for h in second.hosts] == ["w2"]
    assert next_step(second.result, after).kind == "none"


def test_cidr_change_needs_a_rebuild() -> None:
    after = conf(service={"cidr": "10.96.0.0/16", "dnsaddr": "10.96.0.10", "gateway": "10.96.0.1"})
    step = next_step(conf(), after)
    assert step.kind == "rebuild"
    assert "service" in step.detail


def test_first_master_is_never_removed() -> None:
    before = conf(masters=[host("m1", "10.20.0.11"), host("m2", "10.20.0.12")])
    after = conf(masters=[host("m2", "10.20.0.12")])
    assert next_step(before, after).kind == "blocked"


def test_master_listed_as_worker_too_is_not_deleted_when_only_its_worker_role_goes() -> None:
    before = conf()
    after = conf(workers=[host("w1", "10.20.0.21")])
    assert next_step(before, after).kind == "none"
