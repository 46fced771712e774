"""Bootstrap tokens for ``karmadactl register``, as ``karmadactl token create`` makes them.

A token is a Secret ``kube-system/bootstrap-token-<id>`` of type
``bootstrap.kubernetes.io/token`` with ``token-id``, ``token-secret``, an RFC 3339
``expiration``, ``usage-bootstrap-authentication`` / ``usage-bootstrap-signing`` and
the group ``system:bootstrappers:karmada:default-cluster-token``
(``pkg/karmadactl/util/bootstraptoken/bootstraptoken.go`` ``ConvertBootstrapTokenToSecret``,
``DefaultGroups``; karmada-io/karmada 0533b555e040596f4fff9b6a344efbaeed71d0cc).
gitops-edge mints one per registration with a short TTL (upstream's default is 24 h).

The CA hash is kubeadm's public-key pin: ``sha256:`` + hex SHA-256 of the CA
certificate's DER ``SubjectPublicKeyInfo``; it is read from the daemon's kubeconfig
with a minimal DER walk (no crypto library is needed to hash bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import string
from datetime import datetime, timedelta
from typing import Any

TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
_ALPHABET = string.ascii_lowercase + string.digits
BOOTSTRAP_GROUP = "system:bootstrappers:karmada:default-cluster-token"
DEFAULT_TTL = timedelta(minutes=30)


def new_token() -> tuple[str, str]:
    """(id, secret): ``[a-z0-9]{6}.[a-z0-9]{16}``, from the OS's CSPRNG."""
    return (
        "".join(secrets.choice(_ALPHABET) for _ in range(6)),
        "".join(secrets.choice(_ALPHABET) for _ in range(16)),
    )


def token_secret(
    token_id: str, token_secret_value: str, *, now: datetime, ttl: timedelta, site: str
) -> dict[str, Any]:
    """The ``kube-system`` Secret that makes the token valid in karmada-apiserver."""
    expiration = (now + ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {
        "token-id": token_id,
        "token-secret": token_secret_value,
        "expiration": expiration,
        "description": f"gitops-edge registration of {site}",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": BOOTSTRAP_GROUP,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``at``."""
    if at + 2 > len(der):
        raise ValueError("truncated DER")
    tag = der[at]
    length = der[at + 1]
    start = at + 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(der[start : start + n], "big")
        start += n
    if start + length > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + length


def spki_of(cert_der: bytes) -> bytes:
    """The DER ``SubjectPublicKeyInfo`` of an X.509 certificate (RFC 5280 4.1)."""
    _, cert, _ = _tlv(cert_der, 0)  # Certificate SEQUENCE
    _, tbs, _ = _tlv(cert_der, cert)  # tbsCertificate SEQUENCE
    at = tbs
    tag, _, end = _tlv(cert_der, at)
    if tag == 0xA0:  # [0] version
        at = end
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        _, _, at = _tlv(cert_der, at)
    tag, _, end = _tlv(cert_der, at)
    if tag != 0x30:
        raise ValueError("no SubjectPublicKeyInfo where RFC 5280 puts it")
    return cert_der[at:end]


def ca_cert_hash(pem: str) -> str:
    """``sha256:<hex>`` of the first certificate's public key, as register expects it."""
    match = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        raise ValueError("no PEM certificate")
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
        spki = spki_of(der)
    except (binascii.Error, IndexError, ValueError) as exc:
        raise ValueError(f"not an X.509 certificate: {exc}") from None
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def kubeconfig_ca(config: dict[str, Any]) -> str:
    """The PEM CA of the kubeconfig's current context (``certificate-authority-data``)."""
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    context = contexts.get(config.get("current-context")) or {}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    data = (clusters.get(context.get("cluster")) or {}).get("certificate-authority-data")
    if not isinstance(data, str):
        raise ValueError(
            "the karmada-apiserver kubeconfig has no certificate-authority-data for its "
            "current context; embed the CA (kubectl config view --raw --flatten)"
        )
    return base64.b64decode(data).decode()
