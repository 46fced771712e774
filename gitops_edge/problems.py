"""One shape for every complaint gitops-edge makes about the ops repository.

Operators fix files, so every problem names the file (relative to the repo root),
the field path inside it (``spec.eggo.masters[0].ip``), the line and column of that
field when the YAML has it (editors and CI annotations jump there) and a message
that says what is wrong and how to fix it. Keeping this a frozen value lets the loader,
the validators and the CLI pass problems around without caring who made them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """A single error in the ops repository: where it is and what to do about it."""

    file: str
    field: str
    message: str
    line: int = dataclasses.field(default=0, compare=False)
    """1-based line of the field in ``file``; 0 when unknown (a whole-file problem)."""
    column: int = dataclasses.field(default=0, compare=False)
    """1-based column of the field's key; 0 when unknown."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "field": self.field,
            "message": self.message,
            "line": self.line or None,
            "column": self.column or None,
        }

    def at(self, line: int, column: int = 0) -> Problem:
        """This problem, located at ``line``:``column`` of its file."""
        return dataclasses.replace(self, line=line, column=column)

    def __str__(self) -> str:
        """``file:line:col: field: message``, as compilers and linters print it."""
        where = printable(self.file)
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        if self.field:
            return f"{where}: {printable(self.field)}: {self.message}"
        return f"{where}: {self.message}"


def printable(text: str) -> str:
    """``text`` on one line and encodable: control characters and undecodable bytes escaped.

    File names come from the repo's directory entries: a newline would split one problem
    over two lines, a non-UTF-8 byte would crash a strict UTF-8 stdout.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def field_path(loc: Sequence[str | int]) -> str:
    """Render a location tuple as the dotted path operators read: ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def join_path(prefix: str, suffix: str) -> str:
    """Join two field paths without doubling dots around list indexes."""
    if not prefix:
        return suffix
    if not suffix:
        return prefix
    if suffix.startswith("["):
        return prefix + suffix
    return f"{prefix}.{suffix}"


def sorted_unique(problems: Iterable[Problem]) -> list[Problem]:
    """Stable, duplicate-free order so reports are byte-identical run to run."""
    return sorted(set(problems))
