"""A reader of the project's Dockerfile and .dockerignore: stages, instructions and the build context."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    """One ``FROM … AS name`` stage and its instructions, as (INSTRUCTION, arguments) pairs."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        """Return the arguments of every ``instruction`` of this stage, in order."""
        return [args for name, args in self.instructions if name == instruction]

    def copied_from_context(self) -> list[str]:
        """Return the context paths this stage's COPY instructions read (not ``--from`` copies)."""
        sources: list[str] = []
        for args in self.arguments("COPY"):
            words = shlex.split(args)
            if any(word.startswith("--from=") for word in words):
                continue
            sources += [word for word in words if not word.startswith("--")][:-1]
        return sources

    def copied_from_stages(self) -> list[str]:
        """Return the names of the stages this stage copies from."""
        return re.findall(r"--from=(\S+)", " ".join(self.arguments("COPY")))


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """Return the Dockerfile's stages in order."""
    found: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(found))
            found.append(Stage(name=name, base=words[0]))
        elif found:
            found[-1].instructions.append((instruction, args.strip()))
    return found


def stage(name: str) -> Stage:
    """Return the stage called ``name``."""
    return next(s for s in stages() if s.name == name)


def _pattern(text: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern (Go filepath.Match plus ``**``) to a regular expression."""
    out = ""
    index = 0
    while index < len(text):
        if text.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif text.startswith("**", index):
            out, index = out + ".*", index + 2
        elif text[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif text[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(text[index]), index + 1
    return re.compile(out)


def ignored(relative: str, path: Path = DOCKERIGNORE) -> bool:
    """Return whether ``relative`` (a path in the repository) is left out of the build context.

    As Docker reads it: the last pattern matching the path or one of its parent directories decides,
    and ``!`` re-includes.
    """
    lines = [line.strip() for line in path.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    parts = Path(relative).parts
    prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict
