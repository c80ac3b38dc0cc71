"""A small IAM policy evaluator for the doctor: does a document allow this principal this action?

It reads Effect, Principal, Action/NotAction, Resource/NotResource and the String/Arn condition operators
on keys the doctor knows; a statement that depends on any other key is "conditional" (WARN, not FAIL).
Explicit denies win, as in IAM. Not a full IAM engine: no permission boundaries, SCPs or session policies.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


class Decision(enum.Enum):
    """What a policy document says about one request."""

    ALLOWED = "allowed"
    CONDITIONAL = "allowed only under conditions the doctor cannot evaluate"
    NOT_ALLOWED = "no statement allows it"
    DENIED = "an explicit Deny refuses it"


@dataclass(frozen=True, slots=True)
class Request:
    """The request a policy is asked about; ``principals`` are every ARN or id the caller goes by."""

    action: str
    principals: frozenset[str] = frozenset()
    resource: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)


def parse_document(document: object) -> dict[str, Any]:
    """Return a policy document as a dict (IAM answers may carry it URL-encoded JSON text)."""
    if isinstance(document, Mapping):
        return dict(document)
    if isinstance(document, str):
        text = document if document.lstrip().startswith("{") else unquote(document)
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            return parsed
    raise ValueError("not a policy document")


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    return [str(value)]


def _matches(patterns: Sequence[str], value: str) -> bool:
    # IAM action and resource wildcards: * and ?, actions compared without case.
    return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)


def _principal_matches(principal: object, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for kind, values in principal.items():
        for value in _as_list(values):
            if value == "*" and kind == "AWS":
                return True
            if value in request.principals:
                return True
    return False


def _condition_holds(operator: str, expected: Sequence[str], actual: str | None) -> bool | None:
    """Return whether one condition holds; None when the operator is not one the doctor evaluates."""
    base = operator.removeprefix("ForAnyValue:").removeprefix("ForAllValues:").removesuffix("IfExists")
    negate = "Not" in base
    base = base.replace("Not", "")
    if base in ("StringEquals", "ArnEquals"):
        found = actual is not None and actual in expected
    elif base in ("StringLike", "ArnLike"):
        found = actual is not None and any(fnmatch.fnmatchcase(actual, pattern) for pattern in expected)
    elif base == "StringEqualsIgnoreCase":
        found = actual is not None and actual.lower() in {value.lower() for value in expected}
    else:
        return None
    return not found if negate else found


def _conditions(statement: Mapping[str, Any], request: Request) -> bool | None:
    """Return whether every condition of a statement holds; None when one cannot be evaluated."""
    block = statement.get("Condition") or {}
    if not isinstance(block, Mapping):
        return None
    for operator, keys in block.items():
        if not isinstance(keys, Mapping):
            return None
        for key, expected in keys.items():
            known = {k.lower(): v for k, v in request.context.items()}
            if key.lower() not in known:
                return None
            holds = _condition_holds(str(operator), _as_list(expected), known[key.lower()])
            if holds is None:
                return None
            if not holds:
                return False
    return True


def _applies(statement: Mapping[str, Any], request: Request, *, needs_principal: bool) -> bool:
    if needs_principal and (
        "NotPrincipal" in statement or not _principal_matches(statement.get("Principal"), request)
    ):
        return False
    if "NotAction" in statement:
        if _matches(_as_list(statement["NotAction"]), request.action):
            return False
    elif not _matches(_as_list(statement.get("Action")), request.action):
        return False
    if request.resource is None:
        return True
    if "NotResource" in statement:
        return not _matches(_as_list(statement["NotResource"]), request.resource)
    return _matches(_as_list(statement.get("Resource", "*")), request.resource)


def evaluate(documents: Iterable[object], request: Request, *, resource_policy: bool) -> Decision:
    """Return what the documents (one trust policy, or every identity policy of a role) decide.

    ``resource_policy``: the documents name principals (a trust policy), so a statement applies only to
    the principals it names.
    """
    allowed = conditional = False
    for document in documents:
        statements = parse_document(document).get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if not isinstance(statement, Mapping):
                continue
            if not _applies(statement, request, needs_principal=resource_policy):
                continue
            holds = _conditions(statement, request)
            if statement.get("Effect") == "Deny":
                if holds is True:
                    return Decision.DENIED
                conditional = conditional or holds is None
            elif statement.get("Effect") == "Allow":
                allowed = allowed or holds is True
                conditional = conditional or holds is None
    if allowed and not conditional:
        return Decision.ALLOWED
    if allowed or conditional:
        return Decision.CONDITIONAL
    return Decision.NOT_ALLOWED
