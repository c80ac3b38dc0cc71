"""Identity Store users, groups and memberships: read, compared with the file, and the changes planned.

Identity Store has no tags, so ownership is a marker: `UserType` of a user and the end of a group's
`Description` hold `tip-broker:setup=<name>`. A membership belongs to the setup that owns its group or
its user.
"""

from __future__ import annotations

from typing import Any

from service.setup.aws import Clients, pages
from service.setup.model import GroupSpec, SetupSpec, UserSpec
from service.setup.plan import Context, Plan, Ref, creating, request

RESOURCE = "identity store"


def _group_description(spec: SetupSpec, group: GroupSpec) -> str:
    marker = f"[{spec.marker}]"
    return f"{group.description} {marker}" if group.description else marker


def _user_fields(user: UserSpec) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "DisplayName": user.display_name,
        "Name": {"GivenName": user.given_name, "FamilyName": user.family_name},
    }
    if user.email:
        fields["Emails"] = [{"Value": user.email, "Type": "work", "Primary": True}]
    return fields


def _user_differences(user: UserSpec, found: dict[str, Any]) -> list[str]:
    name = found.get("Name") or {}
    emails = [e.get("Value") for e in found.get("Emails") or []]
    wanted = [user.email] if user.email else []
    differences = []
    if found.get("DisplayName") != user.display_name:
        differences.append("displayName")
    if (name.get("GivenName"), name.get("FamilyName")) != (user.given_name, user.family_name):
        differences.append("name")
    if emails != wanted:
        differences.append("emails")
    return differences


class Directory:
    """What the identity store holds, and which of it this setup owns; resolves names to context keys."""

    def __init__(self, clients: Clients, spec: SetupSpec, context: Context) -> None:
        store = {"IdentityStoreId": context.store_id}
        self.clients = clients
        self.spec = spec
        self.users = {
            str(u["UserName"]): u
            for u in pages(f"{RESOURCE} users", clients.identitystore, "ListUsers", "Users", **store)
        }
        self.groups = {
            str(g.get("DisplayName")): g
            for g in pages(f"{RESOURCE} groups", clients.identitystore, "ListGroups", "Groups", **store)
        }
        self.owned_users = {n for n, u in self.users.items() if u.get("UserType") == spec.marker}
        self.owned_groups = {
            n for n, g in self.groups.items() if str(g.get("Description") or "").endswith(f"[{spec.marker}]")
        }
        self.file_users = {u.user_name for u in spec.users}
        self.file_groups = {g.name for g in spec.groups}
        for name, user in self.users.items():
            if name in self.file_users or name not in self.owned_users:
                context[f"user:{name}"] = str(user["UserId"])
        for name, group in self.groups.items():
            if name in self.file_groups or name not in self.owned_groups:
                context[f"group:{name}"] = str(group["GroupId"])

    def names_by_id(self) -> dict[str, str]:
        """Return user and group names by their ids."""
        names = {str(u["UserId"]): name for name, u in self.users.items()}
        names.update({str(g["GroupId"]): name for name, g in self.groups.items()})
        return names

    def resolve(self, plan: Plan, kind: str, name: str, line: int) -> str | None:
        """Return the context key of user or group ``name``, or record why it cannot be used."""
        in_file = self.file_users if kind == "user" else self.file_groups
        found = self.users if kind == "user" else self.groups
        owned = self.owned_users if kind == "user" else self.owned_groups
        if name in in_file:
            return f"{kind}:{name}"
        if name not in found:
            section = "identity_store.users" if kind == "user" else "identity_store.groups"
            plan.problem(line, f"no {kind} named {name!r} in the file ({section}) or in the identity store")
            return None
        if name in owned:
            plan.problem(line, f"{kind} {name!r} would be deleted by this plan (no longer in the file)")
            return None
        return f"{kind}:{name}"


def plan_directory(clients: Clients, spec: SetupSpec, plan: Plan) -> Directory:
    """Plan users, groups and memberships; return the Directory that later sections resolve names with."""
    directory = Directory(clients, spec, plan.context)
    _plan_groups(directory, plan)
    _plan_users(directory, plan)
    _plan_memberships(directory, plan)
    return directory


def _plan_groups(directory: Directory, plan: Plan) -> None:
    spec, ids = directory.spec, directory.clients.identitystore
    store = plan.context.store_id
    for group in spec.groups:
        label = f"{RESOURCE} group {group.name}"
        found = directory.groups.get(group.name)
        description = _group_description(spec, group)
        if found is None:
            create = creating(
                f"group:{group.name}",
                "GroupId",
                label,
                ids,
                "CreateGroup",
                IdentityStoreId=store,
                DisplayName=group.name,
                Description=description,
            )
            plan.add("create", label, "group", create)
        elif group.name not in directory.owned_groups:
            plan.problem(group.line, _foreign(spec, "group", group.name, "identity_store.groups"))
        elif found.get("Description") != description:
            operations = [{"AttributePath": "description", "AttributeValue": description}]
            update = request(
                label,
                ids,
                "UpdateGroup",
                IdentityStoreId=store,
                GroupId=found["GroupId"],
                Operations=operations,
            )
            plan.add("update", label, "group", update, "description")
        else:
            plan.same(label)
    for name in sorted(directory.owned_groups - directory.file_groups):
        label = f"{RESOURCE} group {name}"
        group_id = directory.groups[name]["GroupId"]
        plan.add(
            "delete",
            label,
            "group-delete",
            request(label, ids, "DeleteGroup", IdentityStoreId=store, GroupId=group_id),
        )


