"""Read a setup file: YAML composed with its node marks, so every value keeps the line it came from.

`${NAME}` in a string is replaced by the environment variable NAME; a string holding `<FILL: …>` is a value
the user has yet to fill in. Both are reported with their line, never silently kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
FILL = re.compile(r"<FILL:\s*([^>]*)>")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, at a line (0 when the whole file is concerned)."""

    line: int
    message: str

    def render(self, source: str) -> str:
        """Return `file:line: message`."""
        return f"{source}:{self.line}: {self.message}" if self.line else f"{source}: {self.message}"


class SetupFileError(Exception):
    """The setup file is unreadable or invalid; nothing was changed."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(p.render(source) for p in self.problems))


@dataclass
class Document:
    """Plain data (dicts, lists, scalars) plus the line of every path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """Return the line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def load_document(path: Path, environ: Mapping[str, str] | None = None) -> Document:
    """Compose ``path`` into a Document, substituting `${NAME}` from ``environ`` (default os.environ).

    Raises:
        SetupFileError: the file cannot be read or parsed, names an unset variable or holds `<FILL: …>`.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupFileError(source, [Problem(0, f"cannot read the file: {exc}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise SetupFileError(source, [Problem(line, f"not valid YAML: {reason}")]) from None
    finally:
        loader.dispose()
    if node is None:
        raise SetupFileError(source, [Problem(0, "the file is empty")])
    builder = _Builder(loader, os.environ if environ is None else environ)
    document = Document(builder.build(node, ()), builder.lines)
    if builder.problems:
        raise SetupFileError(source, builder.problems)
    return document


class _Builder:
    """Turn composed nodes into plain values, recording lines and substitution problems."""

    def __init__(self, loader: yaml.SafeLoader, environ: Mapping[str, str]) -> None:
        self.loader = loader
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.lines[path], f"bad value: {exc}"))
            return None
        return self._substitute(value, self.lines[path]) if isinstance(value, str) else value

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(line, "a key must be a plain word"))
                continue
            key = str(key_node.value)
            if key in result:
                self.problems.append(Problem(line, f"{key!r} appears twice in this mapping"))
                continue
            result[key] = self.build(value_node, (*path, key))
            self.lines[(*path, key)] = line
        return result

    def _substitute(self, value: str, line: int) -> str:
        fill = FILL.search(value)
        if fill:
            self.problems.append(Problem(line, f"fill in this value: {fill.group(1).strip()}"))
            return value

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problems.append(Problem(line, f"${{{name}}} is not set in the environment"))
                return match.group(0)
            return self.environ[name]

        return VARIABLE.sub(variable, value)
