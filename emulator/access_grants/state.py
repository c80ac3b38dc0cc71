"""The Access Grants instances, locations and grants an account holds, and the changes made to them."""

from __future__ import annotations

import re
from collections.abc import Callable

from emulator import tags
from emulator.access_grants.matching import PERMISSIONS
from emulator.access_grants.wire import invalid
from emulator.state import (
    AccessGrant,
    Credential,
    EmulatorState,
    GrantsInstance,
    GrantsLocation,
    new_access_key,
    new_id,
    new_secret,
)
from emulator.sts import session_token
from emulator.wire import AwsError

GRANTEE_TYPES = ("DIRECTORY_USER", "DIRECTORY_GROUP", "IAM")


class AccessGrantsStore:
    """Read and change the Access Grants part of the emulator's state (one instance per account)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # --- instance ---------------------------------------------------------------------------------

    def instance_arn(self, account: str) -> str:
        """Return the account's instance ARN (the default instance's when it has none)."""
        instance = self.state.grants_instances.get(account)
        return instance.arn if instance else f"arn:aws:s3:{self.state.region}:{account}:access-grants/default"

    def instance(self, account: str, region: str | None = None) -> GrantsInstance:
        """Return the account's instance; with ``region``, only if it lives there (one per region)."""
        instance = self.state.grants_instances.get(account)
        if instance is None or (region is not None and instance.region != region):
            raise AwsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
        return instance

    def create_instance(
        self, account: str, identity_center_arn: str | None, region: str | None = None
    ) -> GrantsInstance:
        """Create the account's `default` instance in ``region``."""
        with self.state.lock:
            if account in self.state.grants_instances:
                raise AwsError(
                    "AccessGrantsInstanceAlreadyExists", "Access Grants Instance already exists", 409
                )
            instance = GrantsInstance(
                account_id=account,
                arn=f"arn:aws:s3:{region or self.state.region}:{account}:access-grants/default",
                identity_center_arn=identity_center_arn,
                application_arn=_s3ag_application(account, identity_center_arn),
                created_at=self.state.now(),
            )
            self.state.grants_instances[account] = instance
            self.state.locations.setdefault(account, {})
            self.state.grants.setdefault(account, {})
        return instance

    def delete_instance(self, account: str) -> None:
        """Delete the account's instance: it must hold no location or grant and no Identity Center."""
        instance = self.instance(account)
        with self.state.lock:
            # docs/aws.md#access-grants-administration
            if self.state.locations.get(account) or self.state.grants.get(account):
                raise AwsError(
                    "AccessGrantsInstanceNotEmptyError",
                    "Please clean up locations before deleting the access grants instance.",
                    400,
                )
            if instance.identity_center_arn:
                raise invalid("Please dissociate the Identity Center instance before deleting the instance.")
            del self.state.grants_instances[account]
            tags.forget(self.state, instance.arn)

    def associate(self, account: str, identity_center_arn: str | None) -> None:
        """Tie the account's instance to the emulated Identity Center instance."""
        instance = self.instance(account)
        if not identity_center_arn:
            raise invalid("IdentityCenterArn is required")
        if identity_center_arn != self.state.identity_center.instance_arn:
            raise invalid("IdentityCenterArn does not name an Identity Center instance")
        with self.state.lock:
            instance.identity_center_arn = identity_center_arn
            instance.application_arn = _s3ag_application(account, identity_center_arn)

    def dissociate(self, account: str) -> None:
        """Untie the account's instance from Identity Center."""
        instance = self.instance(account)
        with self.state.lock:
            instance.identity_center_arn = None
            instance.application_arn = None

    def instance_for_prefix(self, prefix: str, region: str) -> GrantsInstance:
        """Return the instance of `region` registering the prefix's bucket (the bucket owner's first)."""
        if not prefix.startswith("s3://"):
            raise invalid("S3Prefix must start with s3://")
        bucket = prefix[5:].split("/", 1)[0]
        owner = self.state.bucket_owners.get(bucket, self.state.account_id)
        # Only instances of the region asked; the bucket owner's first, a bucket location before "s3://".
        ranked: list[tuple[bool, bool, GrantsInstance]] = []
        for instance in self.state.grants_instances.values():
            if instance.region != region:
                continue
            buckets = {
                loc.scope[5:].split("/", 1)[0]
                for loc in self.state.locations.get(instance.account_id, {}).values()
            }
            if bucket in buckets or "" in buckets:
                ranked.append((instance.account_id == owner, bucket in buckets, instance))
        if not ranked:
            raise AwsError(
                "AccessGrantsInstanceNotExistsError", "No Access Grants instance registers that prefix", 404
            )
        return max(ranked, key=lambda entry: entry[:2])[2]

    # --- locations --------------------------------------------------------------------------------

    def create_location(self, account: str, scope: str, iam_role_arn: str) -> GrantsLocation:
        """Register a location."""
        self.instance(account)
        if not scope.startswith("s3://"):
            raise invalid("LocationScope must start with s3://")
        if not re.fullmatch(r"arn:[^:]+:iam::\d{12}:role/.+", iam_role_arn):
            raise invalid("IAMRoleArn is invalid")
        location_id = "default" if scope == "s3://" else new_id()
        instance_arn = self.state.grants_instances[account].arn
        location = GrantsLocation(
            location_id, f"{instance_arn}/location/{location_id}", scope, iam_role_arn, self.state.now()
        )
        with self.state.lock:
            self.state.locations[account][location_id] = location
        return location

    def location(self, account: str, location_id: str | None) -> GrantsLocation:
        """Return a location of the account, or `AccessGrantsLocationNotFoundError`."""
        location = self.state.locations.get(account, {}).get(location_id or "")
        if location is None:
            raise AwsError("AccessGrantsLocationNotFoundError", "Access Grants Location does not exist", 404)
        return location

    def delete_location(self, account: str, location_id: str | None) -> None:
        """Delete a location that no grant uses."""
        location = self.location(account, location_id)
        with self.state.lock:
            if any(
                g.location_id == location.location_id for g in self.state.grants.get(account, {}).values()
            ):
                raise AwsError("AccessGrantsLocationNotEmptyError", "Access Grants Location has grants", 400)
            del self.state.locations[account][location.location_id]
            tags.forget(self.state, location.arn)

    def locations(self, account: str, scope: str | None) -> list[GrantsLocation]:
        """Return the account's locations, only those of `scope` when given."""
        self.instance(account)
        return [
            loc
            for loc in self.state.locations.get(account, {}).values()
            if scope is None or loc.scope == scope
        ]

    # --- grants -----------------------------------------------------------------------------------

    def create_grant(
        self,
        account: str,
        location_id: str,
        *,
        sub_prefix: str | None,
        grantee_type: str,
        grantee_identifier: str,
        permission: str,
        application_arn: str | None = None,
        s3_prefix_type: str | None = None,
    ) -> AccessGrant:
        """Create a grant on a location; its scope is the location's scope joined with the sub-prefix."""
        location = self.location(account, location_id)
        if grantee_type not in GRANTEE_TYPES or not grantee_identifier:
            raise invalid("Grantee is invalid")
        if permission not in PERMISSIONS:
            raise invalid("Permission must be READ, WRITE or READWRITE")
        if location.scope == "s3://":
            if not sub_prefix:
                raise invalid("A sub-prefix is required on the default location")
            scope = "s3://" + sub_prefix.lstrip("/")
        elif sub_prefix:
            scope = location.scope.rstrip("/") + "/" + sub_prefix.lstrip("/")
        else:
            scope = location.scope.rstrip("/") + "/*"
        instance = self.instance(account)
        if grantee_type != "IAM" and not instance.identity_center_arn:
            raise invalid("Directory grantees need an Identity Center instance associated with the instance")
        wanted = (grantee_type, grantee_identifier, permission, application_arn, scope)
        if any(
            (g.grantee_type, g.grantee_identifier, g.permission, g.application_arn, g.scope) == wanted
            for g in self.state.grants.get(account, {}).values()
        ):
            raise AwsError("AccessGrantAlreadyExists", "The specified access grant already exists.", 409)
        grant_id = new_id()
        grant = AccessGrant(
            grant_id=grant_id,
            arn=f"{instance.arn}/grant/{grant_id}",
            location_id=location.location_id,
            sub_prefix=sub_prefix,
            grantee_type=grantee_type,
            grantee_identifier=grantee_identifier,
            permission=permission,
            application_arn=application_arn,
            s3_prefix_type=s3_prefix_type,
            scope=scope,
            created_at=self.state.now(),
        )
        with self.state.lock:
            self.state.grants[account][grant_id] = grant
        return grant

    def grant(self, account: str, grant_id: str | None) -> AccessGrant:
        """Return a grant of the account, or `AccessGrantNotFoundError`."""
        grant = self.state.grants.get(account, {}).get(grant_id or "")
        if grant is None:
            raise AwsError("AccessGrantNotFoundError", "Access Grant does not exist", 404)
        return grant

    def grants(self, account: str) -> list[AccessGrant]:
        """Return the account's grants."""
        return list(self.state.grants.get(account, {}).values())

    def filtered_grants(self, account: str, arg: Callable[[str], str | None]) -> list[AccessGrant]:
        """Return the grants ListAccessGrants lists: those equal to every filter `arg(name)` gives."""
        self.instance(account)
        filters: dict[str, Callable[[AccessGrant], str | None]] = {
            "granteetype": lambda g: g.grantee_type,
            "granteeidentifier": lambda g: g.grantee_identifier,
            "permission": lambda g: g.permission,
            "grantscope": lambda g: g.scope,
            "application_arn": lambda g: g.application_arn,
        }
        return [
            g
            for g in self.grants(account)
            if all(arg(name) is None or get(g) == arg(name) for name, get in filters.items())
        ]

    def delete_grant(self, account: str, grant_id: str | None) -> None:
        """Delete a grant."""
        grant = self.grant(account, grant_id)
        with self.state.lock:
            del self.state.grants[account][grant.grant_id]
            tags.forget(self.state, grant.arn)

    # --- data access ------------------------------------------------------------------------------

    def vend(
        self,
        account: str,
        caller: Credential,
        grant: AccessGrant,
        *,
        scope: str,
        permission: str,
        duration: int,
        directory_user: bool,
    ) -> Credential:
        """Register the temporary credentials of the grant's location role, limited to `scope`."""
        location = self.location(account, grant.location_id)
        role_name = location.iam_role_arn.rsplit("/", 1)[-1]
        session = f"access-grants-{new_id()[:8]}"
        return self.state.register(
            Credential(
                access_key=new_access_key("ASIA"),
                secret_key=new_secret(),
                kind="vended",
                arn=f"arn:aws:sts::{location.iam_role_arn.split(':')[4]}:assumed-role/{role_name}/{session}",
                user_id=f"AROA{new_access_key('')[:17]}:{session}",
                account_id=location.iam_role_arn.split(":")[4],
                session_token=session_token(),
                expires_at=self.state.now() + duration,
                role_arn=location.iam_role_arn,
                session_name=session,
                identity=caller.identity if directory_user else None,
                scope=scope,
                permission=permission,
                grantee={"GranteeType": grant.grantee_type, "GranteeIdentifier": grant.grantee_identifier},
            )
        )


def _s3ag_application(account: str, identity_center_arn: str | None) -> str | None:
    if not identity_center_arn:
        return None
    instance_id = identity_center_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sso::{account}:application/{instance_id}/apl-{new_id().replace('-', '')[:16]}"
