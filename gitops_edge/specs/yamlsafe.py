"""Load one YAML file from the ops repo without trusting it.

The ops repo is reviewed by people, but a review can miss a 1 KiB alias bomb, a
symlink to ``/etc`` or a duplicate key that silently wins. Every hazard becomes a
:class:`~gitops_edge.problems.Problem` naming the file, never a traceback, and the
parse itself runs on PyYAML's C parser where it is available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.problems import Problem

try:  # pragma: no cover - which branch runs depends on how PyYAML was built
    SafeLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    SafeLoader = yaml.SafeLoader
"""The safe loader every repo file is parsed with (C parser when PyYAML has it)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one file may cost to load. Generous for real specs."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 40
    max_nodes: int = 200_000


DEFAULT_LIMITS = Limits()


class YamlRefused(Exception):
    """The file is not acceptable; ``field`` and ``message`` say why."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` (symlinks resolved) stays inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _mark(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}" if mark is not None else ""


def check_tree(root_node: yaml.Node, limits: Limits) -> None:
    """Refuse duplicate keys, deep nesting and alias expansion beyond the limits.

    Aliases make the node graph a DAG: sizes are memoised per node so an alias bomb
    is measured in the size it *would* expand to, without expanding it.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root_node, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > limits.max_depth:
            raise YamlRefused(
                f"nesting deeper than {limits.max_depth} levels at {_mark(node)}; "
                "flatten the document"
            )
        key = id(node)
        if key in sizes and not done:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children: list[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            children = []
            if not done:
                seen: dict[Any, int] = {}
                for k, _v in node.value:
                    if k.tag == "tag:yaml.org,2002:merge":
                        continue
                    ident = (k.tag, k.value) if isinstance(k, yaml.ScalarNode) else id(k)
                    if ident in seen:
                        raise YamlRefused(
                            f"duplicate key {k.value!r} at {_mark(k)} "
                            f"(first at line {seen[ident]}); keep one",
                        )
                    seen[ident] = k.start_mark.line + 1
            for k, v in node.value:
                children.extend((k, v))
        else:
            children = list(node.value)
        if done:
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            if total > limits.max_nodes:
                raise YamlRefused(
                    f"expands to more than {limits.max_nodes} values (alias bomb or huge "
                    "list); split or simplify it"
                )
            sizes[key] = total
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)


def parse_text(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse one YAML document from text with every check of :func:`load_file`."""
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_tree(node, limits)
        return loader.construct_document(node)
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            raise YamlRefused("holds more than one YAML document; keep one per file") from None
        raise YamlRefused(yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlRefused(yaml_message(exc)) from None
    except RecursionError:
        raise YamlRefused(f"nesting deeper than {limits.max_depth} levels") from None
    finally:
        loader.dispose()


def yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"invalid YAML: {where}{problem}"


def read_text(root: Path, path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Read a repo file as UTF-8, refusing escapes from the repo, oversize and bad bytes."""
    if not inside(root, path):
        raise YamlRefused("is a symlink pointing outside the repository; replace it with a file")
    if not path.is_file():
        raise YamlRefused("is not a regular file")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise YamlRefused(
            f"is {size} bytes, over the {limits.max_bytes}-byte limit; split the file"
        )
    raw = path.read_bytes()[: limits.max_bytes + 1]
    if len(raw) > limits.max_bytes:
        raise YamlRefused(f"is over the {limits.max_bytes}-byte limit; split the file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlRefused(
            f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}); save it as UTF-8"
        ) from None


def relpath(root: Path, path: Path) -> str:
    """The path operators see in messages: relative to the repo, forward slashes."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.fspath(path)


def load_file(root: Path, path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, str]:
    """Load ``path`` (inside ``root``) and return ``(data, text)``.

    Raises :class:`YamlRefused`; callers turn it into a Problem for this file.
    """
    text = read_text(root, path, limits)
    return parse_text(text, limits), text


def problem_for(root: Path, path: Path, exc: YamlRefused) -> Problem:
    """Turn a refusal into the Problem reported for ``path``."""
    return Problem(relpath(root, path), exc.field, exc.message)
