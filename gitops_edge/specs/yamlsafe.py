"""Load one YAML file from the ops repo without trusting it.

The ops repo is reviewed by people, but a review can miss a 1 KiB alias bomb, a
symlink to ``/etc`` or a duplicate key that silently wins. Every hazard becomes a
:class:`~gitops_edge.problems.Problem` naming the file, never a traceback, and the
parse itself runs on PyYAML's C parser where it is available.

Most files have no anchors, so no aliases: their node graph is a tree, and one pass
builds the data while checking depth, size and duplicate keys (:func:`_construct_plain`,
about twice as fast as PyYAML's constructor plus a separate check). Anything unusual
(anchors, merge keys, tags beyond str/int/float/bool/null, any problem at all) goes
through the general path, which keeps every message exactly as it was.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_edge.problems import Problem

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_NODE = yaml.ScalarNode
_PLAIN_TAGS: dict[str, str] = {}
"""Resolved tag of each plain scalar seen: keys and values repeat across thousands of sites."""
_PLAIN_TAGS_MAX = 100_000


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader, with the implicit tag of a plain scalar resolved once per text.

    The composer asks for the tag of every scalar; the answer depends only on the text
    (the safe loader has no path resolvers), so it is memoised.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is _SCALAR_NODE and implicit[0]:
            tag = _PLAIN_TAGS.get(value)
            if tag is not None:
                return tag
            tag = _Base.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]
            if not self.yaml_path_resolvers:
                if len(_PLAIN_TAGS) >= _PLAIN_TAGS_MAX:
                    _PLAIN_TAGS.clear()
                _PLAIN_TAGS[value] = tag
            return tag
        return _Base.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]


SafeLoader: type[yaml.SafeLoader] = _Loader
"""The safe loader every repo file is parsed with (C parser when PyYAML has it)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one file may cost to load. Generous for real specs."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 40
    max_nodes: int = 200_000


DEFAULT_LIMITS = Limits()


