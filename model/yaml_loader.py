"""Reading an environment file: bounded, unambiguous YAML.

An environment file can never say two things, nor make the tool work unboundedly:

* a key given twice in one mapping, at any depth, is an error naming both lines (PyYAML keeps
  the last value silently: an appended ``deletion_policy: ephemeral`` would unprotect prod);
* anchors, aliases and merge keys are refused: an environment file has no need for them, and
  refusing them is what makes an alias bomb (a few lines expanding to billions of nodes)
  impossible;
* files above :data:`MAX_FILE_BYTES` are refused before parsing, nesting deeper than
  :data:`MAX_DEPTH` is refused while parsing;
* every way a path can fail (missing, a directory, a symlink loop, unreadable, not UTF-8, not a
  regular file) is reported as a problem with a fix, never an exception of another kind.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

from model.excerpt import excerpt

MAX_FILE_BYTES = 256 * 1024
"""Largest environment file read (the checked-in ones are about 2 KiB)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted (the schema needs 3)."""


class EnvironmentYamlError(Exception):
    """The file can't be read or isn't acceptable YAML; ``problem`` is one line with its fix."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, anchors or merge keys, refusing duplicate keys and deep nesting."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise EnvironmentYamlError(
                f"(file) line {event.start_mark.line + 1}: YAML aliases (*{excerpt(event.anchor, 40)}) are not "
                "accepted in an environment file (they can expand without bound and are never needed). "
                "Fix: write the value out in full"
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise EnvironmentYamlError(
                f"(file) line {event.start_mark.line + 1}: YAML anchors (&{excerpt(anchor, 40)}) are not "
                "accepted in an environment file (aliases are refused, so an anchor has no use). "
                "Fix: remove the anchor"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise EnvironmentYamlError(
                    f"(file) line {event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels. "
                    "Fix: an environment file needs at most 3 levels; see README.md"
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        assert isinstance(node, MappingNode)
        seen: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise EnvironmentYamlError(
                    f"(file) line {key_node.start_mark.line + 1}: YAML merge keys (<<) are not accepted in an "
                    "environment file. Fix: write the keys out in full"
                )
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: PyYAML's own error below says so
                continue
            if first is not None:
                raise EnvironmentYamlError(
                    f"(file) lines {first} and {line}: the key {excerpt(key)} is given twice in the same "
                    "mapping (YAML would silently keep the last value). Fix: keep exactly one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def parse_yaml(text: str) -> Any:
    """Parse environment-file YAML strictly; EnvironmentYamlError with a one-line problem."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        raise EnvironmentYamlError(_too_large(len(text.encode("utf-8", errors="replace"))))
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except EnvironmentYamlError:
        raise
    except yaml.YAMLError as exc:
        raise EnvironmentYamlError(
            f"(file): is not valid YAML ({excerpt(str(exc), 400)}). Fix: correct the syntax"
        ) from None
    except RecursionError:
        raise EnvironmentYamlError(
            f"(file): nested too deeply. Fix: an environment file needs at most {MAX_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()


def _too_large(size: int) -> str:
    return (
        f"(file): is {size} bytes, above the limit of {MAX_FILE_BYTES} bytes ({MAX_FILE_BYTES // 1024} KiB) "
        "for an environment file. Fix: an environment file is a few KiB; check that this is the right file"
    )


def read_text(path: Path, *, missing_hint: str) -> str:
    """The file's text, bounded; every failure an EnvironmentYamlError with a fix."""
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):  # some platforms open directories
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise EnvironmentYamlError(
                    "(file): is not a regular file (a device, pipe or socket). Fix: pass a YAML file"
                )
            if info.st_size > MAX_FILE_BYTES:
                raise EnvironmentYamlError(_too_large(info.st_size))
            data = handle.read(MAX_FILE_BYTES + 1)
    except EnvironmentYamlError:
        raise
    except FileNotFoundError:
        raise EnvironmentYamlError(f"(file): does not exist. Fix: {missing_hint}") from None
    except IsADirectoryError:
        raise EnvironmentYamlError(
            "(file): is a directory, not an environment file. Fix: pass a file such as environments/dev.yaml"
        ) from None
    except PermissionError:
        raise EnvironmentYamlError(
            "(file): cannot be read (permission denied). Fix: make it readable (chmod u+r) or run as its owner"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EnvironmentYamlError(
                "(file): is a symbolic link loop (too many levels of symbolic links). Fix: point the link at "
                "a real file"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise EnvironmentYamlError(
                f"(file): does not exist (a part of the path is not a directory). Fix: {missing_hint}"
            ) from None
        raise EnvironmentYamlError(
            f"(file): cannot be read ({exc.strerror or type(exc).__name__}). Fix: check the path"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise EnvironmentYamlError(_too_large(len(data)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvironmentYamlError(
            f"(file): cannot be read as UTF-8 text (invalid byte at offset {exc.start}). Fix: save it as UTF-8"
        ) from None
