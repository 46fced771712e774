"""Turn pydantic's validation errors into messages an operator can act on.

pydantic says ``Extra inputs are not permitted``; an operator needs "unknown field
'bindport': did you mean 'bind-port'?". The allowed keys are read back from the
model at the error's location, so suggestions stay true as the models change.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


def _unwrap(tp: Any) -> list[Any]:
    """The concrete classes an annotation may hold (Optional, list and dict unwrapped)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in _unwrap(a)]
    if origin in (list, dict):
        args = typing.get_args(tp)
        return _unwrap(args[-1]) if args else []
    return [tp]


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Keys the model accepts at ``loc`` (the parent of an unknown key)."""
    current: list[Any] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[Any] = []
        for cls in current:
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                for name, info in cls.model_fields.items():
                    if part in (name, info.alias):
                        nxt.extend(_unwrap(info.annotation))
            else:
                nxt.append(cls)  # a dict value: the key was a free map key
        current = nxt
    keys: list[str] = []
    for cls in current:
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            keys.extend(info.alias or name for name, info in cls.model_fields.items())
    return keys


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "empty (null)",
    }.get(type(value), type(value).__name__)


_EXPECT = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def describe(err: ErrorDetails, model: type[BaseModel], loc: Loc) -> str:
    """One operator-facing sentence for a pydantic error at ``loc``."""
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        if key in ("username", "password"):
            return f"{key} must not be stored in Git: eggo logs in with the SSH key in spec.sshKeySecret"
        options = allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(sorted(options))}"
        return f"unknown field {key!r}; {hint}"
    if kind == "missing":
        return "is required"
    if kind in _EXPECT:
        quote = (
            "; quote it if it is meant as text"
            if _EXPECT[kind] == "a string" and isinstance(value, int | float | bool)
            else ""
        )
        return f"must be {_EXPECT[kind]}, got {_type_name(value)} {value!r}{quote}"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"{value!r} is not allowed; use one of {expected}"
    if kind == "value_error":
        return str((err.get("ctx") or {}).get("error", err["msg"]))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{value!r}: {err['msg'].lower()}"
    if kind == "string_too_short":
        return "must not be empty"
    return err["msg"]