def _plan_users(directory: Directory, plan: Plan) -> None:
    spec, ids = directory.spec, directory.clients.identitystore
    store = plan.context.store_id
    for user in spec.users:
        label = f"{RESOURCE} user {user.user_name}"
        found = directory.users.get(user.user_name)
        if found is None:
            create = creating(
                f"user:{user.user_name}",
                "UserId",
                label,
                ids,
                "CreateUser",
                IdentityStoreId=store,
                UserName=user.user_name,
                UserType=spec.marker,
                **_user_fields(user),
            )
            plan.add("create", label, "user", create)
        elif user.user_name not in directory.owned_users:
            plan.problem(user.line, _foreign(spec, "user", user.user_name, "identity_store.users"))
        elif differences := _user_differences(user, found):
            fields = _user_fields(user)
            operations = [
                {"AttributePath": path, "AttributeValue": fields.get(key, [])}
                for path, key in (("displayName", "DisplayName"), ("name", "Name"), ("emails", "Emails"))
                if path in differences
            ]
            update = request(
                label, ids, "UpdateUser", IdentityStoreId=store, UserId=found["UserId"], Operations=operations
            )
            plan.add("update", label, "user", update, ", ".join(differences))
        else:
            plan.same(label)
    for name in sorted(directory.owned_users - directory.file_users):
        label = f"{RESOURCE} user {name}"
        user_id = directory.users[name]["UserId"]
        plan.add(
            "delete",
            label,
            "user-delete",
            request(label, ids, "DeleteUser", IdentityStoreId=store, UserId=user_id),
        )


def _existing_memberships(directory: Directory, plan: Plan) -> dict[tuple[str, str], str]:
    """Return (user name, group name) → membership id for the memberships of owned groups and users."""
    ids, store = directory.clients.identitystore, plan.context.store_id
    user_names = {str(u["UserId"]): n for n, u in directory.users.items()}
    group_names = {str(g["GroupId"]): n for n, g in directory.groups.items()}
    existing: dict[tuple[str, str], str] = {}
    for name in directory.owned_groups:
        label = f"{RESOURCE} group {name} memberships"
        group_id = directory.groups[name]["GroupId"]
        listing = pages(
            label, ids, "ListGroupMemberships", "GroupMemberships", IdentityStoreId=store, GroupId=group_id
        )
        for item in listing:
            member = user_names.get(str((item.get("MemberId") or {}).get("UserId")))
            if member is not None:
                existing[(member, name)] = str(item["MembershipId"])
    for name in directory.owned_users:
        label = f"{RESOURCE} user {name} memberships"
        member_id = {"UserId": directory.users[name]["UserId"]}
        listing = pages(
            label,
            ids,
            "ListGroupMembershipsForMember",
            "GroupMemberships",
            IdentityStoreId=store,
            MemberId=member_id,
        )
        for item in listing:
            group = group_names.get(str(item.get("GroupId")))
            if group is not None:
                existing[(name, group)] = str(item["MembershipId"])
    return existing


def _plan_memberships(directory: Directory, plan: Plan) -> None:
    """Memberships of owned groups and owned users; the desired ones come from `users[].groups`."""
    ids, store = directory.clients.identitystore, plan.context.store_id
    existing = _existing_memberships(directory, plan)
    for user in directory.spec.users:
        for group, line in zip(user.groups, user.group_lines, strict=True):
            key = directory.resolve(plan, "group", group, line)
            label = f"{RESOURCE} membership {user.user_name} in {group}"
            if key is None:
                continue
            if (user.user_name, group) in existing:
                plan.same(label)
                continue
            create = request(
                label,
                ids,
                "CreateGroupMembership",
                IdentityStoreId=store,
                GroupId=Ref(key),
                MemberId={"UserId": Ref(f"user:{user.user_name}")},
            )
            plan.add("create", label, "membership", create)
    wanted = {(u.user_name, g) for u in directory.spec.users for g in u.groups}
    for (user_name, group), membership in sorted(existing.items()):
        if (user_name, group) not in wanted:
            label = f"{RESOURCE} membership {user_name} in {group}"
            delete = request(
                label, ids, "DeleteGroupMembership", IdentityStoreId=store, MembershipId=membership
            )
            plan.add("delete", label, "membership-delete", delete)


def _foreign(spec: SetupSpec, kind: str, name: str, section: str) -> str:
    return (
        f"{kind} {name!r} already exists in the identity store and was not created by setup {spec.name!r}: "
        f"remove it from {section} (grants and assignments may still name it)"
    )
