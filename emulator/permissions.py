"""IAM identity-based policy checks for role sessions: inline and attached policies in moto's IAM backend."""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends

from emulator.state import Credential, EmulatorState, Role
from emulator.wire import AwsError


def as_list(value: Any) -> list[Any]:
    """A policy field (Action, Resource, Principal entries) as a list: IAM allows one value or a list."""
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str, *, case_sensitive: bool) -> bool:
    if case_sensitive:
        return any(fnmatch.fnmatchcase(value, str(p)) for p in as_list(patterns))
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in as_list(patterns))


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = json.loads(unquote(text))  # IAM hands documents around URL-encoded
    return parsed if isinstance(parsed, dict) else {}


def iam_role(role_arn: str) -> Role | None:
    """Return the role as STS sees it, read from moto's IAM: create_role and update_assume_role_policy
    through the API take effect at once. None for an unknown role or a mismatching path."""
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    try:
        role = iam_backends[parts[4]]["aws"].get_role(parts[5].rsplit("/", 1)[-1])
    except NotFoundException:
        return None
    if role.arn != role_arn:
        return None
    trust = _document(role.assume_role_policy_document or "{}")
    return Role(role.arn, role.name, role.id, trust, int(role.max_session_duration or 3600))


def role_policies(state: EmulatorState, role_arn: str) -> list[dict[str, Any]]:
    """Return the role's inline and attached managed policy documents (empty for an unknown role)."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    try:
        role = iam_backends[account]["aws"].get_role(name)
    except NotFoundException:
        return []
    documents = [_document(doc) for doc in role.policies.values()]
    for policy in role.managed_policies.values():
        documents += [_document(v.document) for v in policy.versions if v.is_default]
    return documents


def user_policies(state: EmulatorState, user_arn: str) -> list[dict[str, Any]]:
    """Return an IAM user's inline and attached managed policy documents, its groups' included."""
    account, name = user_arn.split(":")[4], user_arn.rsplit("/", 1)[-1]
    backend = iam_backends[account]["aws"]
    try:
        user = backend.get_user(name)
    except NotFoundException:
        return []
    documents = [_document(doc) for doc in user.policies.values()]
    for policy in user.managed_policies.values():
        documents += [_document(v.document) for v in policy.versions if v.is_default]
    for group in backend.get_groups_for_user(name):
        documents += [_document(doc) for doc in group.policies.values()]
        for policy in group.managed_policies.values():
            documents += [_document(v.document) for v in policy.versions if v.is_default]
    return documents


def identity_policies(state: EmulatorState, caller: Credential) -> list[dict[str, Any]] | None:
    """Return the identity-based policies of an IAM user or role session; None for other callers."""
    if caller.kind == "iam_user":
        return user_policies(state, caller.arn)
    if caller.kind == "role_session" and caller.role_arn is not None:
        return role_policies(state, caller.role_arn)
    return None


def decision(documents: list[dict[str, Any]], action: str, resource: str) -> str:
    """Return `Allow`, `Deny` (an explicit deny) or `ImplicitDeny` for one action on one resource.

    Statements with a Condition, NotAction or NotResource never match: the emulator does not evaluate
    them, and a statement it cannot evaluate must not grant anything.
    """
    allowed = False
    for document in documents:
        for statement in as_list(document.get("Statement", [])):
            if (
                not isinstance(statement, dict)
                or {"Condition", "NotAction", "NotResource"} & statement.keys()
            ):
                continue
            if not _matches(statement.get("Action", []), action, case_sensitive=False):
                continue
            if not _matches(statement.get("Resource", []), resource, case_sensitive=True):
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else "ImplicitDeny"


def require(
    state: EmulatorState,
    caller: Credential,
    action: str,
    resource: str,
    *,
    code: str = "AccessDenied",
    status: int = 403,
    kinds: frozenset[str] = frozenset({"role_session"}),
) -> None:
    """Refuse a caller of one of ``kinds`` whose identity-based policies do not allow ``action``.

    The message has IAM's shape, which is how AWS tells this apart from an S3 Access Grants denial.
    """
    documents = identity_policies(state, caller) if caller.kind in kinds else None
    if documents is None:
        return
    outcome = decision(documents, action, resource)
    if outcome == "Allow":
        return
    why = (
        "with an explicit deny in an identity-based policy"
        if outcome == "Deny"
        else f"because no identity-based policy allows the {action} action"
    )
    raise AwsError(
        code,
        f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {why}",
        status,
    )
