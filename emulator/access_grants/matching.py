"""Which grant answers a GetDataAccess or ListCallerAccessGrants call (docs/aws.md#grant-matching)."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.directory import group_ids_of
from emulator.identity_center import s3_permissions_allowed
from emulator.state import AccessGrant, Credential, EmulatorState, GrantsInstance
from emulator.wire import AwsError

PERMISSIONS = ("READ", "WRITE", "READWRITE")


def covers(scope: str, target: str) -> bool:
    """Return True when every key the target names is a key the scope names.

    A trailing `*` names every key starting with the text before it; anything else names one object.
    So `s3://b/p/*` covers `s3://b/p/*` and `s3://b/p/x` but not `s3://b/p` nor `s3://b/p*`.
    """
    if not scope.endswith("*"):
        return target == scope
    return target.removesuffix("*").startswith(scope[:-1])


def has_dot_segment(target: str) -> bool:
    """Return True when the target's key has a `.` or `..` segment (refused: URLs would normalise it)."""
    key = target[len("s3://") :].partition("/")[2].removesuffix("*")
    return any(segment in {".", ".."} for segment in key.split("/"))


def specificity(scope: str) -> int:
    """Rank grant scopes: a longer fixed prefix is more specific."""
    return len(scope.rstrip("*"))


def permission_ok(granted: str, requested: str) -> bool:
    """READWRITE grants satisfy READ and WRITE requests."""
    return granted in (requested, "READWRITE")


@dataclass(frozen=True)
class CallerIdentities:
    """The grantee identities GetDataAccess considers for one caller (docs/aws.md#grant-matching)."""

    iam_arn: str
    user_id: str | None
    group_ids: frozenset[str]
    application_arn: str | None

    def holds(self, grant: AccessGrant) -> bool:
        """Return True when the grant's grantee is one of the caller's identities."""
        if grant.grantee_type == "IAM":
            return grant.grantee_identifier == self.iam_arn
        if grant.grantee_type == "DIRECTORY_USER":
            return grant.grantee_identifier == self.user_id
        return grant.grantee_type == "DIRECTORY_GROUP" and grant.grantee_identifier in self.group_ids

    def authorized_for_application(self, grant: AccessGrant) -> bool:
        """AllowedByApplication: only grants tied to the caller's application or to `ALL` applications.

        A grant with no application (`NA`) is not "authorized for the application", so it is left out.
        """
        return grant.application_arn == "ALL" or (
            self.application_arn is not None and grant.application_arn == self.application_arn
        )

    def application_allows(self, grant: AccessGrant) -> bool:
        """A grant restricted to an application can only be used through that application."""
        if grant.application_arn in (None, "", "NA", "ALL"):
            return True
        return grant.application_arn == self.application_arn


def caller_identities(state: EmulatorState, caller: Credential, instance: GrantsInstance) -> CallerIdentities:
    """Return the caller's IAM, directory-user and group identities as the instance sees them."""
    ctx = caller.identity
    directory = ctx is not None and instance.identity_center_arn == ctx.instance_arn
    user_id = ctx.user_id if directory and ctx is not None else None
    return CallerIdentities(
        iam_arn=caller.role_arn or caller.arn,
        user_id=user_id,
        group_ids=frozenset(group_ids_of(state, user_id)) if user_id else frozenset(),
        application_arn=ctx.application_arn if ctx is not None else None,
    )


def check_access_scope(caller: Credential, permission: str) -> None:
    """An identity-enhanced session acts within its application's access scopes.

    `s3:access_grants:read_write` allows every permission, `s3:access_grants:read_only` only READ, and a
    session whose application has neither may not use S3 Access Grants at all.
    """
    ctx = caller.identity
    if ctx is None:
        return
    if permission not in s3_permissions_allowed(ctx.scopes):
        raise AwsError(
            "AccessDenied",
            f"The application's access scopes do not allow {permission} through S3 Access Grants",
            403,
        )


def best_grant(
    grants: list[AccessGrant], ids: CallerIdentities, permission: str, target: str
) -> AccessGrant | None:
    """Return the grant GetDataAccess uses for `target`, or None when none applies.

    The most specific matching directory grant and the most specific matching IAM grant are found
    apart; the more specific of the two wins, the directory grant on a tie.
    """
    candidates = [
        g
        for g in grants
        if ids.holds(g)
        and ids.application_allows(g)
        and permission_ok(g.permission, permission)
        and covers(g.scope, target)
    ]
    directory = [g for g in candidates if g.grantee_type != "IAM"]
    iam = [g for g in candidates if g.grantee_type == "IAM"]
    best = [max(group, key=lambda g: specificity(g.scope)) for group in (directory, iam) if group]
    if not best:
        return None
    return max(best, key=lambda g: specificity(g.scope))


def caller_grants(
    grants: list[AccessGrant], ids: CallerIdentities, fragment: str | None, *, by_application: bool
) -> list[AccessGrant]:
    """Return the grants ListCallerAccessGrants lists: the caller's, optionally narrowed."""
    return [
        g
        for g in grants
        if ids.holds(g)
        and (fragment is None or g.scope.startswith(fragment) or covers(g.scope, fragment))
        and (not by_application or ids.authorized_for_application(g))
    ]
