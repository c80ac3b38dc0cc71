"""docs/operations.md has a runbook for every stable error code, and every anchor cited into it exists."""

from __future__ import annotations

import re
from pathlib import Path

from service.domain import errors
from service.domain.errors import ProblemCode

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "docs" / "operations.md"


def _error_codes() -> set[str]:
    """Return the code of BrokerError and of every subclass of it in service/domain/errors.py."""
    found: set[str] = set()
    pending: list[type[errors.BrokerError]] = [errors.BrokerError]
    while pending:
        error = pending.pop()
        found.add(str(error.code))
        pending += error.__subclasses__()
    return found


def _runbooks() -> list[str]:
    return re.findall(r"^### `([a-z_]+)`$", OPERATIONS.read_text(), flags=re.MULTILINE)


def _anchor(heading: str) -> str:
    # GitHub's rule: lower case, punctuation other than - and _ dropped, spaces to hyphens.
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_error_code_has_one_runbook() -> None:
    codes = _error_codes() | {code.value for code in ProblemCode}
    assert {"shutting_down", "internal_error", "invalid_token"} <= codes  # the walk found them
    runbooks = _runbooks()
    assert sorted(runbooks) == sorted(set(runbooks)), "a code has two runbooks"
    assert set(runbooks) == codes


def test_every_anchor_cited_into_operations_md_exists() -> None:
    headings = re.findall(r"^#{2,4} (.+)$", OPERATIONS.read_text(), flags=re.MULTILINE)
    anchors = {_anchor(heading) for heading in headings}
    cited: set[str] = set()
    for folder in ("service", "emulator", "deploy", "docs", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".yml", ".yaml", ".cfg", ".txt"}:
                cited |= set(re.findall(r"operations\.md#([\w-]+)", path.read_text()))
    for path in (ROOT / "README.md", ROOT / "docker-compose.yml", ROOT / "Dockerfile"):
        cited |= set(re.findall(r"operations\.md#([\w-]+)", path.read_text()))
    assert cited, "nothing cites docs/operations.md: the check would pass vacuously"
    assert cited <= anchors, cited - anchors
