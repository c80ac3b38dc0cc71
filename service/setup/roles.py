"""The IAM roles of a setup: the identity-bearer role and the Access Grants location role.

Each role carries the ownership tag and names its setup in its description, so one ListRoles finds the
candidates; its inline policies belong to it (a policy the file does not name is removed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.setup import policies
from service.setup.aws import AwsCallError, Clients, absent, call, pages, tags_of
from service.setup.model import TAG_KEY, SetupSpec
from service.setup.plan import Context, Plan, Request, Steps, Verb, creating, request

BEARER_POLICY = "tip-broker-access-grants"
LOCATION_POLICY = "tip-broker-s3-data"


@dataclass(frozen=True)
class RoleWanted:
    """A role as the file asks for it."""

    name: str
    trust: dict[str, Any]
    policies: dict[str, dict[str, Any]]
    max_session_duration: int
    description: str
    line: int


def wanted_roles(spec: SetupSpec, ctx: Context) -> list[RoleWanted]:
    """Return the roles the file asks for, with their documents filled in for this account."""
    roles = []
    if spec.bearer_role is not None:
        role = spec.bearer_role
        resources = role.access_grants_instances or (ctx.grants_instance_arn,)
        roles.append(
            RoleWanted(
                role.name,
                policies.bearer_trust(role.principals, ctx.instance_arn),
                {BEARER_POLICY: policies.bearer_policy(resources)},
                role.max_session_duration,
                f"tip-broker setup {spec.name}: identity-bearer role",
                role.line,
            )
        )
    if spec.access_grants is not None:
        ag = spec.access_grants
        document = ag.location_policy or policies.location_policy(
            ag.locations, ctx.account, ctx.grants_instance_arn
        )
        roles.append(
            RoleWanted(
                ag.location_role,
                policies.location_trust(ctx.account),
                {LOCATION_POLICY: document},
                3600,
                f"tip-broker setup {spec.name}: S3 Access Grants location role",
                ag.line,
            )
        )
    return roles


def plan_roles(
    clients: Clients, spec: SetupSpec, plan: Plan, kept_roles: frozenset[str] = frozenset()
) -> None:
    """Plan the file's roles and delete this setup's other roles (except ``kept_roles``, still in use)."""
    iam, ctx = clients.iam, plan.context
    wanted = {role.name: role for role in wanted_roles(spec, ctx)}
    owned: set[str] = set()
    for listed in pages("IAM roles", iam, "ListRoles", "Roles"):
        name = str(listed["RoleName"])
        if name not in wanted and f"tip-broker setup {spec.name}:" not in str(
            listed.get("Description") or ""
        ):
            continue
        tags = tags_of(call(f"IAM role {name}", iam, "ListRoleTags", RoleName=name))
        if tags.get(TAG_KEY) == spec.name:
            owned.add(name)
            ctx[f"role:{name}"] = str(listed["Arn"])
        elif name in wanted:
            plan.problem(
                wanted[name].line,
                f"IAM role {name!r} exists and was not created by setup {spec.name!r}: choose another name",
            )
    for name, role in wanted.items():
        label = f"IAM role {name}"
        ctx.ids.setdefault(f"role:{name}", f"arn:aws:iam::{ctx.account}:role/{name}")
        if name in owned:
            _plan_existing(iam, plan, role, label)
            continue
        create = creating(
            f"role:{name}",
            "Role.Arn",
            label,
            iam,
            "CreateRole",
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(role.trust),
            Description=role.description,
            MaxSessionDuration=role.max_session_duration,
            Tags=[spec.tag],
        )
        plan.add("create", label, "role", create)
        for policy_name in role.policies:
            plan.add(
                "create", f"{label} policy {policy_name}", "role-policy", _put_policy(iam, role, policy_name)
            )
    for name in sorted(owned - set(wanted)):
        label = f"IAM role {name}"
        if name in kept_roles:
            plan.keep(label, "a location kept for grants this setup does not own still uses it")
        else:
            plan.add("delete", label, "role-delete", _DeleteRole(iam, name, label))


def _plan_existing(iam: Any, plan: Plan, role: RoleWanted, label: str) -> None:
    found = call(label, iam, "GetRole", RoleName=role.name)["Role"]
    differences = []
    if not policies.same(found.get("AssumeRolePolicyDocument") or {}, role.trust):
        differences.append("trust policy")
    if int(found.get("MaxSessionDuration") or 3600) != role.max_session_duration:
        differences.append("max_session_duration")
    if (found.get("Description") or "") != role.description:
        differences.append("description")
    if differences:
        update = Steps(
            (
                request(
                    label,
                    iam,
                    "UpdateAssumeRolePolicy",
                    RoleName=role.name,
                    PolicyDocument=json.dumps(role.trust),
                ),
                request(
                    label,
                    iam,
                    "UpdateRole",
                    RoleName=role.name,
                    Description=role.description,
                    MaxSessionDuration=role.max_session_duration,
                ),
            )
        )
        plan.add("update", label, "role", update, ", ".join(differences))
    else:
        plan.same(label)
    names = {str(n) for n in pages(label, iam, "ListRolePolicies", "PolicyNames", RoleName=role.name)}
    for policy_name, document in role.policies.items():
        policy_label = f"{label} policy {policy_name}"
        if policy_name in names:
            current = call(label, iam, "GetRolePolicy", RoleName=role.name, PolicyName=policy_name)
            if policies.same(current.get("PolicyDocument") or {}, document):
                plan.same(policy_label)
                continue
        verb: Verb = "update" if policy_name in names else "create"
        plan.add(verb, policy_label, "role-policy", _put_policy(iam, role, policy_name))
    for extra in sorted(names - set(role.policies)):
        delete = request(label, iam, "DeleteRolePolicy", RoleName=role.name, PolicyName=extra)
        plan.add("delete", f"{label} policy {extra}", "role-policy", delete)


def _put_policy(iam: Any, role: RoleWanted, policy_name: str) -> Request:
    document = json.dumps(role.policies[policy_name])
    label = f"IAM role {role.name} policy {policy_name}"
    return request(
        label, iam, "PutRolePolicy", RoleName=role.name, PolicyName=policy_name, PolicyDocument=document
    )


class _DeleteRole:
    """Delete a role after what IAM requires gone first (inline and attached policies); gone is done."""

    def __init__(self, iam: Any, name: str, label: str) -> None:
        self.iam, self.name, self.label = iam, name, label

    def __call__(self, _: Context) -> None:
        iam, name, label = self.iam, self.name, self.label
        try:
            for policy_name in list(pages(label, iam, "ListRolePolicies", "PolicyNames", RoleName=name)):
                call(label, iam, "DeleteRolePolicy", RoleName=name, PolicyName=policy_name)
            for attached in list(
                pages(label, iam, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name)
            ):
                call(label, iam, "DetachRolePolicy", RoleName=name, PolicyArn=attached["PolicyArn"])
            call(label, iam, "DeleteRole", RoleName=name)
        except AwsCallError as exc:
            if not absent(exc):
                raise
