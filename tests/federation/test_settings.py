"""Federation settings: off by default, complete when on, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gitops_edge.specs.opsrepo import DEFAULT_SETTINGS, KarmadaSettings
from gitops_edge.specs.province import SiteKarmada
from gitops_edge.specs.repo import load_repo
from tests.builders import province, write_settings, write_site

FULL = {
    "enabled": True,
    "apiServer": "https://karmada.example:5443",
    "kubeconfigSecret": {"namespace": "gitops-edge", "name": "karmada-kubeconfig"},
    "registrationImage": {"amd64": "r/karmadactl:v1.18.2", "arm64": "r/karmadactl:v1.18.2-arm64"},
    "proxy": "http://proxy.gd.example:3128",
}


def test_off_by_default() -> None:
    assert DEFAULT_SETTINGS.spec.federation.karmada.enabled is False


def test_complete_settings_are_accepted() -> None:
    k = KarmadaSettings.model_validate(FULL)
    assert k.kubeconfigSecret is not None and k.kubeconfigSecret.key == "kubeconfig"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"apiServer": None}, "needs apiServer"),
        (
            {"kubeconfigSecret": None, "registrationImage": None},
            "kubeconfigSecret, registrationImage",
        ),
        ({"apiServer": "http://k:5443"}, "must be an https:// URL"),
        ({"proxy": "socks5://p:1080"}, "http:// or https://"),
        ({"proxy": "http://u:pw@p:3128"}, "credentials"),
        ({"registrationImage": "bad image"}, "without spaces"),
        ({"kubeconfigSecret": {"namespace": "Bad_NS", "name": "k"}}, "namespace"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_settings_say_what_to_fix(change: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        KarmadaSettings.model_validate({**FULL, **change})
    assert needle in str(err.value)


def test_disabled_needs_nothing() -> None:
    assert KarmadaSettings.model_validate({"enabled": False}).apiServer is None


def test_site_labels_cannot_take_computed_keys() -> None:
    assert SiteKarmada.model_validate({"clusterLabels": {"tier": "core"}}).enabled is None
    with pytest.raises(ValidationError, match="region: gitops-edge sets"):
        SiteKarmada.model_validate({"clusterLabels": {"region": "x"}})
    with pytest.raises(ValidationError, match="label key"):
        SiteKarmada.model_validate({"clusterLabels": {"Bad Key": "x"}})


def test_validate_names_a_federated_arch_without_registration_image(tmp_path: Path) -> None:
    settings = {**FULL, "registrationImage": {"amd64": "r/karmadactl:v1.18.2"}}
    write_settings(tmp_path, {"federation": {"karmada": settings}})
    write_site(tmp_path, "guangdong", province("gd"))  # arm64 masters
    write_site(tmp_path, "guangxi", province("gx", federation={"karmada": {"enabled": False}}))
    repo = load_repo(tmp_path)
    assert all(s.valid for s in repo.sites)
    (p,) = [p for p in repo.problems if "registrationImage" in p.field]
    assert p.file == "gitops-edge.yaml"
    assert "'arm64'" in p.message and "guangdong" in p.message and "guangxi" not in p.message
    assert "add registrationImage.arm64" in p.message