class YamlRefused(Exception):
    """The file is not acceptable; ``field`` and ``message`` say why, ``line``/``column`` where."""

    def __init__(self, message: str, field: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line
        self.column = column


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
    heights: dict[int, int] = {}
    """Memoised per node too: an alias reused deeper than where it was first seen nests
    its whole subtree there, so depth is checked as depth + the alias's height."""
    stack: list[tuple[yaml.Node, int, bool]] = [(root_node, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if depth > limits.max_depth or (
            key in heights and not done and depth - 1 + heights[key] > limits.max_depth
        ):
            raise YamlRefused(
                f"nesting deeper than {limits.max_depth} levels at {_mark(node)}; "
                "flatten the document",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            )
        if key in sizes and not done:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            heights[key] = 1
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
                            line=k.start_mark.line + 1,
                            column=k.start_mark.column + 1,
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
            heights[key] = 1 + max((heights.get(id(c), 1) for c in children), default=0)
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children)


class _Unusual(Exception):
    """The document needs the general path: anchors, merge keys, odd tags, or a problem."""


_SCALAR_TAGS = frozenset(
    {
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    }
)


def _construct_plain(loader: yaml.SafeLoader, root: yaml.Node, limits: Limits) -> Any:
    """Build the document the way ``construct_document`` does, checking as it goes.

    Only for documents without anchors (the caller checks): the node graph is then a
    tree, so its expanded size is its node count. Raises :class:`_Unusual` for anything
    else (a tag other than str/int/float/bool/null/map/seq, a non-string key, a merge
    key, a duplicate key, too deep, too big), and the caller takes the general path,
    which reports problems with the exact messages of :func:`check_tree`.
    """
    constructors = loader.yaml_constructors
    max_depth = limits.max_depth
    scalar_node, mapping_node = yaml.ScalarNode, yaml.MappingNode
    count = 1

    def build(node: yaml.Node, depth: int) -> Any:
        nonlocal count
        cls = node.__class__
        tag = node.tag
        if cls is scalar_node:
            if tag == _STR:
                return node.value
            if tag not in _SCALAR_TAGS:
                raise _Unusual
            return constructors[tag](loader, node)
        value = node.value
        if value and depth >= max_depth:
            raise _Unusual
        depth += 1
        if cls is mapping_node:
            if tag != _MAP:
                raise _Unusual
            count += len(value) << 1
            out: dict[Any, Any] = {}
            for key, item in value:
                if key.__class__ is not scalar_node or key.tag != _STR:
                    raise _Unusual
                if item.__class__ is scalar_node and item.tag == _STR:
                    out[key.value] = item.value
                else:
                    out[key.value] = build(item, depth)
            if len(out) != len(value):
                raise _Unusual  # a duplicate key
            return out
        if tag != _SEQ:
            raise _Unusual
        count += len(value)
        return [build(item, depth) for item in value]

    data = build(root, 1)
    if count > limits.max_nodes:
        raise _Unusual
    return data


def parse_text(text: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse one YAML document from text with every check of :func:`load_file`."""
    if "&" not in text:  # no anchor, so no alias: the common case, built in one pass
        loader = SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            return _construct_plain(loader, node, limits)
        except (_Unusual, yaml.YAMLError, RecursionError, ValueError, TypeError, KeyError):
            pass  # the general path below decides, with its own messages and errors
        finally:
            loader.dispose()
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
        raise YamlRefused(yaml_message(exc, text)) from None
    except RecursionError:
        raise YamlRefused(f"nesting deeper than {limits.max_depth} levels") from None
    except (ValueError, KeyError, AttributeError, TypeError):
        # PyYAML's constructors raise these, not YAMLError, for an explicit tag whose
        # value does not fit it: `!!int twenty`, `!!bool maybe`, `!!timestamp soon`.
        raise YamlRefused(TAG_MISMATCH) from None
    finally:
        loader.dispose()


TAG_MISMATCH = (
    "invalid YAML: a value does not fit its explicit tag (!!int, !!float, !!bool, "
    "!!timestamp); remove the tag or fix the value"
)

_UNLIMITED = Limits(max_bytes=1 << 62, max_depth=1 << 20, max_nodes=1 << 62)


def load_document(text: str | bytes) -> Any:
    """One YAML document exactly as ``yaml.load(text, Loader=SafeLoader)`` reads it.

    For text gitops-edge wrote itself (rendered files, eggo configs read back from live
    objects): no limits, no refusals (a duplicate key is last-wins, as in PyYAML), but
    the anchor-free common case is built in one pass, several times faster.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - the safe loader
    if "&" not in text:
        loader = SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            return _construct_plain(loader, node, _UNLIMITED)
        except (_Unusual, yaml.YAMLError, RecursionError, ValueError, TypeError, KeyError):
            pass  # PyYAML's own path below decides, with its own errors
        finally:
            loader.dispose()
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - the safe loader


def yaml_message(exc: yaml.YAMLError, text: str | None = None) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        # str() of a ReaderError spans two lines and counts characters, not lines
        where = f"line {text.count(chr(10), 0, exc.position) + 1}: " if text is not None else ""
        return f"invalid YAML: {where}character #x{exc.character:04x} is not allowed ({exc.reason}); remove it"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"invalid YAML: {where}{problem}"


def read_text(root: Path, path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Read a repo file as UTF-8, refusing escapes from the repo, oversize and bad bytes."""
    raw = _read_plain(root, path, limits)
    if raw is None:
        raw = _read_checked(root, path, limits)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlRefused(
            f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}); save it as UTF-8"
        ) from None


_FD_DIR = "/proc/self/fd"
_HAS_FD_DIR = Path(_FD_DIR).is_dir()


def _read_plain(root: Path, path: Path, limits: Limits) -> bytes | None:
    """The bytes of an ordinary file, or None when any check needs a closer look.

    One open, then the kernel's own answer to "which file is this" (the descriptor's
    link in ``/proc``), so the common case costs a few system calls rather than a
    ``realpath`` walk; symlinks, odd files and errors go through :func:`_read_checked`,
    which gives each its message.
    """
    if not _HAS_FD_DIR:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        real = os.readlink(f"{_FD_DIR}/{fd}")  # noqa: PTH115 - a str, no Path per file
        base = os.fspath(root)
        if not real.startswith(base.rstrip("/") + "/"):
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limits.max_bytes:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:
            return None
        return raw
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_checked(root: Path, path: Path, limits: Limits) -> bytes:
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
    return raw


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
    return Problem(relpath(root, path), exc.field, exc.message, exc.line, exc.column)


# --- where a field is -------------------------------------------------------------
# Problems are made from field paths (``spec.eggo.masters[0].port``), far from the
# parser. Keeping a mark for every value of every file would cost memory and time on
# the 99 % of files that are fine, so the marks are found afterwards: the few files
# with problems are composed again (PyYAML's node graph keeps each node's line and
# column) and each path is walked down it.

_AT_A_MARK = ("invalid YAML", "duplicate key", "nesting deeper")
"""Whole-file refusals that happen at one place in the text (others, such as size, do not)."""
_INDEX = re.compile(r"\[([0-9]+)\]\.?")


def node_mark(root: yaml.Node, field: str) -> tuple[int, int]:
    """1-based (line, column) of the key at ``field`` in the node graph ``root``.

    A path that runs past what the file has (a required field that is missing) stops
    at its deepest existing parent, which is where the field belongs. A key holding
    dots (``gitops-edge.io/site``) is matched whole: the longest key that prefixes
    the rest of the path wins.
    """
    node, rest, mark = root, field, root.start_mark
    while rest:
        if isinstance(node, yaml.MappingNode):
            best: tuple[yaml.Node, yaml.Node] | None = None
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                text = str(key.value)
                prefixes = rest == text or rest.startswith((text + ".", text + "["))
                if prefixes and (best is None or len(text) > len(str(best[0].value))):
                    best = (key, value)
            if best is None:
                break
            mark, node = best[0].start_mark, best[1]
            rest = rest[len(str(best[0].value)) :].removeprefix(".")
        elif isinstance(node, yaml.SequenceNode):
            found = _INDEX.match(rest)
            if found is None or int(found.group(1)) >= len(node.value):
                break
            node = node.value[int(found.group(1))]
            mark, rest = node.start_mark, rest[found.end() :]
        else:
            break
    return mark.line + 1, mark.column + 1


def compose_all(text: str) -> list[yaml.Node]:
    """Every document's node graph (no values built, so no alias is expanded)."""
    loader = SafeLoader(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes
    finally:
        loader.dispose()


def error_mark(text: str) -> tuple[int, int] | None:
    """Where ``text`` fails to parse or is refused (duplicate key, depth), or None."""
    try:
        for node in compose_all(text):
            check_tree(node, DEFAULT_LIMITS)
    except YamlRefused as exc:
        return (exc.line, exc.column) if exc.line else None
    except yaml.reader.ReaderError as exc:
        return text.count("\n", 0, exc.position) + 1, 0
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return (mark.line + 1, mark.column + 1) if mark is not None else None
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return None


def locate(root: Path, problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """``problems`` with the line and column of their field filled in where the file has it.

    Only files with a problem that has no line yet are read again. A problem without
    a field is a whole-file problem: it gets the line of the parse error or refusal,
    if that is what it is, and stays without a line otherwise.
    """
    problems = tuple(problems)
    files = {p.file for p in problems if not p.line}
    if not files:
        return problems
    marks: dict[tuple[str, str], tuple[int, int] | None] = {}
    for name in sorted(files):
        wanted = {
            p.field
            for p in problems
            if p.file == name and not p.line and (p.field or p.message.startswith(_AT_A_MARK))
        }
        if not wanted:
            continue
        try:
            text = read_text(root, root / name)
        except (YamlRefused, OSError):
            continue
        try:
            nodes = compose_all(text)
        except (yaml.YAMLError, RecursionError, ValueError):
            nodes = []
        if len(nodes) == 1:
            for fld in wanted - {""}:
                marks[(name, fld)] = node_mark(nodes[0], fld)
        if "" in wanted:
            marks[(name, "")] = error_mark(text)
    out: list[Problem] = []
    for p in problems:
        mark = None if p.line else marks.get((p.file, p.field))
        out.append(p.at(*mark) if mark else p)
    return tuple(out)
