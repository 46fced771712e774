"""Kubernetes naming rules the ops repo must respect before anything is emitted.

Site ids become namespace names, label values and parts of object names; labels on
a ProvinceCluster are used to select rollout waves. Checking them here turns a 422
from the API server at apply time into a review-time error.
"""

from __future__ import annotations

import re

from pydantic.config import JsonDict

# Every check uses ``fullmatch``: ``$`` also matches before a final newline, which
# would let ``"gd-01\n"`` through as a name.

LABEL_BODY = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_BODY = rf"{LABEL_BODY}(\.{LABEL_BODY})*"
QUALIFIED_NAME_BODY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

DNS1123_LABEL = rf"^{LABEL_BODY}$"
DNS1123_SUBDOMAIN = rf"^{SUBDOMAIN_BODY}$"
LABEL_KEY = rf"^({SUBDOMAIN_BODY}/)?{QUALIFIED_NAME_BODY}$"
LABEL_VALUE = rf"^({QUALIFIED_NAME_BODY})?$"
"""The patterns as strings: the checks below and the JSON Schemas (``pattern``) share them.

Written in the subset of regular expressions that Python and ECMA-262 (what editors'
JSON Schema validators run) read the same way: no backslash classes, no flags, no lookbehind.
"""

_LABEL = re.compile(DNS1123_LABEL)
_QUALIFIED_NAME = re.compile(rf"^{QUALIFIED_NAME_BODY}$")
_LABEL_VALUE = re.compile(LABEL_VALUE)
_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN)


def label_schema() -> JsonDict:
    """JSON Schema of a ``labels`` map: keys and values as :func:`label_key_error` checks them."""
    return {
        "propertyNames": {"pattern": LABEL_KEY, "maxLength": 317},
        "additionalProperties": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
    }


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
