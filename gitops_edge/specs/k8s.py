"""Kubernetes naming rules the ops repo must respect before anything is emitted.

Site ids become namespace names, label values and parts of object names; labels on
a ProvinceCluster are used to select rollout waves. Checking them here turns a 422
from the API server at apply time into a review-time error.
"""

from __future__ import annotations

import re

# Every check uses ``fullmatch``: ``$`` also matches before a final newline, which
# would let ``"gd-01\n"`` through as a name.

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns1123_label(value: str, max_len: int = 63) -> bool:
    return 0 < len(value) <= max_len and bool(_LABEL.fullmatch(value))


def is_dns1123_subdomain(value: str) -> bool:
    return 0 < len(value) <= 253 and bool(_SUBDOMAIN.fullmatch(value))


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation key, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns1123_subdomain(prefix):
        return f"label key prefix {prefix!r} must be a DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"label key {key!r} must be <= 63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        return (
            f"label value {value!r} must be <= 63 characters of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None
