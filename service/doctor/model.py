"""What a doctor check reports (id, PASS/WARN/FAIL, what it saw, the fix) and how a report is printed."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass


class Status(enum.StrEnum):
    """The outcome of one check: FAIL breaks the chain, WARN limits it or could not be verified."""

    PASS = "PASS"  # noqa: S105 - a status name, not a password
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result; ``id`` is stable (scripts and tests match on it), ``fix`` says what to change."""

    id: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        """Return the ``{id, status, detail, fix}`` object ``doctor --json`` prints."""
        return {key: str(value) for key, value in asdict(self).items()}


def passed(check_id: str, detail: str) -> Check:
    """Return a PASS."""
    return Check(check_id, Status.PASS, detail)


def warned(check_id: str, detail: str, fix: str = "") -> Check:
    """Return a WARN."""
    return Check(check_id, Status.WARN, detail, fix)


def failed(check_id: str, detail: str, fix: str = "") -> Check:
    """Return a FAIL."""
    return Check(check_id, Status.FAIL, detail, fix)


class CannotVerifyError(Exception):
    """An AWS read a check needs was refused (AccessDenied: ``denied``) or not answered: WARN, not FAIL."""

    def __init__(self, needed: str, *, denied: bool = False) -> None:
        super().__init__(needed)
        self.needed = needed
        self.denied = denied


def cannot_verify(check_id: str, error: CannotVerifyError) -> Check:
    """Return the WARN of a check whose AWS read was refused or not answered, and what would let it run."""
    fix = (
        "give the identity running the doctor the read permission named (docs/doctor.md#permissions)"
        if error.denied
        else "run the doctor again once AWS answers"
    )
    return warned(check_id, f"cannot verify: {error.needed}", fix)


def policy_text(*statements: Mapping[str, object]) -> str:
    """Return a compact IAM policy document of ``statements``, for a fix's AWS CLI command."""
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}, separators=(",", ":")
    )


def exit_code(checks: Iterable[Check]) -> int:
    """Return 1 when any check failed, else 0."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


def render_json(checks: Sequence[Check]) -> str:
    """Return the report as a JSON list of ``{id, status, detail, fix}``."""
    return json.dumps([check.to_json() for check in checks], indent=2)


def render_text(checks: Sequence[Check]) -> str:
    """Return the report as lines: ``[STATUS] id: detail`` and, under a WARN or FAIL, ``fix: …``."""
    lines: list[str] = []
    for check in checks:
        lines.append(f"[{check.status.value}] {check.id}: {check.detail}")
        if check.fix and check.status is not Status.PASS:
            lines.append(f"       fix: {check.fix}")
    counts = {status: sum(check.status is status for check in checks) for status in Status}
    lines.append(
        f"{counts[Status.PASS]} passed, {counts[Status.WARN]} warnings, {counts[Status.FAIL]} failed"
    )
    return "\n".join(lines)
