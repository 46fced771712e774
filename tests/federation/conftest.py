"""Fixtures shared by the federation tests."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.federation.reference import register
from tests.kubeapi import KubeAPIServer


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed CA and its public-key pin computed by openssl itself."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test CA)")
    d = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=karmada",
         "-days", "2", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    pub = subprocess.run(
        ["openssl", "x509", "-in", str(d / "c.pem"), "-pubkey", "-noout"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True, capture_output=True
    ).stdout
    return (d / "c.pem").read_text(), "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.fixture
def karmada_api() -> Iterator[KubeAPIServer]:
    """A second API server standing in for karmada-apiserver: the reference CRDs' Cluster,
    PropagationPolicy, OverridePolicy and ResourceBinding (a test module that needs other
    kinds defines its own)."""
    server = KubeAPIServer(bookmark_interval=0.2)
    for kind in ("Cluster", "PropagationPolicy", "OverridePolicy", "ResourceBinding"):
        register(server, kind)
    with server:
        yield server
