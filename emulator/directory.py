"""The Identity Store (moto's identitystore backend): indexed user lookups, memberships, and the checks
moto leaves out that AWS makes (unique user names, unknown ids, duplicate memberships, cascades)."""

from __future__ import annotations

import json
from typing import Any

from moto.identitystore.models import IdentityStoreData, identitystore_backends
from werkzeug.wrappers import Response

from emulator.state import EmulatorState
from emulator.wire import AwsError, AwsRequest, error_response


class _VersionedUsers(dict[str, Any]):
    """moto's user table, counting its changes so the lookup index knows when to rebuild."""

    version = 0
    index: tuple[int, dict[str, list[str]], dict[str, list[str]]] | None = None

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.version += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.version += 1

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def clear(self) -> None:
        super().clear()
        self.version += 1

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.version += 1


def identity_store(state: EmulatorState) -> IdentityStoreData:
    """Return the emulator's identity store in moto, creating it (empty) on first use."""
    backend = identitystore_backends[state.account_id][state.region]
    store_id = state.identity_center.identity_store_id
    store = backend.identity_stores.get(store_id)
    if store is None:
        store = backend.identity_stores[store_id] = IdentityStoreData()
    if not isinstance(store.users, _VersionedUsers):
        store.users = _VersionedUsers(store.users)
    return store


def _build_index(users: _VersionedUsers) -> tuple[int, dict[str, list[str]], dict[str, list[str]]]:
    version = users.version  # read first: a change while building makes the next lookup rebuild
    by_name: dict[str, list[str]] = {}
    by_email: dict[str, list[str]] = {}
    for user_id, user in list(users.items()):
        by_name.setdefault(user.UserName, []).append(user_id)
        for value in dict.fromkeys(e.get("Value") for e in user.Emails or []):
            if isinstance(value, str):
                by_email.setdefault(value, []).append(user_id)
    return version, by_name, by_email


def find_users(state: EmulatorState, attribute_path: str, value: str) -> list[str]:
    """Return the Identity Store user ids whose `userName` / `emails.value` equals `value`.

    Looked up in an index of the store's users, rebuilt after any create, update or delete of a user.
    """
    users = identity_store(state).users
    assert isinstance(users, _VersionedUsers)  # noqa: S101 - identity_store() wraps the table
    index = users.index
    if index is None or index[0] != users.version:
        index = users.index = _build_index(users)
    path = attribute_path.lower()
    table = index[1] if path == "username" else index[2] if path == "emails.value" else {}
    return list(table.get(value, []))


def group_ids_of(state: EmulatorState, user_id: str) -> set[str]:
    """Return the Identity Store group ids the user is a member of."""
    memberships = identity_store(state).group_memberships
    return {m["GroupId"] for m in list(memberships.values()) if m["MemberId"].get("UserId") == user_id}


def principal_exists(state: EmulatorState, principal_type: str, principal_id: str) -> bool:
    """Return whether a USER or GROUP with that id is in the identity store."""
    store = identity_store(state)
    return principal_id in (store.users if principal_type == "USER" else store.groups)


def _not_found(kind: str, resource_id: str) -> AwsError:
    label = kind.replace("_", " ").lower()
    return AwsError(
        "ResourceNotFoundException",
        f"{label.capitalize()} {resource_id} not found.",
        400,
        fields={"ResourceType": kind, "ResourceId": resource_id},
    )


def _conflict(message: str) -> AwsError:
    return AwsError("ConflictException", message, 400, fields={"Reason": "UNIQUENESS_CONSTRAINT_VIOLATION"})


class DirectoryGuard:
    """Check identitystore requests before moto serves them; answer the refusals AWS would give."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(self, req: AwsRequest) -> Response | None:
        """Return AWS's error for a request it refuses, else None to let moto serve it."""
        req.operation = req.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return None  # moto answers malformed bodies itself
        try:
            self._check(req.operation, body if isinstance(body, dict) else {})
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("json", err)
        return None

    def _check(self, operation: str, body: dict[str, Any]) -> None:
        store_id = str(body.get("IdentityStoreId", "")).rsplit("/", 1)[-1]
        if store_id and store_id != self.state.identity_center.identity_store_id:
            raise _not_found("IDENTITY_STORE", store_id)
        store = identity_store(self.state)
        with self.state.lock:
            if operation == "CreateUser" and any(
                u.UserName == body.get("UserName") for u in list(store.users.values())
            ):
                raise _conflict("Duplicate UserName")
            if operation == "DeleteUser":
                self._drop_memberships(store, "USER", str(body.get("UserId", "")))
            elif operation == "DeleteGroup":
                self._drop_memberships(store, "GROUP", str(body.get("GroupId", "")))
            elif operation == "CreateGroupMembership":
                user_id = str((body.get("MemberId") or {}).get("UserId", ""))
                group_id = str(body.get("GroupId", ""))
                if any(
                    m["GroupId"] == group_id and m["MemberId"].get("UserId") == user_id
                    for m in list(store.group_memberships.values())
                ):
                    raise _conflict("Duplicate GroupMembership")
            elif operation == "DeleteGroupMembership":
                membership_id = str(body.get("MembershipId", ""))
                if membership_id not in store.group_memberships:
                    raise _not_found("GROUP_MEMBERSHIP", membership_id)

    @staticmethod
    def _drop_memberships(store: IdentityStoreData, kind: str, resource_id: str) -> None:
        """A deleted user or group leaves no memberships behind (moto keeps them)."""
        if resource_id not in (store.users if kind == "USER" else store.groups):
            raise _not_found(kind, resource_id)
        for membership_id, m in list(store.group_memberships.items()):
            member = m["MemberId"].get("UserId") if kind == "USER" else m["GroupId"]
            if member == resource_id:
                del store.group_memberships[membership_id]
