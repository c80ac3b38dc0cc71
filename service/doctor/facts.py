"""What the doctor reads from AWS, read once per run and shared by the checks that need it.

Each accessor returns the answer or raises what ``service.doctor.aws.read`` raises (CannotVerifyError,
NotFoundError); the first answer or error is remembered, so a refused read is asked once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

from service.doctor.aws import DoctorClients, NotFoundError, pages, read
from service.doctor.model import CannotVerifyError
from service.settings import Settings

T = TypeVar("T")

JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_TOKEN_GRANT: Final = "refresh_token"  # noqa: S105 - a grant type name
CUSTOM_PROVIDER: Final = "arn:aws:sso::aws:applicationProvider/custom"


def role_name(role_arn: str) -> str:
    """Return the role name of a role ARN (the part after the last '/', paths dropped)."""
    return role_arn.rsplit("/", 1)[-1]


def role_of_session(arn: str) -> str:
    """Return the role ARN behind an assumed-role session ARN; any other ARN unchanged."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        name = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{name}"
    return arn


class Facts:
    """Memoized AWS reads for one doctor run."""

    def __init__(self, settings: Settings, clients: DoctorClients) -> None:
        self.settings = settings
        self.clients = clients
        self._memo: dict[tuple[str, ...], object] = {}

    def _once(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        if key in self._memo:
            found = self._memo[key]
            if isinstance(found, CannotVerifyError | NotFoundError):
                raise found
            return found  # type: ignore[return-value]
        try:
            value = load()
        except (CannotVerifyError, NotFoundError) as error:
            self._memo[key] = error
            raise
        self._memo[key] = value
        return value

    # -- the broker's own identity ------------------------------------------------------------------------

    def caller_arn(self) -> str:
        """Return the broker's identity ARN (sts GetCallerIdentity)."""
        return self._once(
            ("caller",),
            lambda: str(read("sts:GetCallerIdentity", self.clients.sts.get_caller_identity)["Arn"]),
        )

    def broker_principals(self) -> frozenset[str]:
        """Return every name a policy may know the broker by: its ARN, its role's ARN, its account."""
        arn = self.caller_arn()
        account = arn.split(":")[4]
        role = role_of_session(arn)
        if role != arn:
            # A role with a path: only GetRole knows the ARN a policy names.
            with contextlib.suppress(CannotVerifyError, NotFoundError):
                role = str(self.role(role_name(role))["Arn"])
        return frozenset({arn, role, account, f"arn:aws:iam::{account}:root"})

    # -- Identity Center --------------------------------------------------------------------------------

    def application(self, arn: str) -> dict[str, Any]:
        """Return sso-admin DescribeApplication."""
        return self._once(
            ("application", arn),
            lambda: read(
                "sso:DescribeApplication", self.clients.sso_admin.describe_application, ApplicationArn=arn
            ),
        )

    def grant(self, arn: str, grant_type: str) -> dict[str, Any]:
        """Return the application's grant of ``grant_type`` (GetApplicationGrant's ``Grant``)."""

        def load() -> dict[str, Any]:
            answer = read(
                "sso:GetApplicationGrant",
                self.clients.sso_admin.get_application_grant,
                ApplicationArn=arn,
                GrantType=grant_type,
            )
            return dict(answer.get("Grant") or {})

        return self._once(("grant", arn, grant_type), load)

    def trusted_token_issuer(self, arn: str) -> dict[str, Any]:
        """Return DescribeTrustedTokenIssuer."""
        return self._once(
            ("tti", arn),
            lambda: read(
                "sso:DescribeTrustedTokenIssuer",
                self.clients.sso_admin.describe_trusted_token_issuer,
                TrustedTokenIssuerArn=arn,
            ),
        )

    def access_scopes(self, arn: str) -> list[str]:
        """Return the application's access scope names."""
        return self._once(
            ("scopes", arn),
            lambda: [
                str(item.get("Scope"))
                for item in pages(
                    "sso:ListApplicationAccessScopes",
                    self.clients.sso_admin.list_application_access_scopes,
                    "Scopes",
                    ApplicationArn=arn,
                )
            ],
        )

    def actor_policy(self, arn: str) -> object:
        """Return the application's IAM authentication method's ActorPolicy document."""

        def load() -> object:
            answer = read(
                "sso:GetApplicationAuthenticationMethod",
                self.clients.sso_admin.get_application_authentication_method,
                ApplicationArn=arn,
                AuthenticationMethodType="IAM",
            )
            return (answer.get("AuthenticationMethod") or {}).get("Iam", {}).get("ActorPolicy")

        return self._once(("actor", arn), load)

    def assignment_required(self, arn: str) -> bool:
        """Return whether the application requires an assignment."""
        return self._once(
            ("assignment-config", arn),
            lambda: bool(
                read(
                    "sso:GetApplicationAssignmentConfiguration",
                    self.clients.sso_admin.get_application_assignment_configuration,
                    ApplicationArn=arn,
                ).get("AssignmentRequired")
            ),
        )

    def assignments(self, arn: str) -> list[dict[str, Any]]:
        """Return the application's assignments (principal id and type)."""
        return self._once(
            ("assignments", arn),
            lambda: pages(
                "sso:ListApplicationAssignments",
                self.clients.sso_admin.list_application_assignments,
                "ApplicationAssignments",
                ApplicationArn=arn,
            ),
        )

    # -- IAM ------------------------------------------------------------------------------------------------

    def role(self, name: str) -> dict[str, Any]:
        """Return iam GetRole's ``Role``."""
        return self._once(
            ("role", name),
            lambda: dict(read("iam:GetRole", self.clients.iam.get_role, RoleName=name)["Role"]),
        )

    def role_policies(self, name: str) -> list[object]:
        """Return every identity policy document of a role: inline, then attached (default versions)."""

        def load() -> list[object]:
            iam = self.clients.iam
            documents: list[object] = []
            for policy in _iam_pages(
                "iam:ListRolePolicies", iam.list_role_policies, "PolicyNames", RoleName=name
            ):
                answer = read("iam:GetRolePolicy", iam.get_role_policy, RoleName=name, PolicyName=policy)
                documents.append(answer["PolicyDocument"])
            attached = _iam_pages(
                "iam:ListAttachedRolePolicies",
                iam.list_attached_role_policies,
                "AttachedPolicies",
                RoleName=name,
            )
            for policy in attached:
                arn = policy["PolicyArn"]
                version = read("iam:GetPolicy", iam.get_policy, PolicyArn=arn)["Policy"]["DefaultVersionId"]
                answer = read(
                    "iam:GetPolicyVersion", iam.get_policy_version, PolicyArn=arn, VersionId=version
                )
                documents.append(answer["PolicyVersion"]["Document"])
            return documents

        return self._once(("role-policies", name), load)

    # -- S3 Access Grants -----------------------------------------------------------------------------------

    def grants_instance(self, account: str, region: str) -> dict[str, Any]:
        """Return s3control GetAccessGrantsInstance of ``account`` in ``region``."""
        return self._once(
            ("instance", account, region),
            lambda: read(
                "s3:GetAccessGrantsInstance",
                self.clients.s3control(region).get_access_grants_instance,
                AccountId=account,
            ),
        )

    def locations(self, account: str, region: str) -> list[dict[str, Any]]:
        """Return the instance's registered locations."""
        return self._once(
            ("locations", account, region),
            lambda: pages(
                "s3:ListAccessGrantsLocations",
                self.clients.s3control(region).list_access_grants_locations,
                "AccessGrantsLocationsList",
                AccountId=account,
            ),
        )


def _iam_pages(permission: str, call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[Any]:
    """Return every item of an IAM list (Marker / IsTruncated pagination)."""
    items: list[Any] = []
    marker: str | None = None
    for _ in range(50):
        answer = read(permission, call, **kwargs, **({"Marker": marker} if marker else {}))
        items.extend(answer.get(key) or [])
        marker = answer.get("Marker") if answer.get("IsTruncated") else None
        if not marker:
            break
    return items
