"""Typed reads from a Document: each read checks one value and records a Problem at its line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from service.setup.document import FILL, Document, Path_, Problem


def _where(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the file"


class Reader:
    """Reads values out of a Document, collecting every problem instead of stopping at the first."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.problems: list[Problem] = []

    def problem(self, path: Path_, message: str) -> None:
        """Record a problem at ``path``'s line."""
        self.problems.append(Problem(self.document.line(path), f"{_where(path)}: {message}"))

    def raw(self, path: Path_) -> Any:
        """Return the value at ``path`` (None when absent)."""
        value: Any = self.document.data
        for part in path:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        return value

    def mapping(
        self, path: Path_, keys: Iterable[str], required: Iterable[str] = (), *, optional: bool = False
    ) -> dict[str, Any] | None:
        """Return the mapping at ``path`` after checking its keys; None when absent or not a mapping."""
        value = self.raw(path)
        if value is None:
            if not optional:
                self.problem(path, "is required")
            return None
        if not isinstance(value, dict):
            self.problem(path, "must be a mapping (key: value lines)")
            return None
        allowed = list(keys)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(allowed)})"
                self.problem((*path, key), f"unknown key{hint}")
        for key in required:
            if key not in value:
                self.problem(path, f"{key!r} is required")
        return value

    def string(
        self,
        path: Path_,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        default: str | None = None,
    ) -> str | None:
        """Return the string at ``path`` (``default`` when absent), checked against ``pattern``."""
        value = self.raw(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem(path, "must be a text value")
            return default
        text = str(value)
        if not text:
            self.problem(path, "must not be empty")
            return default
        if FILL.search(text):
            return default  # already reported by the document: one problem per value
        if pattern is not None and not pattern.fullmatch(text):
            self.problem(path, f"{text!r} is not {what or 'valid here'}")
            return default
        return text

    def boolean(self, path: Path_, default: bool) -> bool:
        """Return the true/false value at ``path``."""
        value = self.raw(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(path, "must be true or false")
            return default
        return value

    def integer(self, path: Path_, default: int, low: int, high: int) -> int:
        """Return the whole number at ``path``, within [low, high]."""
        value = self.raw(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}")
            return default
        return value

    def items(self, path: Path_, *, optional: bool = True) -> list[Any]:
        """Return the list at ``path`` (empty when absent)."""
        value = self.raw(path)
        if value is None:
            if not optional:
                self.problem(path, "is required")
            return []
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return []
        return value

    def strings(
        self,
        path: Path_,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        optional: bool = True,
        low: int = 0,
        high: int = 1000,
    ) -> tuple[str, ...]:
        """Return the list of strings at ``path`` (a single string counts as a list of one)."""
        if isinstance(self.raw(path), str):
            one = self.string(path, pattern=pattern, what=what)
            return (one,) if one else ()
        values = self.items(path, optional=optional)
        result = []
        for index in range(len(values)):
            text = self.string((*path, index), pattern=pattern, what=what)
            if text is not None:
                result.append(text)
        if values and not low <= len(values) <= high:
            self.problem(path, f"must list {low} to {high} values")
        if len(set(result)) != len(result):
            self.problem(path, "lists a value twice")
        return tuple(result)
